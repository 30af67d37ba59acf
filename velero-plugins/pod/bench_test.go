package pod

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

// benchPod is a realistic backed-up pod: three containers on internal images, generated and user
// pull secrets, a PVC, a config map and a projected token volume, node pinning and source facts.
const benchPod = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": "web-5d8f7c9b4-x2x7q",
    "namespace": "app",
    "labels": {"app": "web", "pod-template-hash": "5d8f7c9b4", "tier": "frontend"},
    "annotations": {
      "backup.velero.io/backup-volumes": "data",
      "openshift.io/scc": "restricted-v2",
      "openshift.io/backup-registry-hostname": "image-registry.openshift-image-registry.svc:5000",
      "openshift.io/backup-server-version": "1.27",
      "openshift.io/backup-openshift-version": "4.14.2"
    },
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b4", "uid": "0f6b", "controller": true, "blockOwnerDeletion": true}]
  },
  "spec": {
    "nodeName": "ip-10-0-1-7.ec2.internal",
    "nodeSelector": {"kubernetes.io/hostname": "ip-10-0-1-7.ec2.internal", "node-role.kubernetes.io/worker": ""},
    "serviceAccountName": "default",
    "imagePullSecrets": [{"name": "default-dockercfg-7xk2p"}, {"name": "quay-pull"}],
    "initContainers": [
      {"name": "migrate", "image": "image-registry.openshift-image-registry.svc:5000/app/web-migrate:v12",
       "command": ["/bin/migrate", "--up"], "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    ],
    "containers": [
      {"name": "web", "image": "image-registry.openshift-image-registry.svc:5000/app/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       "ports": [{"containerPort": 8080, "protocol": "TCP"}],
       "env": [{"name": "MODE", "value": "production"}, {"name": "DB_HOST", "value": "db.app.svc"}],
       "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
       "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/etc/web"}]},
      {"name": "sidecar", "image": "image-registry.openshift-image-registry.svc:5000/openshift/cli:latest",
       "args": ["sleep", "infinity"]},
      {"name": "proxy", "image": "quay.io/example/oauth-proxy:v4.4",
       "ports": [{"containerPort": 8443, "protocol": "TCP"}]}
    ],
    "volumes": [
      {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
      {"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
      {"name": "kube-api-access-4x9bz", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}
    ],
    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
    "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
  },
  "status": {"phase": "Running", "podIP": "10.128.2.15"}
}`

func decodePod(tb testing.TB, data string) *unstructured.Unstructured {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		tb.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// BenchmarkRestoreExecute measures one pod through the guarded action as Velero calls it; the
// destination's answers (nodes, pull secret) are cached after the first iteration, as in a restore.
func BenchmarkRestoreExecute(b *testing.B) {
	f := newFixture(destination([]string{"app"}, "n1"), actiontest.PodVolumeBackups())
	out := actiontest.BenchmarkRestore(b, f.reg, f.env, decodePod(b, benchPod), actiontest.Restore(nil))
	got, _ := action.Object(out.UpdatedItem)
	if img := got.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"].(string); !strings.HasPrefix(img, actiontest.DestinationRegistry) {
		b.Fatalf("benchmark pod not rewritten: %s", img)
	}
}

// BenchmarkJSONRoundTrip is the yardstick: Velero's own decode + encode of the same pod.
func BenchmarkJSONRoundTrip(b *testing.B) {
	actiontest.BenchmarkJSONRoundTrip(b, decodePod(b, benchPod).Object)
}

// FuzzExecute feeds arbitrary JSON objects as pods: any outcome but a panic is acceptable.
func FuzzExecute(f *testing.F) {
	f.Add([]byte(benchPod))
	f.Add([]byte(`{"metadata":{"ownerReferences":[{"kind":"ReplicationController","controller":true}],"labels":{"deploymentconfig":"x"},"annotations":{"backup.velero.io/backup-volumes":"d"}}}`))
	f.Add([]byte(`{"spec":{"nodeSelector":{"kubernetes.io/hostname":""},"nodeName":"n1","imagePullSecrets":[{"name":"builder-dockercfg-abcde"}]}}`))
	f.Add([]byte(`{"metadata":{"labels":7,"ownerReferences":{}},"spec":[]}`))
	f.Add([]byte(`{"metadata":"x","spec":{"containers":[{"image":null},{"image":["a"]}]}}`))
	kube := destination([]string{"app"}, "n1")
	fx := newFixture(kube, actiontest.PodVolumeBackups(actiontest.PodVolumeBackup("app", "web", "data", "snap")))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "v1", "Pod")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, fx.reg, fx.env, item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

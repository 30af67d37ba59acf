package deploymentconfig

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

// benchDC is a realistic backed-up DeploymentConfig: three containers on internal images, image
// change triggers across namespaces, volumes, and the annotations the backup actions record.
const benchDC = `{
  "apiVersion": "apps.openshift.io/v1",
  "kind": "DeploymentConfig",
  "metadata": {
    "name": "web",
    "namespace": "app",
    "labels": {"app": "web"},
    "annotations": {
      "openshift.io/generated-by": "OpenShiftNewApp",
      "openshift.io/backup-registry-hostname": "image-registry.openshift-image-registry.svc:5000",
      "openshift.io/backup-server-version": "1.27",
      "openshift.io/backup-openshift-version": "4.14.2",
      "openshift.io/dc-pods-volume-backups": "true",
      "openshift.io/dc-pods-restore-hooks": "false",
      "openshift.io/dc-pod-labels": "{\"app\":\"web\",\"deployment\":\"web-7\",\"deploymentconfig\":\"web\"}"
    }
  },
  "spec": {
    "replicas": 3,
    "revisionHistoryLimit": 10,
    "selector": {"deploymentconfig": "web"},
    "strategy": {"type": "Rolling", "rollingParams": {"maxSurge": "25%", "maxUnavailable": "25%", "timeoutSeconds": 600}},
    "template": {
      "metadata": {"labels": {"app": "web", "deploymentconfig": "web"}},
      "spec": {
        "initContainers": [{"name": "migrate", "image": "image-registry.openshift-image-registry.svc:5000/app/web-migrate:v12"}],
        "containers": [
          {"name": "web", "image": "image-registry.openshift-image-registry.svc:5000/app/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
           "ports": [{"containerPort": 8080, "protocol": "TCP"}],
           "env": [{"name": "MODE", "value": "production"}],
           "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
          {"name": "sidecar", "image": "image-registry.openshift-image-registry.svc:5000/openshift/cli:latest"},
          {"name": "proxy", "image": "quay.io/example/oauth-proxy:v4.4"}
        ],
        "volumes": [
          {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
          {"name": "config", "configMap": {"name": "web-config"}}
        ]
      }
    },
    "triggers": [
      {"type": "ConfigChange"},
      {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["web"],
        "from": {"kind": "ImageStreamTag", "namespace": "shared", "name": "web:latest"},
        "lastTriggeredImage": "image-registry.openshift-image-registry.svc:5000/shared/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
      {"type": "ImageChange", "imageChangeParams": {"automatic": true, "containerNames": ["sidecar"],
        "from": {"kind": "ImageStreamTag", "namespace": "openshift", "name": "cli:latest"}}}
    ]
  },
  "status": {"latestVersion": 7, "replicas": 3, "availableReplicas": 3}
}`

func decode(tb testing.TB, data string) *unstructured.Unstructured {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		tb.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// BenchmarkRestoreExecute measures one DC through the guarded restore action as Velero calls it.
func BenchmarkRestoreExecute(b *testing.B) {
	restore := actiontest.Restore(map[string]string{"app": "app-copy", "shared": "shared-copy"})
	reg := restoreRegWith(actiontest.PodVolumeBackup("other", "db-1-q8zrt", "data", "snap-1"), actiontest.PodVolumeBackup("app", "web-7-x7k2p", "data", "snap-2"))
	out := actiontest.BenchmarkRestore(b, reg, actiontest.Env(), decode(b, benchDC), restore)
	got, _ := action.Object(out.UpdatedItem)
	if got.Object["spec"].(map[string]any)["replicas"] != int64(0) {
		b.Fatal("benchmark DC not scaled down")
	}
}

// BenchmarkJSONRoundTrip is the yardstick: Velero's own decode + encode of the same DC.
func BenchmarkJSONRoundTrip(b *testing.B) {
	actiontest.BenchmarkJSONRoundTrip(b, decode(b, benchDC).Object)
}

// FuzzExecute feeds arbitrary JSON objects as DeploymentConfigs: any outcome but a panic is fine.
func FuzzExecute(f *testing.F) {
	f.Add([]byte(benchDC))
	f.Add([]byte(`{"metadata":{"annotations":{"openshift.io/dc-pod-labels":"{\"a\":1}"}},"spec":{"replicas":1e30,"triggers":[{"imageChangeParams":{"from":{"namespace":null}}}]}}`))
	f.Add([]byte(`{"metadata":{"labels":[],"annotations":{"openshift.io/dc-pods-volume-backups":"true"}},"spec":{"replicas":2,"paused":"x"}}`))
	f.Add([]byte(`{"metadata":"x","spec":{"template":{"spec":{"containers":{}}},"triggers":[null,3]}}`))
	reg := restoreReg()
	env := actiontest.Env()
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "apps.openshift.io/v1", "DeploymentConfig")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, reg, env, item, hookRestore(map[string]string{"app": "b"}, "", nil))
		actiontest.NoPanic(t, data, err)
	})
}

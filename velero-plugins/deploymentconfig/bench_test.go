package deploymentconfig

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
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
      "openshift.io/backup-server-version": "4.14.2",
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
	w, err := action.Wrap(restoreReg(), actiontest.Env())
	if err != nil {
		b.Fatal(err)
	}
	g := w.(*action.GuardedRestore)
	restore := actiontest.Restore(map[string]string{"app": "app-copy", "shared": "shared-copy"})
	proto := decode(b, benchDC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in := &velero.RestoreItemActionExecuteInput{Item: proto.DeepCopy(), ItemFromBackup: proto.DeepCopy(), Restore: restore}
		b.StartTimer()
		out, err := g.Execute(in)
		if err != nil || out.SkipRestore {
			b.Fatalf("Execute: %v", err)
		}
	}
	b.StopTimer()
	out, _ := g.Execute(&velero.RestoreItemActionExecuteInput{Item: proto.DeepCopy(), ItemFromBackup: proto, Restore: restore})
	got, _ := action.Object(out.UpdatedItem)
	if got.Object["spec"].(map[string]any)["replicas"] != int64(0) {
		b.Fatal("benchmark DC not scaled down")
	}
}

// BenchmarkJSONRoundTrip is the decode + encode Velero performs per item anyway.
func BenchmarkJSONRoundTrip(b *testing.B) {
	data := []byte(benchDC)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
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
		var m map[string]any
		if json.Unmarshal(data, &m) != nil || m == nil {
			return
		}
		m["kind"] = "DeploymentConfig"
		m["apiVersion"] = "apps.openshift.io/v1"
		_, err := actiontest.RunRestore(t, reg, env, &unstructured.Unstructured{Object: m}, hookRestore(map[string]string{"app": "b"}, "", nil))
		if err != nil && strings.Contains(err.Error(), "recovered panic") {
			t.Fatalf("panic on %s: %v", data, err)
		}
	})
}

package migratedby

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// benchItem is a typical small restored item: most items a restore touches are ConfigMaps,
// Secrets, Services and the like, and this action runs on every one of them.
const benchItem = `{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {
    "name": "web-config",
    "namespace": "app",
    "labels": {"app": "web", "tier": "frontend", "migration-included-stage-backup": "mig-uid"},
    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}"}
  },
  "data": {
    "app.properties": "mode=production\nthreads=8\ncache.size=512m\n",
    "log.level": "info"
  }
}`

func decode(tb testing.TB) *unstructured.Unstructured {
	var m map[string]any
	if err := json.Unmarshal([]byte(benchItem), &m); err != nil {
		tb.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// BenchmarkExecute measures one item through the guarded action as Velero calls it.
func BenchmarkExecute(b *testing.B) {
	out := actiontest.BenchmarkRestore(b, Registrations()[0], actiontest.Env(), decode(b), migrationRestore("r1", both))
	got, _ := action.Object(out.UpdatedItem)
	if got.GetLabels()[migration.MigratedByPlanLabel] != planUID {
		b.Fatalf("benchmark item not labelled: %v", got.GetLabels())
	}
}

// BenchmarkJSONRoundTrip is the yardstick: Velero's own decode + encode of the same item.
func BenchmarkJSONRoundTrip(b *testing.B) {
	actiontest.BenchmarkJSONRoundTrip(b, decode(b).Object)
}

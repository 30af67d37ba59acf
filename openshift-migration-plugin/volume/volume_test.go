package volume

import (
	"reflect"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

const migrationUID = "mig-uid"

// marked returns the labels and annotations a migration controller puts on a Backup or Restore
// of the given type and phase (both may be empty; migrating false: not a migration at all).
func marked(meta *metav1.ObjectMeta, migrating bool, typ migration.Type, phase migration.Phase) {
	meta.Labels, meta.Annotations = map[string]string{}, map[string]string{}
	if migrating {
		meta.Labels[migration.PartOfLabel] = migration.PartOfValue
		meta.Labels[migration.MigratedByMigrationLabel] = migrationUID
	}
	if phase != migration.PhaseNone {
		meta.Labels[string(phase)] = migrationUID
	}
	if typ != migration.TypeNone {
		meta.Annotations[migration.TypeAnnotation] = string(typ)
	}
}

func migrationRestore(typ migration.Type, phase migration.Phase) *velerov1.Restore {
	r := actiontest.Restore(nil)
	marked(&r.ObjectMeta, true, typ, phase)
	return r
}

func plainRestore(typ migration.Type, phase migration.Phase) *velerov1.Restore {
	r := actiontest.Restore(nil)
	marked(&r.ObjectMeta, false, typ, phase)
	return r
}

func migrationBackup(typ migration.Type, phase migration.Phase) *velerov1.Backup {
	b := actiontest.Backup()
	marked(&b.ObjectMeta, true, typ, phase)
	return b
}

func plainBackup() *velerov1.Backup {
	b := actiontest.Backup()
	marked(&b.ObjectMeta, false, migration.TypeFinal, migration.PhaseInitialBackup)
	return b
}

// withAnnotations sets obj's annotations (string values) and returns obj.
func withAnnotations(obj *unstructured.Unstructured, kv ...string) *unstructured.Unstructured {
	a := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	if len(a) > 0 {
		obj.SetAnnotations(a)
	}
	return obj
}

func pvObject(spec map[string]any, annotations ...string) *unstructured.Unstructured {
	obj := actiontest.Object("v1", "PersistentVolume", "", "pv-1", map[string]any{"spec": spec})
	obj.SetUID("pv-uid")
	obj.SetResourceVersion("7")
	return withAnnotations(obj, annotations...)
}

func pvcObject(spec map[string]any, annotations ...string) *unstructured.Unstructured {
	obj := actiontest.Object("v1", "PersistentVolumeClaim", "app", "data", map[string]any{
		"spec":   spec,
		"status": map[string]any{"phase": "Bound"},
	})
	obj.SetUID("pvc-uid")
	return withAnnotations(obj, annotations...)
}

func TestRegistrations(t *testing.T) {
	want := []struct {
		name      string
		kind      action.Kind
		resources []string
	}{
		{"migration.openshift.io/02-pv-backup", action.KindBackup, []string{"persistentvolumes"}},
		{"migration.openshift.io/02-pv-restore", action.KindRestore, []string{"persistentvolumes"}},
		{"migration.openshift.io/03-pvc-restore", action.KindRestore, []string{"persistentvolumeclaims"}},
	}
	regs := Registrations()
	if len(regs) != len(want) {
		t.Fatalf("%d registrations, want %d", len(regs), len(want))
	}
	for i, w := range want {
		if regs[i].Name != w.name || regs[i].Kind != w.kind {
			t.Errorf("row %d = %s %s, want %s %s", i, regs[i].Name, regs[i].Kind, w.name, w.kind)
		}
		// Built without clients (as the fuzz target builds them): must still wrap.
		if got := actiontest.AppliesTo(t, regs[i]); !reflect.DeepEqual(got, w.resources) {
			t.Errorf("%s AppliesTo = %v, want %v", w.name, got, w.resources)
		}
	}
}

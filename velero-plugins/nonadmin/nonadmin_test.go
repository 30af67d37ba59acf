package nonadmin

import (
	"reflect"
	"testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
)

func TestRestoreSkips(t *testing.T) {
	for _, kind := range []string{"NonAdminBackup", "NonAdminRestore", "NonAdminBackupStorageLocation"} {
		t.Run(kind, func(t *testing.T) {
			item := actiontest.Object("oadp.openshift.io/v1alpha1", kind, "team", "nab", map[string]any{"spec": map[string]any{"x": "y"}})
			want := item.DeepCopy()
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(nil))
			if err != nil || !out.SkipRestore {
				t.Fatalf("Execute: %v skip=%v, want skip", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("item changed: %v", got.Object)
			}
		})
	}
}

func TestDisabledRestores(t *testing.T) {
	env := actiontest.Env()
	cfg := config.Default()
	cfg.DisabledActions[RestoreName] = true
	env.Config = config.Static(cfg)
	out, err := actiontest.RunRestore(t, Registrations()[0], env, actiontest.Object("oadp.openshift.io/v1alpha1", "NonAdminBackup", "team", "nab", nil), actiontest.Restore(nil))
	if err != nil || out.SkipRestore {
		t.Fatalf("disabled action: %v skip=%v, want pass-through", err, out != nil && out.SkipRestore)
	}
}

func TestAppliesTo(t *testing.T) {
	sel, _ := NewRestore(actiontest.Env()).AppliesTo()
	want := []string{"nonadminbackups.oadp.openshift.io", "nonadminrestores.oadp.openshift.io", "nonadminbackupstoragelocations.oadp.openshift.io"}
	if !reflect.DeepEqual(sel.IncludedResources, want) {
		t.Fatalf("AppliesTo = %v", sel.IncludedResources)
	}
}

package migratedby

import (
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

const (
	migUID  = "0b0c8a6e-mig"
	planUID = "5f1d2c3b-plan"
)

// migrationRestore is a migration Restore carrying the given migrated-by labels.
func migrationRestore(uid string, migratedBy map[string]string) *velerov1.Restore {
	r := actiontest.Restore(nil)
	r.UID = types.UID(uid)
	r.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.FinalRestoreLabel: "mig-uid"}
	for k, v := range migratedBy {
		r.Labels[k] = v
	}
	return r
}

var both = map[string]string{migration.MigratedByMigrationLabel: migUID, migration.MigratedByPlanLabel: planUID}

func newFixture() (action.Registration, action.Env, *logtest.Hook) {
	log, hook := logtest.NewNullLogger()
	env := actiontest.Env()
	env.Log = log
	return Registrations()[0], env, hook
}

func warnings(hook *logtest.Hook) []string {
	var out []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e.Message)
		}
	}
	return out
}

func configMap() *unstructured.Unstructured {
	obj := actiontest.Object("v1", "ConfigMap", "app", "settings", map[string]any{"data": map[string]any{"k": "v"}})
	obj.SetLabels(map[string]string{"app": "web", migration.MigratedByPlanLabel: "an-older-plan"})
	return obj
}

func TestLabels(t *testing.T) {
	withLabels := func(obj *unstructured.Unstructured, labels map[string]string) *unstructured.Unstructured {
		obj = actiontest.ResetLikeVelero(obj.DeepCopy())
		l := obj.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		for k, v := range labels {
			l[k] = v
		}
		obj.SetLabels(l)
		return obj
	}
	pv := actiontest.Object("v1", "PersistentVolume", "", "pv-1", map[string]any{"spec": map[string]any{"capacity": map[string]any{"storage": "1Gi"}}})
	clusterRole := actiontest.Object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader", nil)
	nonMigration := actiontest.Restore(nil)
	nonMigration.Labels = both
	tests := []struct {
		name    string
		item    *unstructured.Unstructured
		restore *velerov1.Restore
		want    *unstructured.Unstructured
	}{
		{"namespaced item: labels set, existing plan label replaced, others kept", configMap(), migrationRestore("r1", both), withLabels(configMap(), both)},
		{"cluster-scoped PV", pv, migrationRestore("r1", both), withLabels(pv, both)},
		{"cluster-scoped item without labels", clusterRole, migrationRestore("r1", both), withLabels(clusterRole, both)},
		{"only the migration label on the Restore", clusterRole, migrationRestore("r1", map[string]string{migration.MigratedByMigrationLabel: migUID}),
			withLabels(clusterRole, map[string]string{migration.MigratedByMigrationLabel: migUID})},
		{"not a migration: unchanged", configMap(), nonMigration, withLabels(configMap(), nil)},
		{"migration without the labels: unchanged", configMap(), migrationRestore("r1", nil), withLabels(configMap(), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, env, _ := newFixture()
			out, err := actiontest.RunRestore(t, reg, env, tt.item.DeepCopy(), tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := action.Object(out.UpdatedItem)
			if out.SkipRestore || !reflect.DeepEqual(got.Object, tt.want.Object) {
				t.Fatalf("skip=%v\n got %v\nwant %v", out.SkipRestore, got.Object, tt.want.Object)
			}
		})
	}
}

// TestOneWarningPerRestore: a migration Restore without the labels is one warning, however many
// items (restored concurrently) it has; another such restore warns again.
func TestOneWarningPerRestore(t *testing.T) {
	reg, env, hook := newFixture()
	w, err := action.Wrap(reg, env)
	if err != nil {
		t.Fatal(err)
	}
	guarded := w.(*action.GuardedRestore)
	run := func(restore *velerov1.Restore) {
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				item := configMap()
				out, err := guarded.Execute(&velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: item.DeepCopy(), Restore: restore})
				if err != nil || out.SkipRestore {
					t.Errorf("err=%v skip=%v", err, out.SkipRestore)
				}
			}()
		}
		wg.Wait()
	}
	run(migrationRestore("r1", nil))
	run(migrationRestore("r1", nil))
	if got := warnings(hook); len(got) != 1 || !strings.Contains(got[0], migration.MigratedByMigrationLabel) || !strings.Contains(got[0], migration.MigratedByPlanLabel) {
		t.Fatalf("warnings %q, want one naming both labels", got)
	}
	run(migrationRestore("r2", map[string]string{migration.MigratedByPlanLabel: planUID}))
	got := warnings(hook)
	if len(got) != 2 || !strings.Contains(got[1], migration.MigratedByMigrationLabel) || strings.Contains(got[1], migration.MigratedByPlanLabel) {
		t.Fatalf("warnings %q, want a second one naming only the missing migration label", got)
	}
	run(migrationRestore("r3", both))
	run(actiontest.Restore(nil))
	if n := len(warnings(hook)); n != 2 {
		t.Fatalf("%d warnings after complete and non-migration restores, want 2", n)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(o *unstructured.Unstructured)
		field string
	}{
		{"labels not an object", func(o *unstructured.Unstructured) { o.Object["metadata"].(map[string]any)["labels"] = []any{"x"} }, "metadata.labels: expected an object"},
		{"labels a string", func(o *unstructured.Unstructured) { o.Object["metadata"].(map[string]any)["labels"] = "a=b" }, "metadata.labels: expected an object"},
		{"a label not a string", func(o *unstructured.Unstructured) {
			o.Object["metadata"].(map[string]any)["labels"] = map[string]any{"tier": int64(1)}
		}, "metadata.labels.tier: expected a string"},
		{"metadata not an object", func(o *unstructured.Unstructured) { o.Object["metadata"] = "x" }, "metadata: expected an object"},
		{"metadata missing", func(o *unstructured.Unstructured) { delete(o.Object, "metadata") }, "metadata: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, env, _ := newFixture()
			item := configMap()
			tt.edit(item)
			_, err := actiontest.RunRestore(t, reg, env, item, migrationRestore("r1", both))
			actiontest.ErrorNames(t, err, tt.field, RestoreName)
			actiontest.NoPanic(t, []byte(tt.name), err)
		})
	}
	// Not a migration: a malformed item is not this action's business.
	reg, env, _ := newFixture()
	item := configMap()
	item.Object["metadata"].(map[string]any)["labels"] = "x"
	if _, err := actiontest.RunRestore(t, reg, env, item, actiontest.Restore(nil)); err != nil {
		t.Fatalf("non-migration restore: %v", err)
	}
}

func TestRegistrations(t *testing.T) {
	regs := Registrations()
	if len(regs) != 2 || regs[0].Name != "migration.openshift.io/07-migrated-by-restore" || regs[0].Kind != action.KindRestore ||
		regs[1].Name != "migration.openshift.io/07-migrated-by-backup" || regs[1].Kind != action.KindBackup {
		t.Fatalf("registrations %+v", regs)
	}
	if got := actiontest.AppliesTo(t, regs[0]); !reflect.DeepEqual(got, []string{"*"}) {
		t.Fatalf("AppliesTo %v, want [*]", got)
	}
	if got := actiontest.AppliesTo(t, regs[1]); !reflect.DeepEqual(got, []string{"namespaces"}) {
		t.Fatalf("AppliesTo %v, want [namespaces]", got)
	}
}

// TestBackupLabelsNamespace: a migration Backup's namespace item carries its migrated-by labels
// (Velero creates the destination namespace from them); other Backups leave it untouched.
func TestBackupLabelsNamespace(t *testing.T) {
	reg := Registrations()[1]
	all := map[string]string{migration.MigratedByMigrationLabel: "mig-1", migration.MigratedByPlanLabel: "plan-1"}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   map[string]string
	}{
		{"migration with both labels", map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.StageBackupLabel: "mig-1",
			migration.MigratedByMigrationLabel: "mig-1", migration.MigratedByPlanLabel: "plan-1"}, map[string]string{"team": "a", migration.MigratedByMigrationLabel: "mig-1", migration.MigratedByPlanLabel: "plan-1"}},
		{"migration with the plan label only", map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.MigratedByPlanLabel: "plan-1"},
			map[string]string{"team": "a", migration.MigratedByPlanLabel: "plan-1"}},
		{"migration without labels", map[string]string{migration.PartOfLabel: migration.PartOfValue}, map[string]string{"team": "a"}},
		{"not a migration", all, map[string]string{"team": "a"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns := actiontest.Object("v1", "Namespace", "", "app", nil)
			ns.SetLabels(map[string]string{"team": "a"})
			b := actiontest.Backup()
			b.Labels = tt.labels
			out, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), ns, b)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.GetLabels(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
		})
	}
	// A malformed item is an error naming the field.
	ns := actiontest.Object("v1", "Namespace", "", "app", nil)
	ns.Object["metadata"].(map[string]any)["labels"] = []any{"x"}
	b := actiontest.Backup()
	b.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.MigratedByPlanLabel: "plan-1"}
	_, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), ns, b)
	actiontest.ErrorNames(t, err, "metadata.labels", "Namespace app")
}

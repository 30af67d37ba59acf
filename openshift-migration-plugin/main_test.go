package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/client-go/rest"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/stagepod"
	"github.com/velero-openshift/plugins/velero-plugins/general"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
)

var workloads = []string{"deploymentconfigs.apps.openshift.io", "deployments.apps", "statefulsets.apps", "replicasets.apps", "daemonsets.apps", "cronjobs.batch", "jobs.batch"}

// migrationRows is the migration binary's own contract (SPEC §6): names, kinds and exactly the
// resources each action applies to (each match is one gRPC call per item).
var migrationRows = []struct {
	name      string
	kind      action.Kind
	resources []string
}{
	{"migration.openshift.io/01-quiesce-backup", action.KindBackup, workloads},
	{"migration.openshift.io/01-unquiesce-restore", action.KindRestore, workloads},
	{"migration.openshift.io/02-pv-backup", action.KindBackup, []string{"persistentvolumes"}},
	{"migration.openshift.io/02-pv-restore", action.KindRestore, []string{"persistentvolumes"}},
	{"migration.openshift.io/03-pvc-restore", action.KindRestore, []string{"persistentvolumeclaims"}},
	{"migration.openshift.io/04-imagestream-backup", action.KindBackup, []string{"imagestreams.image.openshift.io"}},
	{"migration.openshift.io/04-imagestream-restore", action.KindRestore, []string{"imagestreams.image.openshift.io"}},
	{"migration.openshift.io/05-pod-restore", action.KindRestore, []string{"pods"}},
	{"migration.openshift.io/06-namespace-restore", action.KindRestore, []string{"namespaces"}},
	// The one action that applies to every resource: migrated-by labels on every restored item.
	{"migration.openshift.io/07-migrated-by-restore", action.KindRestore, []string{"*"}},
	// Velero creates restored namespaces from the backed-up item without restore actions: the
	// migrated-by labels are put on the backed-up Namespace.
	{"migration.openshift.io/07-migrated-by-backup", action.KindBackup, []string{"namespaces"}},
}

var migrationNameRE = regexp.MustCompile(`^migration\.openshift\.io/\d\d-[a-z0-9-]+$`)

// TestTable pins the table: every general action under its general name and kind, in the general
// order, except the general pod restore (replaced); then the migration rows; every action builds
// from the Env the binary gives it and selects exactly its resources.
func TestTable(t *testing.T) {
	regs := registrations()
	var want []action.Registration
	for _, r := range general.Registrations() {
		if r.Name != pod.RestoreName {
			want = append(want, r)
		}
	}
	if len(regs) != len(want)+len(migrationRows) {
		t.Fatalf("%d registrations, want %d general + %d migration", len(regs), len(want), len(migrationRows))
	}
	for i, r := range want {
		if regs[i].Name != r.Name || regs[i].Kind != r.Kind {
			t.Errorf("row %d = %s %s, want the general %s %s", i, regs[i].Name, regs[i].Kind, r.Name, r.Kind)
		}
	}
	for i, r := range regs {
		if r.Name == pod.RestoreName {
			t.Errorf("row %d: the general pod restore is served; the migration pod restore replaces it", i)
		}
	}
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	seen := map[string]bool{}
	for i, row := range migrationRows {
		r := regs[len(want)+i]
		if r.Name != row.name || r.Kind != row.kind {
			t.Errorf("migration row %d = %s %s, want %s %s", i, r.Name, r.Kind, row.name, row.kind)
			continue
		}
		if !migrationNameRE.MatchString(r.Name) {
			t.Errorf("%s: name does not follow migration.openshift.io/<NN>-<name>", r.Name)
		}
		if seen[r.Name+string(r.Kind)] {
			t.Errorf("%s registered twice as %s", r.Name, r.Kind)
		}
		seen[r.Name+string(r.Kind)] = true
		a, err := action.Wrap(r, env)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		sel, err := a.(interface {
			AppliesTo() (velero.ResourceSelector, error)
		}).AppliesTo()
		if err != nil || !reflect.DeepEqual(sel.IncludedResources, row.resources) {
			t.Errorf("%s: AppliesTo = %q, %v; want %q", r.Name, sel.IncludedResources, err, row.resources)
		}
	}
}

// kindOf gives, per resource, an apiVersion and kind to fuzz it with.
var kindOf = map[string][2]string{
	"deploymentconfigs.apps.openshift.io": {"apps.openshift.io/v1", "DeploymentConfig"},
	"deployments.apps":                    {"apps/v1", "Deployment"},
	"statefulsets.apps":                   {"apps/v1", "StatefulSet"},
	"replicasets.apps":                    {"apps/v1", "ReplicaSet"},
	"daemonsets.apps":                     {"apps/v1", "DaemonSet"},
	"cronjobs.batch":                      {"batch/v1", "CronJob"},
	"jobs.batch":                          {"batch/v1", "Job"},
	"persistentvolumes":                   {"v1", "PersistentVolume"},
	"persistentvolumeclaims":              {"v1", "PersistentVolumeClaim"},
	"pods":                                {"v1", "Pod"},
	"namespaces":                          {"v1", "Namespace"},
	"*":                                   {"v1", "ConfigMap"},
}

// fuzzMeta returns the labels and annotations of a Backup or Restore of the migration phase the
// fuzzer chose (the last choice: not a migration at all).
func fuzzMeta(choice uint8) (map[string]string, map[string]string) {
	phases := []string{migration.InitialBackupLabel, migration.StageBackupLabel, migration.StageRestoreLabel, migration.FinalRestoreLabel}
	types := []string{"stage", "final"}
	n := int(choice) % (len(phases)*len(types) + 1)
	if n == len(phases)*len(types) {
		return nil, nil
	}
	labels := map[string]string{
		migration.PartOfLabel: migration.PartOfValue, phases[n%len(phases)]: "mig-uid",
		migration.MigratedByMigrationLabel: "mig-uid", migration.MigratedByPlanLabel: "plan-uid",
	}
	annotations := map[string]string{
		migration.TypeAnnotation: types[n/len(phases)], migration.QuiesceAnnotation: "true",
		migration.StagePodImageAnnotation: "registry.example.com/stage:latest",
	}
	return labels, annotations
}

// notFoundAPI is an API server that has nothing: every request is answered 404 with a Status, so
// actions that read the live cluster run their "not found" paths quickly and in-process.
func notFoundAPI(tb testing.TB) *rest.Config {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})
	}))
	tb.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

// FuzzMigrationActions feeds malformed items to every migration action's Execute through the guard,
// on Backups and Restores of every migration phase and type (and of no migration), as Velero's
// calls would: the only failure is a panic. One fuzz target for all of them, so the instrumented
// build happens once. The image stream actions are left out here: they reach registries, and
// their package fuzzes them with its engine replaced.
func FuzzMigrationActions(f *testing.F) {
	f.Add(uint8(0), uint8(0), []byte(`{"metadata":{"name":"web","namespace":"app","annotations":{"migration.openshift.io/preQuiesceReplicas":"3"}},"spec":{"replicas":0,"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}`))
	f.Add(uint8(1), uint8(6), []byte(`{"metadata":{"name":"web","namespace":"app","annotations":{"migration.openshift.io/preQuiesceNodeSelector":"{\"a\":\"b\"}"}},"spec":{"template":{"spec":{"nodeSelector":{"migration.openshift.io/quiesceDaemonSet":"true"}}}}}`))
	f.Add(uint8(3), uint8(2), []byte(`{"metadata":{"name":"pv1","annotations":{"openshift.io/migrate-type":"copy","migration.openshift.io/copy-method":"snapshot","openshift.io/target-storage-class":""}},"spec":{"persistentVolumeReclaimPolicy":"Delete","storageClassName":"gp2"}}`))
	f.Add(uint8(4), uint8(2), []byte(`{"metadata":{"name":"data","namespace":"app","annotations":{"openshift.io/migrate-type":"copy","openshift.io/target-access-mode":"ReadWriteMany","volume.kubernetes.io/selected-node":"n1"}},"spec":{"selector":{},"accessModes":["ReadWriteOnce"]}}`))
	f.Add(uint8(7), uint8(2), []byte(`{"metadata":{"name":"p","namespace":"app","labels":{"migration-included-stage-backup":"u"},"annotations":{"migration.openshift.io/exclude-pvcs":"b"}},"spec":{"volumes":[{"name":"a","persistentVolumeClaim":{"claimName":"a"}},{"name":"b","persistentVolumeClaim":{"claimName":"b"}},{"name":"c","emptyDir":{}}],"initContainers":[{"name":"i"}],"containers":[{"name":"c","volumeMounts":[{"name":"a"},{"name":"c"}]}]}}`))
	f.Add(uint8(8), uint8(3), []byte(`{"metadata":{"name":"app","annotations":{"openshift.io/sa.scc.uid-range":"1000/10000"}}}`))
	f.Add(uint8(9), uint8(3), []byte(`{"metadata":{"name":"c","namespace":"app","labels":"x"}}`))
	var fuzzed []action.Registration
	regs := registrations()
	for _, r := range regs[len(regs)-len(migrationRows):] {
		if r.Name != "migration.openshift.io/04-imagestream-backup" && r.Name != "migration.openshift.io/04-imagestream-restore" {
			fuzzed = append(fuzzed, r)
		}
	}
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(notFoundAPI(f))
	// Each action's resources, from the action built as the fuzzed calls build it (with clients).
	resourcesOf := map[string][]string{}
	for _, r := range fuzzed {
		a, err := action.Wrap(r, env)
		if err != nil {
			f.Fatalf("%s: %v", r.Name, err)
		}
		sel, err := a.(interface {
			AppliesTo() (velero.ResourceSelector, error)
		}).AppliesTo()
		if err != nil {
			f.Fatalf("%s: %v", r.Name, err)
		}
		resourcesOf[r.Name] = sel.IncludedResources
	}
	f.Fuzz(func(t *testing.T, which, phase uint8, data []byte) {
		r := fuzzed[int(which)%len(fuzzed)]
		resources := resourcesOf[r.Name]
		kind := kindOf[resources[int(phase)%len(resources)]]
		item, ok := actiontest.FuzzItem(data, kind[0], kind[1])
		if !ok {
			return
		}
		labels, annotations := fuzzMeta(phase)
		if r.Kind == action.KindBackup {
			b := actiontest.Backup()
			b.Labels, b.Annotations = labels, annotations
			_, _, err := actiontest.RunBackup(t, r, env, item, b)
			actiontest.NoPanic(t, data, err)
			return
		}
		restore := actiontest.Restore(map[string]string{"app": "app2"})
		restore.Labels, restore.Annotations = labels, annotations
		_, err := actiontest.RunRestore(t, r, env, item, restore)
		actiontest.NoPanic(t, data, err)
	})
}

// Pods restored by a migration get the informational restore annotations from the migration pod
// restore, which replaces the general one: an annotation users saw does not depend on the binary.
func TestStagePodRestoreWritesRestoreAnnotations(t *testing.T) {
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	for _, r := range registrations() {
		if r.Name != stagepod.RestoreName {
			continue
		}
		pod := actiontest.Object("v1", "Pod", "app", "web", map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "image": "quay.io/app/web:v1"}}}})
		out, err := actiontest.RunRestore(t, r, env, pod, actiontest.Restore(nil))
		if err != nil {
			t.Fatal(err)
		}
		if out.SkipRestore {
			t.Fatal("bare pod skipped")
		}
		got, _ := action.Object(out.UpdatedItem)
		if got.GetAnnotations()[keys.RestoreRegistryHostname] != actiontest.DestinationRegistry {
			t.Fatalf("annotations %v: no %s", got.GetAnnotations(), keys.RestoreRegistryHostname)
		}
		return
	}
	t.Fatalf("%s not registered", stagepod.RestoreName)
}

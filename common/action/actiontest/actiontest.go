// Package actiontest builds fixtures and drives actions through the same guard Velero's calls go
// through, for the actions' unit tests.
package actiontest

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	biav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/backupitemaction/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
)

// Hosts and domains used across the tests.
const (
	SourceRegistry      = "image-registry.openshift-image-registry.svc:5000"
	DestinationRegistry = "image-registry.b.example.com:5000"
	SourceApps          = "apps.a.example.com"
	DestinationApps     = "apps.b.example.com"
	VeleroNamespace     = "velero"
)

// DestinationFacts are the facts of the test destination cluster.
var DestinationFacts = clusterfacts.Facts{
	KubeVersion: "1.32", OpenShiftVersion: "4.18.1", RegistryHostname: DestinationRegistry,
	AppsDomain: DestinationApps, RegistryEnabled: true,
}

// Env returns an Env with the destination facts and default config, logging nowhere.
func Env() action.Env {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return action.Env{Log: log, Facts: clusterfacts.Static(DestinationFacts), Config: config.Static(config.Default())}
}

// Restore returns a Restore in the Velero namespace with the given namespace mapping.
func Restore(mapping map[string]string) *velerov1.Restore {
	return &velerov1.Restore{
		ObjectMeta: metav1.ObjectMeta{Namespace: VeleroNamespace, Name: "restore-1", UID: "restore-uid"},
		Spec:       velerov1.RestoreSpec{BackupName: "backup-1", NamespaceMapping: mapping},
	}
}

// Backup returns a Backup in the Velero namespace.
func Backup() *velerov1.Backup {
	return &velerov1.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: VeleroNamespace, Name: "backup-1", UID: "backup-uid"}}
}

// Object builds an unstructured object from apiVersion, kind, namespace, name and extra top-level fields.
func Object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	obj := map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name},
	}
	if ns != "" {
		obj["metadata"].(map[string]any)["namespace"] = ns
	}
	for k, v := range fields {
		obj[k] = v
	}
	return &unstructured.Unstructured{Object: obj}
}

// FromSource marks obj as backed up on the test source cluster (what the common backup action writes).
func FromSource(obj *unstructured.Unstructured) *unstructured.Unstructured {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[keys.BackupRegistryHostname] = SourceRegistry
	a[keys.BackupAppsDomain] = SourceApps
	a[keys.BackupServerVersion] = "1.27"
	a[keys.BackupOpenShiftVersion] = "4.14.2"
	obj.SetAnnotations(a)
	return obj
}

// Registration wraps a ready action as a registration row.
func Registration(name string, kind action.Kind, a any) action.Registration {
	return action.Registration{Name: name, Kind: kind, New: func(action.Env) (any, error) { return a, nil }}
}

// RunRestore runs a restore action on item through the guard, exactly as Velero's call would:
// ItemFromBackup is item as given, and Item is a copy with the metadata and status Velero clears
// before restore actions run (ownerReferences, uid, resourceVersion, ..., status).
func RunRestore(t testing.TB, reg action.Registration, env action.Env, item *unstructured.Unstructured, restore *velerov1.Restore) (*velero.RestoreItemActionExecuteOutput, error) {
	t.Helper()
	fromBackup := item.DeepCopy()
	ResetLikeVelero(item)
	return RunRestoreInput(t, reg, env, &velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: fromBackup, Restore: restore})
}

// RunRestoreInput runs a restore action on a hand-built input through the guard.
func RunRestoreInput(t testing.TB, reg action.Registration, env action.Env, in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	t.Helper()
	w, err := action.Wrap(reg, env)
	if err != nil {
		t.Fatalf("wrap %s: %v", reg.Name, err)
	}
	return w.(*action.GuardedRestore).Execute(in)
}

// ResetLikeVelero removes what Velero's restore removes from an item before running actions
// (tests apply it to their expected copy too).
func ResetLikeVelero(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if md, ok := obj.Object["metadata"].(map[string]any); ok {
		for _, k := range []string{"generateName", "selfLink", "uid", "resourceVersion", "generation",
			"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"} {
			delete(md, k)
		}
	}
	delete(obj.Object, "status")
	return obj
}

// RunBackup runs a backup action on item through the guard.
func RunBackup(t testing.TB, reg action.Registration, env action.Env, item *unstructured.Unstructured, backup *velerov1.Backup) (*unstructured.Unstructured, []velero.ResourceIdentifier, error) {
	t.Helper()
	w, err := action.Wrap(reg, env)
	if err != nil {
		t.Fatalf("wrap %s: %v", reg.Name, err)
	}
	out, extra, _, _, err := w.(biav2.BackupItemAction).Execute(item, backup)
	if err != nil || out == nil {
		return nil, extra, err
	}
	u, uerr := action.Object(out)
	if uerr != nil {
		t.Fatalf("backup output: %v", uerr)
	}
	return u, extra, err
}

// FuzzItem decodes fuzz input as a JSON object of the given apiVersion and kind, recorded as backed
// up on the test source cluster when its metadata is an object (so the image rewriter is active and
// walks the item). ok is false for input that is not a JSON object.
func FuzzItem(data []byte, apiVersion, kind string) (item *unstructured.Unstructured, ok bool) {
	var obj map[string]any
	// Kubernetes' decoder, as Velero's: whole numbers become int64, as in real items.
	if utiljson.Unmarshal(data, &obj) != nil || obj == nil {
		return nil, false
	}
	obj["apiVersion"], obj["kind"] = apiVersion, kind
	item = &unstructured.Unstructured{Object: obj}
	if _, isMap := obj["metadata"].(map[string]any); isMap {
		FromSource(item)
	}
	return item, true
}

// ErrorNames fails the test unless err is an error whose message contains every part: the
// field and the object a bad item's error must name for the user to find it.
func ErrorNames(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error = %v; want it to name %q", err, p)
		}
	}
}

// NoPanic fails the test when err reports a recovered panic: for malformed input any other outcome
// (a named error, a skip, an unchanged item) is acceptable, a panic is a bug.
func NoPanic(t testing.TB, data []byte, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "recovered panic") {
		t.Fatalf("panic on %s: %v", data, err)
	}
}

// BenchmarkJSONRoundTrip is the yardstick of the action benchmarks: the JSON decode and encode of
// the same item that Velero performs for every item it passes to a plugin.
func BenchmarkJSONRoundTrip(b *testing.B, obj map[string]any) {
	data, err := json.Marshal(obj)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestore measures a restore action's Execute through the guard on a fresh copy of item per
// iteration (the copy is not timed), as Velero hands each item over.
func BenchmarkRestore(b *testing.B, reg action.Registration, env action.Env, item *unstructured.Unstructured, restore *velerov1.Restore) *velero.RestoreItemActionExecuteOutput {
	w, err := action.Wrap(reg, env)
	if err != nil {
		b.Fatal(err)
	}
	guarded := w.(*action.GuardedRestore)
	fromBackup := item.DeepCopy()
	var out *velero.RestoreItemActionExecuteOutput
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		in := &velero.RestoreItemActionExecuteInput{Item: ResetLikeVelero(fromBackup.DeepCopy()), ItemFromBackup: fromBackup, Restore: restore}
		b.StartTimer()
		if out, err = guarded.Execute(in); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// AppliesTo returns the resources a registration's action selects.
func AppliesTo(t testing.TB, reg action.Registration) []string {
	t.Helper()
	w, err := action.Wrap(reg, Env())
	if err != nil {
		t.Fatalf("wrap %s: %v", reg.Name, err)
	}
	sel, err := w.(interface {
		AppliesTo() (velero.ResourceSelector, error)
	}).AppliesTo()
	if err != nil {
		t.Fatalf("%s AppliesTo: %v", reg.Name, err)
	}
	return sel.IncludedResources
}

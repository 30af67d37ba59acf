package volume

import (
	"fmt"
	"reflect"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

const (
	beta         = "volume.beta.kubernetes.io/storage-class"
	selectedNode = "volume.kubernetes.io/selected-node"
)

func registration(t *testing.T, name string) action.Registration {
	t.Helper()
	for _, r := range Registrations() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no registration %s", name)
	return action.Registration{}
}

// restoreCase is one restore of item: want is the expected item (nil: the item unchanged, after
// what Velero itself clears), skip whether the restore must leave it out.
type restoreCase struct {
	name    string
	restore *velerov1.Restore
	item    *unstructured.Unstructured
	want    func(obj *unstructured.Unstructured)
	skip    bool
}

func runRestoreCases(t *testing.T, regName string, cases []restoreCase) {
	t.Helper()
	reg := registration(t, regName)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := actiontest.ResetLikeVelero(tc.item.DeepCopy())
			if tc.want != nil {
				tc.want(want)
			}
			out, err := actiontest.RunRestore(t, reg, actiontest.Env(), tc.item, tc.restore)
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tc.skip {
				t.Fatalf("SkipRestore = %v, want %v", out.SkipRestore, tc.skip)
			}
			if got := out.UpdatedItem.UnstructuredContent(); !reflect.DeepEqual(got, want.Object) {
				t.Fatalf("item =\n%v\nwant\n%v", got, want.Object)
			}
		})
	}
}

// setSpec returns an edit that sets spec[key] = v (delete when v is nil).
func setSpec(key string, v any) func(*unstructured.Unstructured) {
	return func(obj *unstructured.Unstructured) {
		spec := obj.Object["spec"].(map[string]any)
		if v == nil {
			delete(spec, key)
			return
		}
		spec[key] = v
	}
}

func setAnnotation(key string, v *string) func(*unstructured.Unstructured) {
	return func(obj *unstructured.Unstructured) {
		a := obj.GetAnnotations()
		if v == nil {
			delete(a, key)
		} else {
			a[key] = *v
		}
		obj.SetAnnotations(a)
	}
}

func all(edits ...func(*unstructured.Unstructured)) func(*unstructured.Unstructured) {
	return func(obj *unstructured.Unstructured) {
		for _, e := range edits {
			e(obj)
		}
	}
}

func ptr(s string) *string { return &s }

// TestSnapshotSkipTruthTable drives both restore actions through every combination of migration
// type, restore phase, migrate type and copy method: only a stage migration's stage restore of a
// snapshot copy is skipped. In particular the final migration's stage restore restores snapshot
// copies (snapshots are not incremental; skipping them there would never migrate them).
func TestSnapshotSkipTruthTable(t *testing.T) {
	types := []migration.Type{migration.TypeStage, migration.TypeFinal, migration.TypeNone}
	phases := []migration.Phase{migration.PhaseStageRestore, migration.PhaseFinalRestore, migration.PhaseNone}
	for _, regName := range []string{PVRestoreName, PVCRestoreName} {
		reg := registration(t, regName)
		for _, typ := range types {
			for _, phase := range phases {
				for _, act := range []string{migration.ActionCopy, migration.ActionMove} {
					for _, method := range []string{migration.CopySnapshot, migration.CopyFilesystem, ""} {
						for _, migrating := range []bool{true, false} {
							name := fmt.Sprintf("%s/type=%q/phase=%q/%s/method=%q/migration=%v", regName, typ, phase, act, method, migrating)
							t.Run(name, func(t *testing.T) {
								restore := plainRestore(typ, phase)
								if migrating {
									restore = migrationRestore(typ, phase)
								}
								ann := []string{migration.MigrateTypeAnnotation, act}
								if method != "" {
									ann = append(ann, migration.CopyMethodAnnotation, method)
								}
								item := pvObject(map[string]any{"storageClassName": "gp2"}, ann...)
								if regName == PVCRestoreName {
									item = pvcObject(map[string]any{"storageClassName": "gp2"}, ann...)
								}
								out, err := actiontest.RunRestore(t, reg, actiontest.Env(), item, restore)
								if err != nil {
									t.Fatal(err)
								}
								want := migrating && typ == migration.TypeStage && phase == migration.PhaseStageRestore &&
									act == migration.ActionCopy && method == migration.CopySnapshot
								if out.SkipRestore != want {
									t.Fatalf("SkipRestore = %v, want %v", out.SkipRestore, want)
								}
							})
						}
					}
				}
			}
		}
	}
}

func TestPVRestore(t *testing.T) {
	stage := migrationRestore(migration.TypeStage, migration.PhaseStageRestore)
	final := migrationRestore(migration.TypeFinal, migration.PhaseFinalRestore)
	finalStage := migrationRestore(migration.TypeFinal, migration.PhaseStageRestore)
	spec := func() map[string]any {
		return map[string]any{"storageClassName": "gp2", "persistentVolumeReclaimPolicy": "Delete",
			"claimRef": map[string]any{"namespace": "app", "name": "data"}}
	}
	copyTo := func(sc string, extra ...string) []string {
		return append([]string{migration.MigrateTypeAnnotation, migration.ActionCopy,
			migration.TargetStorageClassAnnotation, sc, migration.CopyMethodAnnotation, migration.CopyFilesystem}, extra...)
	}
	runRestoreCases(t, PVRestoreName, []restoreCase{
		{name: "non-migration restore: untouched", restore: plainRestore(migration.TypeStage, migration.PhaseStageRestore),
			item: pvObject(spec(), copyTo("gp3", beta, "gp2")...)},
		{name: "move: restored as is", restore: stage,
			item: pvObject(spec(), migration.MigrateTypeAnnotation, migration.ActionMove, migration.TargetStorageClassAnnotation, "gp3")},
		{name: "no migrate-type: untouched", restore: final,
			item: pvObject(spec(), migration.TargetStorageClassAnnotation, "gp3")},
		{name: "copy: target storage class", restore: stage, item: pvObject(spec(), copyTo("gp3")...),
			want: setSpec("storageClassName", "gp3")},
		{name: "copy: target storage class, final restore", restore: final, item: pvObject(spec(), copyTo("gp3")...),
			want: setSpec("storageClassName", "gp3")},
		{name: "copy: empty target storage class is set", restore: stage, item: pvObject(spec(), copyTo("")...),
			want: setSpec("storageClassName", "")},
		{name: "copy: no target storage class: untouched", restore: stage,
			item: pvObject(spec(), migration.MigrateTypeAnnotation, migration.ActionCopy)},
		{name: "copy: beta annotation follows when present", restore: stage, item: pvObject(spec(), copyTo("gp3", beta, "gp2")...),
			want: all(setSpec("storageClassName", "gp3"), setAnnotation(beta, ptr("gp3")))},
		{name: "copy: class set where the item had none", restore: stage, item: pvObject(map[string]any{}, copyTo("gp3")...),
			want: setSpec("storageClassName", "gp3")},
		{name: "snapshot copy: final migration's stage restore restores it", restore: finalStage,
			item: pvObject(spec(), migration.MigrateTypeAnnotation, migration.ActionCopy, migration.CopyMethodAnnotation, migration.CopySnapshot,
				migration.TargetStorageClassAnnotation, "gp3"),
			want: setSpec("storageClassName", "gp3")},
		{name: "snapshot copy: stage migration's stage restore skips it", restore: stage,
			item: pvObject(spec(), migration.MigrateTypeAnnotation, migration.ActionCopy, migration.CopyMethodAnnotation, migration.CopySnapshot,
				migration.TargetStorageClassAnnotation, "gp3"),
			skip: true},
	})
}

func TestPVCRestore(t *testing.T) {
	stage := migrationRestore(migration.TypeStage, migration.PhaseStageRestore)
	final := migrationRestore(migration.TypeFinal, migration.PhaseFinalRestore)
	spec := func() map[string]any {
		return map[string]any{
			"storageClassName": "gp2",
			"accessModes":      []any{"ReadWriteOnce"},
			"selector":         map[string]any{"matchLabels": map[string]any{"pv": "pv-1"}},
			"volumeName":       "pv-1",
			"resources":        map[string]any{"requests": map[string]any{"storage": "1Gi"}},
		}
	}
	copyAnn := func(extra ...string) []string {
		return append([]string{migration.MigrateTypeAnnotation, migration.ActionCopy,
			migration.CopyMethodAnnotation, migration.CopyFilesystem, selectedNode, "node-a"}, extra...)
	}
	noSelectedNode := setAnnotation(selectedNode, nil)
	noSelector := setSpec("selector", nil)
	runRestoreCases(t, PVCRestoreName, []restoreCase{
		{name: "non-migration restore: untouched", restore: plainRestore(migration.TypeFinal, migration.PhaseFinalRestore),
			item: pvcObject(spec(), copyAnn(migration.TargetStorageClassAnnotation, "gp3", migration.TargetAccessModeAnnotation, "ReadWriteMany", beta, "gp2")...)},
		{name: "move: only the selected node goes", restore: final,
			item: pvcObject(spec(), migration.MigrateTypeAnnotation, migration.ActionMove, selectedNode, "node-a",
				migration.TargetStorageClassAnnotation, "gp3", migration.TargetAccessModeAnnotation, "ReadWriteMany"),
			want: noSelectedNode},
		{name: "move without selected node: untouched", restore: final,
			item: pvcObject(spec(), migration.MigrateTypeAnnotation, migration.ActionMove)},
		{name: "no migrate-type: selected node goes", restore: stage,
			item: pvcObject(spec(), selectedNode, "node-a", migration.TargetStorageClassAnnotation, "gp3"),
			want: noSelectedNode},
		{name: "copy: selector, class, access mode, selected node", restore: stage,
			item: pvcObject(spec(), copyAnn(migration.TargetStorageClassAnnotation, "gp3", migration.TargetAccessModeAnnotation, "ReadWriteMany")...),
			want: all(noSelectedNode, noSelector, setSpec("storageClassName", "gp3"), setSpec("accessModes", []any{"ReadWriteMany"}))},
		{name: "copy: empty target class is set, beta annotation follows", restore: final,
			item: pvcObject(spec(), copyAnn(migration.TargetStorageClassAnnotation, "", beta, "gp2")...),
			want: all(noSelectedNode, noSelector, setSpec("storageClassName", ""), setAnnotation(beta, ptr("")))},
		{name: "copy: no target class: class kept", restore: final,
			item: pvcObject(spec(), copyAnn(beta, "gp2")...),
			want: all(noSelectedNode, noSelector)},
		{name: "copy: no beta annotation: none added", restore: final,
			item: pvcObject(spec(), copyAnn(migration.TargetStorageClassAnnotation, "gp3")...),
			want: all(noSelectedNode, noSelector, setSpec("storageClassName", "gp3"))},
		{name: "copy: no target access mode: modes kept", restore: final,
			item: pvcObject(spec(), copyAnn()...),
			want: all(noSelectedNode, noSelector)},
		{name: "copy: access modes set where the item had none", restore: final,
			item: pvcObject(map[string]any{}, copyAnn(migration.TargetAccessModeAnnotation, "ReadWriteOnce")...),
			want: all(noSelectedNode, setSpec("accessModes", []any{"ReadWriteOnce"}))},
		{name: "snapshot copy: final migration's stage restore restores it", restore: migrationRestore(migration.TypeFinal, migration.PhaseStageRestore),
			item: pvcObject(spec(), migration.MigrateTypeAnnotation, migration.ActionCopy, migration.CopyMethodAnnotation, migration.CopySnapshot,
				migration.TargetStorageClassAnnotation, "gp3", selectedNode, "node-a"),
			want: all(noSelectedNode, noSelector, setSpec("storageClassName", "gp3"))},
		{name: "snapshot copy: stage migration's stage restore skips it", restore: stage,
			item: pvcObject(spec(), migration.MigrateTypeAnnotation, migration.ActionCopy, migration.CopyMethodAnnotation, migration.CopySnapshot,
				migration.TargetStorageClassAnnotation, "gp3"),
			skip: true},
		{name: "namespace mapping changes nothing here", restore: func() *velerov1.Restore {
			r := migrationRestore(migration.TypeFinal, migration.PhaseFinalRestore)
			r.Spec.NamespaceMapping = map[string]string{"app": "app-b"}
			return r
		}(), item: pvcObject(spec(), copyAnn(migration.TargetStorageClassAnnotation, "gp3")...),
			want: all(noSelectedNode, noSelector, setSpec("storageClassName", "gp3"))},
	})
}

// TestMalformed: a bad item is an error naming the object and the field, never a panic.
func TestMalformed(t *testing.T) {
	final := migrationRestore(migration.TypeFinal, migration.PhaseFinalRestore)
	copyAnn := []any{migration.MigrateTypeAnnotation, migration.ActionCopy, migration.TargetStorageClassAnnotation, "gp3",
		migration.TargetAccessModeAnnotation, "ReadWriteOnce"}
	annotations := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	object := func(kind, ns string, meta, spec any) *unstructured.Unstructured {
		obj := actiontest.Object("v1", kind, ns, "x", map[string]any{"spec": spec})
		if meta != nil {
			obj.Object["metadata"].(map[string]any)["annotations"] = meta
		}
		return obj
	}
	tests := []struct {
		name  string
		reg   string
		item  *unstructured.Unstructured
		parts []string
	}{
		{"pv spec not an object", PVRestoreName, object("PersistentVolume", "", annotations(copyAnn...), "oops"),
			[]string{"PersistentVolume x", "spec: expected an object, got string"}},
		{"pv annotations not an object", PVRestoreName, object("PersistentVolume", "", []any{"a"}, map[string]any{}),
			[]string{"PersistentVolume x", "metadata.annotations: expected an object"}},
		{"pv annotation not a string", PVRestoreName, object("PersistentVolume", "", annotations(migration.MigrateTypeAnnotation, int64(1)), map[string]any{}),
			[]string{"PersistentVolume x", "metadata.annotations." + migration.MigrateTypeAnnotation + ": expected a string"}},
		{"pvc spec not an object", PVCRestoreName, object("PersistentVolumeClaim", "app", annotations(copyAnn...), []any{}),
			[]string{"PersistentVolumeClaim app/x", "spec: expected an object, got []interface {}"}},
		{"pvc accessModes not a list", PVCRestoreName, object("PersistentVolumeClaim", "app", annotations(copyAnn...), map[string]any{"accessModes": "ReadWriteOnce"}),
			[]string{"PersistentVolumeClaim app/x", "spec.accessModes: expected a list of strings, got string"}},
		{"pvc accessModes entry not a string", PVCRestoreName, object("PersistentVolumeClaim", "app", annotations(copyAnn...), map[string]any{"accessModes": []any{int64(1)}}),
			[]string{"PersistentVolumeClaim app/x", "spec.accessModes[0]: expected a string"}},
		{"pvc annotations not an object", PVCRestoreName, object("PersistentVolumeClaim", "app", "oops", map[string]any{}),
			[]string{"PersistentVolumeClaim app/x", "metadata.annotations: expected an object, got string"}},
		{"pvc annotation not a string", PVCRestoreName, object("PersistentVolumeClaim", "app", annotations(selectedNode, true), map[string]any{}),
			[]string{"PersistentVolumeClaim app/x", "metadata.annotations." + selectedNode + ": expected a string, got bool"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := actiontest.RunRestore(t, registration(t, tc.reg), actiontest.Env(), tc.item, final)
			actiontest.ErrorNames(t, err, append(tc.parts, tc.reg)...)
			if _, err := actiontest.RunRestore(t, registration(t, tc.reg), actiontest.Env(), tc.item, plainRestore(migration.TypeFinal, migration.PhaseFinalRestore)); err != nil {
				t.Fatalf("non-migration restore of a malformed item: %v (must pass it through)", err)
			}
		})
	}
}

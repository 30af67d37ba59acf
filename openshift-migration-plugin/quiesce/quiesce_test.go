package quiesce

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// Short names for the records in expectations.
const (
	recReplicas = migration.PreQuiesceReplicasAnnotation
	recPaused   = migration.PreQuiescePausedAnnotation
	recSuspend  = migration.PreQuiesceSuspendAnnotation
	recSelector = migration.PreQuiesceNodeSelectorAnnotation
	dsKey       = migration.QuiesceDaemonSetSelector
)

var apiVersions = map[string]string{
	"DeploymentConfig": "apps.openshift.io/v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1",
	"ReplicaSet": "apps/v1", "DaemonSet": "apps/v1", "CronJob": "batch/v1", "Job": "batch/v1",
}

// wl builds workload kind app/web with the given spec fields (merged into a pod template) and
// annotations (pairs).
func wl(kind string, spec map[string]any, ann ...string) *unstructured.Unstructured {
	s := map[string]any{}
	tmpl := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": "quay.io/org/web:1"}}}}
	if kind == "CronJob" {
		s["schedule"] = "*/5 * * * *"
		s["jobTemplate"] = map[string]any{"spec": map[string]any{"template": tmpl}}
	} else {
		s["template"] = tmpl
	}
	for k, v := range spec {
		s[k] = v
	}
	obj := actiontest.Object(apiVersions[kind], kind, "app", "web", map[string]any{"spec": s})
	obj.SetLabels(map[string]string{"app": "web"})
	if len(ann) > 0 {
		a := map[string]string{}
		for i := 0; i+1 < len(ann); i += 2 {
			a[ann[i]] = ann[i+1]
		}
		obj.SetAnnotations(a)
	}
	return obj
}

// ds builds a DaemonSet whose pod template has the node selector (nil: none).
func ds(selector any, ann ...string) *unstructured.Unstructured {
	obj := wl("DaemonSet", nil, ann...)
	if selector != nil {
		obj.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["nodeSelector"] = selector
	}
	return obj
}

// controlled gives obj a controlling owner of the kind.
func controlled(obj *unstructured.Unstructured, kind string, controller bool) *unstructured.Unstructured {
	obj.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion": "apps/v1", "kind": kind, "name": "web", "uid": "u", "controller": controller}}
	return obj
}

func TestQuiesce(t *testing.T) {
	tests := []struct {
		name string
		in   *unstructured.Unstructured
		want *unstructured.Unstructured // nil: unchanged
		// roundTrip: Unquiesce(want) gives back exactly in (false where a defaulted field
		// absent from in comes back explicit, as the API server would hold it anyway).
		roundTrip bool
	}{
		{"Deployment: replicas 0, not paused, records replicas and paused",
			wl("Deployment", map[string]any{"replicas": int64(3)}),
			wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false"), true},
		{"paused Deployment is unpaused so it scales down",
			wl("Deployment", map[string]any{"replicas": int64(2), "paused": true}, "keep", "me"),
			wl("Deployment", map[string]any{"replicas": int64(0), "paused": false}, "keep", "me", recReplicas, "2", recPaused, "true"), true},
		{"Deployment without replicas runs 1",
			wl("Deployment", nil),
			wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "1", recPaused, "false"), false},
		{"Deployment at 0 already: left alone, nothing recorded",
			wl("Deployment", map[string]any{"replicas": int64(0), "paused": true}), nil, false},
		{"replicas from a plain JSON decode (float64)",
			wl("Deployment", map[string]any{"replicas": float64(3)}),
			wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false"), false},
		{"DeploymentConfig",
			wl("DeploymentConfig", map[string]any{"replicas": int64(1), "paused": false}),
			wl("DeploymentConfig", map[string]any{"replicas": int64(0), "paused": false}, recReplicas, "1", recPaused, "false"), true},
		{"DeploymentConfig without replicas runs none: left alone",
			wl("DeploymentConfig", nil), nil, false},
		{"StatefulSet: replicas only",
			wl("StatefulSet", map[string]any{"replicas": int64(4)}),
			wl("StatefulSet", map[string]any{"replicas": int64(0)}, recReplicas, "4"), true},
		{"StatefulSet at 0: left alone", wl("StatefulSet", map[string]any{"replicas": int64(0)}), nil, false},
		{"owner-less ReplicaSet",
			wl("ReplicaSet", map[string]any{"replicas": int64(2)}),
			wl("ReplicaSet", map[string]any{"replicas": int64(0)}, recReplicas, "2"), true},
		{"ReplicaSet controlled by its Deployment: left alone",
			controlled(wl("ReplicaSet", map[string]any{"replicas": int64(2)}), "Deployment", true), nil, false},
		{"ReplicaSet with a non-controlling owner is quiesced",
			controlled(wl("ReplicaSet", map[string]any{"replicas": int64(2)}), "Thing", false),
			controlled(wl("ReplicaSet", map[string]any{"replicas": int64(0)}, recReplicas, "2"), "Thing", false), true},
		{"CronJob suspended, recorded as ours",
			wl("CronJob", map[string]any{"suspend": false}),
			wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true"), true},
		{"CronJob without suspend",
			wl("CronJob", nil), wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true"), false},
		{"CronJob suspended by its owner: left alone (stays suspended after unquiesce)",
			wl("CronJob", map[string]any{"suspend": true}), nil, false},
		{"Job: parallelism 0, recorded as replicas",
			wl("Job", map[string]any{"parallelism": int64(2), "completions": int64(5)}),
			wl("Job", map[string]any{"parallelism": int64(0), "completions": int64(5)}, recReplicas, "2"), true},
		{"Job without parallelism runs 1",
			wl("Job", nil), wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "1"), false},
		{"Job at parallelism 0: left alone", wl("Job", map[string]any{"parallelism": int64(0)}), nil, false},
		{"DaemonSet: quiesce selector added, old selector recorded",
			ds(map[string]any{"role": "infra", "zone": "a"}),
			ds(map[string]any{"role": "infra", "zone": "a", dsKey: "true"}, recSelector, `{"role":"infra","zone":"a"}`), true},
		{"DaemonSet without selector",
			ds(nil), ds(map[string]any{dsKey: "true"}, recSelector, `{}`), true},
		{"DaemonSet already carrying the quiesce key: left alone",
			ds(map[string]any{dsKey: "true"}), nil, false},
		{"records present: quiesced already, a second call changes nothing",
			wl("Deployment", map[string]any{"replicas": int64(2)}, recReplicas, "3"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.in.DeepCopy()
			changed, err := Quiesce(obj)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if changed != (tt.want != nil) || !reflect.DeepEqual(obj.Object, want.Object) {
				t.Fatalf("changed = %v\ngot  %v\nwant %v", changed, obj.Object, want.Object)
			}
			again := obj.DeepCopy()
			if changed, err := Quiesce(again); err != nil || changed || !reflect.DeepEqual(again.Object, obj.Object) {
				t.Fatalf("second Quiesce: changed = %v, err = %v, obj %v", changed, err, again.Object)
			}
			if tt.roundTrip {
				if changed, err := Unquiesce(obj); err != nil || !changed || !reflect.DeepEqual(obj.Object, tt.in.Object) {
					t.Fatalf("round trip: changed = %v, err = %v\ngot  %v\nwant %v", changed, err, obj.Object, tt.in.Object)
				}
			}
		})
	}
}

func TestUnquiesce(t *testing.T) {
	tests := []struct {
		name string
		in   *unstructured.Unstructured
		want *unstructured.Unstructured // nil: unchanged
	}{
		{"Deployment back to its replicas; records and the emptied annotations go",
			wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false"),
			wl("Deployment", map[string]any{"replicas": int64(3)})},
		{"Deployment scaled by hand since: replicas kept, records go",
			wl("Deployment", map[string]any{"replicas": int64(5)}, recReplicas, "3", recPaused, "false", "keep", "me"),
			wl("Deployment", map[string]any{"replicas": int64(5)}, "keep", "me")},
		{"paused comes back from the record",
			wl("Deployment", map[string]any{"replicas": int64(0), "paused": false}, recReplicas, "2", recPaused, "true"),
			wl("Deployment", map[string]any{"replicas": int64(2), "paused": true})},
		{"DeploymentConfig without replicas (0) gets them",
			wl("DeploymentConfig", nil, recReplicas, "2", recPaused, "false"),
			wl("DeploymentConfig", map[string]any{"replicas": int64(2)})},
		{"StatefulSet", wl("StatefulSet", map[string]any{"replicas": int64(0)}, recReplicas, "4"),
			wl("StatefulSet", map[string]any{"replicas": int64(4)})},
		{"ReplicaSet", wl("ReplicaSet", map[string]any{"replicas": int64(0)}, recReplicas, "1"),
			wl("ReplicaSet", map[string]any{"replicas": int64(1)})},
		{"Job parallelism from the replicas record",
			wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "3"),
			wl("Job", map[string]any{"parallelism": int64(3)})},
		{"Job running again (parallelism set since): kept",
			wl("Job", map[string]any{"parallelism": int64(1)}, recReplicas, "3"),
			wl("Job", map[string]any{"parallelism": int64(1)})},
		{"CronJob we suspended resumes",
			wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true"),
			wl("CronJob", map[string]any{"suspend": false})},
		{"CronJob record saying we did not suspend: stays suspended",
			wl("CronJob", map[string]any{"suspend": true}, recSuspend, "false"),
			wl("CronJob", map[string]any{"suspend": true})},
		{"CronJob suspended by its owner (no record): left alone",
			wl("CronJob", map[string]any{"suspend": true}), nil},
		{"DaemonSet selector back from the record",
			ds(map[string]any{"role": "infra", dsKey: "true"}, recSelector, `{"role":"infra"}`),
			ds(map[string]any{"role": "infra"})},
		{"DaemonSet selector changed by hand since: the recorded one wins while ours is present",
			ds(map[string]any{"role": "other", dsKey: "true"}, recSelector, `{"role":"infra"}`),
			ds(map[string]any{"role": "infra"})},
		{"DaemonSet no longer carrying our key: selector kept, record goes",
			ds(map[string]any{"role": "other"}, recSelector, `{"role":"infra"}`),
			ds(map[string]any{"role": "other"})},
		{"DaemonSet with our key but no record: the key goes",
			ds(map[string]any{"role": "infra", dsKey: "true"}),
			ds(map[string]any{"role": "infra"})},
		{"DaemonSet with an unreadable selector and no records: not ours, no error",
			ds([]any{"x"}), nil},
		{"records of another kind are removed too",
			wl("StatefulSet", map[string]any{"replicas": int64(2)}, recSuspend, "true", recSelector, "not json"),
			wl("StatefulSet", map[string]any{"replicas": int64(2)})},
		{"no records: left alone",
			wl("Deployment", map[string]any{"replicas": int64(0)}, "keep", "me"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.in.DeepCopy()
			changed, err := Unquiesce(obj)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.in
			}
			if changed != (tt.want != nil) || !reflect.DeepEqual(obj.Object, want.Object) {
				t.Fatalf("changed = %v\ngot  %v\nwant %v", changed, obj.Object, want.Object)
			}
			if HasRecords(obj) {
				t.Fatalf("records left: %v", obj.GetAnnotations())
			}
			if changed, err := Unquiesce(obj); err != nil || changed {
				t.Fatalf("second Unquiesce: changed = %v, err = %v", changed, err)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	withSpec := func(kind string, spec any) *unstructured.Unstructured {
		obj := wl(kind, nil)
		obj.Object["spec"] = spec
		return obj
	}
	badAnnotations := wl("Deployment", map[string]any{"replicas": int64(1)})
	badAnnotations.Object["metadata"].(map[string]any)["annotations"] = "oops"
	nonStringRecord := wl("Deployment", map[string]any{"replicas": int64(0)})
	nonStringRecord.Object["metadata"].(map[string]any)["annotations"] = map[string]any{recReplicas: int64(3)}
	noTemplate := wl("DaemonSet", nil)
	delete(noTemplate.Object["spec"].(map[string]any), "template")
	badOwners := wl("ReplicaSet", map[string]any{"replicas": int64(1)})
	badOwners.Object["metadata"].(map[string]any)["ownerReferences"] = "oops"
	listSelector := ds([]any{"x"})
	noSpec := wl("Job", nil, recReplicas, "2")
	delete(noSpec.Object, "spec")

	tests := []struct {
		name  string
		fn    func(*unstructured.Unstructured) (bool, error)
		obj   *unstructured.Unstructured
		field string
	}{
		{"replicas a string", Quiesce, wl("Deployment", map[string]any{"replicas": "3"}), "spec.replicas: expected an integer, got string"},
		{"replicas a fraction", Quiesce, wl("StatefulSet", map[string]any{"replicas": 1.5}), "spec.replicas"},
		{"replicas negative", Quiesce, wl("ReplicaSet", map[string]any{"replicas": int64(-1)}), "spec.replicas: expected a non-negative integer"},
		{"paused not a boolean", Quiesce, wl("Deployment", map[string]any{"replicas": int64(1), "paused": "yes"}), "spec.paused: expected a boolean"},
		{"suspend not a boolean", Quiesce, wl("CronJob", map[string]any{"suspend": "no"}), "spec.suspend"},
		{"parallelism a string", Quiesce, wl("Job", map[string]any{"parallelism": "2"}), "spec.parallelism"},
		{"node selector a list", Quiesce, listSelector, "spec.template.spec.nodeSelector: expected an object"},
		{"node selector value not a string", Quiesce, ds(map[string]any{"role": int64(1)}), "spec.template.spec.nodeSelector.role: expected a string"},
		{"DaemonSet without a pod template", Quiesce, noTemplate, "spec.template.spec: missing"},
		{"spec a string", Quiesce, withSpec("Deployment", "oops"), "spec: expected an object"},
		{"annotations a string", Quiesce, badAnnotations, "metadata.annotations: expected an object"},
		{"ownerReferences a string", Quiesce, badOwners, "metadata.ownerReferences"},
		{"not a quiescable kind", Quiesce, actiontest.Object("v1", "Pod", "app", "web", nil), `kind "Pod"`},
		{"replicas record not a number", Unquiesce, wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "three"), recReplicas},
		{"replicas record negative", Unquiesce, wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "-2"), recReplicas},
		{"paused record not a boolean", Unquiesce, wl("DeploymentConfig", map[string]any{"replicas": int64(0)}, recReplicas, "1", recPaused, "maybe"), recPaused},
		{"suspend record not a boolean", Unquiesce, wl("CronJob", map[string]any{"suspend": true}, recSuspend, "si"), recSuspend},
		{"selector record not JSON", Unquiesce, ds(map[string]any{dsKey: "true"}, recSelector, "{"), recSelector},
		{"selector record not strings", Unquiesce, ds(map[string]any{dsKey: "true"}, recSelector, `{"a":1}`), recSelector},
		{"record not a string", Unquiesce, nonStringRecord, recReplicas + "]: expected a string"},
		{"replicas of the wrong type under a record", Unquiesce, wl("StatefulSet", map[string]any{"replicas": true}, recReplicas, "2"), "spec.replicas"},
		{"spec missing under a record", Unquiesce, noSpec, "spec: missing"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.obj.DeepCopy()
			changed, err := tt.fn(tt.obj)
			actiontest.ErrorNames(t, err, tt.field)
			if changed || !reflect.DeepEqual(tt.obj.Object, before.Object) {
				t.Fatalf("object changed on error: %v", tt.obj.Object)
			}
		})
	}
}

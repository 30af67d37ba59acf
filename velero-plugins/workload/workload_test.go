package workload

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

// podSpec returns a pod spec whose images are in registry and namespace ns.
func podSpec(registry, ns string) map[string]any {
	return map[string]any{
		"initContainers": []any{map[string]any{"name": "init", "image": registry + "/" + ns + "/init:1"}},
		"containers": []any{
			map[string]any{"name": "app", "image": registry + "/" + ns + "/web@sha256:" + strings.Repeat("c", 64),
				"ports": []any{map[string]any{"containerPort": int64(8080)}}},
			map[string]any{"name": "sidecar", "image": "quay.io/org/proxy:2"},
		},
		"serviceAccountName": "web",
		"imagePullSecrets":   []any{map[string]any{"name": "default-dockercfg-abcde"}},
	}
}

// swapped is spec with its generated pull secret swapped to the one the destination of testEnv
// minted for the default service account.
func swapped(spec map[string]any) map[string]any {
	spec["imagePullSecrets"] = []any{map[string]any{"name": actiontest.Minted("default")}}
	return spec
}

// testEnv is a destination on which the default service account of app and app2 has its
// generated pull secret.
func testEnv() action.Env {
	env := actiontest.Env()
	env.PullSecrets, _ = actiontest.MintedSecrets("app/default", "app2/default")
	return env
}

func template(spec map[string]any) map[string]any {
	return map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}}, "spec": spec}
}

// workload builds an object of the kind with its pod spec at the kind's template path.
func workload(apiVersion, kind string, spec map[string]any) *unstructured.Unstructured {
	var s map[string]any
	if kind == "CronJob" {
		s = map[string]any{"schedule": "*/5 * * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": template(spec)}}}
	} else {
		s = map[string]any{"replicas": int64(2), "template": template(spec)}
	}
	obj := actiontest.Object(apiVersion, kind, "app", "web", map[string]any{"spec": s})
	obj.SetLabels(map[string]string{"app": "web"})
	return obj
}

var kinds = []struct{ apiVersion, kind string }{
	{"apps/v1", "Deployment"}, {"apps/v1", "ReplicaSet"}, {"apps/v1", "StatefulSet"}, {"apps/v1", "DaemonSet"}, {"batch/v1", "CronJob"},
}

func TestWorkloadRewritesImages(t *testing.T) {
	for _, k := range kinds {
		for _, tc := range []struct {
			name    string
			mapping map[string]string
			source  bool
			want    map[string]any
		}{
			{"mapped", map[string]string{"app": "app2"}, true, swapped(podSpec(dst, "app2"))},
			{"same namespace", nil, true, swapped(podSpec(dst, "app"))},
			// Nothing recorded at backup: OpenShift's own registry hostname is the source.
			{"no recorded source registry", map[string]string{"app": "app2"}, false, swapped(podSpec(dst, "app2"))},
		} {
			t.Run(k.kind+"/"+tc.name, func(t *testing.T) {
				item := workload(k.apiVersion, k.kind, podSpec(src, "app"))
				if tc.source {
					actiontest.FromSource(item)
				}
				want := workload(k.apiVersion, k.kind, tc.want)
				want.SetAnnotations(item.GetAnnotations())
				if k.kind == "ReplicaSet" {
					// A Deployment's ReplicaSet is restored all the same (Velero itself drops the owner).
					item.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"kind": "Deployment", "name": "web", "apiVersion": "apps/v1", "uid": "u"}}
				}
				out, err := actiontest.RunRestore(t, Registrations()[1], testEnv(), item, actiontest.Restore(tc.mapping))
				if err != nil || out.SkipRestore {
					t.Fatalf("Execute: %v, skip %v", err, out != nil && out.SkipRestore)
				}
				got, _ := action.Object(out.UpdatedItem)
				if !reflect.DeepEqual(got.Object, want.Object) {
					g, _ := json.MarshalIndent(got.Object, "", " ")
					w, _ := json.MarshalIndent(want.Object, "", " ")
					t.Fatalf("object\n%s\nwant\n%s", g, w)
				}
			})
		}
	}
}

func TestWorkloadBadImageNamesField(t *testing.T) {
	tests := []struct {
		apiVersion, kind string
		spec             map[string]any
		field            string
	}{
		{"apps/v1", "Deployment", map[string]any{"containers": []any{map[string]any{"image": 1.0}}}, "spec.template.spec.containers[0].image: expected a string"},
		{"apps/v1", "StatefulSet", map[string]any{"initContainers": []any{map[string]any{"image": src + "/app/BAD"}}}, "spec.template.spec.initContainers[0].image: invalid image reference"},
		{"batch/v1", "CronJob", map[string]any{"containers": "x"}, "spec.jobTemplate.spec.template.spec.containers: expected a list"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			item := actiontest.FromSource(workload(tt.apiVersion, tt.kind, tt.spec))
			_, err := actiontest.RunRestore(t, Registrations()[1], actiontest.Env(), item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.field, tt.kind+" app/web")
		})
	}
}

func job(owners []any) *unstructured.Unstructured {
	obj := actiontest.Object("batch/v1", "Job", "app", "web-123", map[string]any{"spec": map[string]any{
		"backoffLimit": int64(3), "template": template(podSpec(src, "app")),
	}})
	if owners != nil {
		obj.Object["metadata"].(map[string]any)["ownerReferences"] = owners
	}
	return actiontest.FromSource(obj)
}

// runJob runs the Job action as Velero does: ownerReferences stripped from the item, kept in the
// backed-up copy.
func runJob(t *testing.T, fromBackup *unstructured.Unstructured, mapping map[string]string) (*velero.RestoreItemActionExecuteOutput, error) {
	t.Helper()
	w, err := action.Wrap(Registrations()[0], testEnv())
	if err != nil {
		t.Fatal(err)
	}
	item := fromBackup.DeepCopy()
	delete(item.Object["metadata"].(map[string]any), "ownerReferences")
	return w.(*action.GuardedRestore).Execute(&velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: fromBackup, Restore: actiontest.Restore(mapping)})
}

func TestJobRestore(t *testing.T) {
	cronOwner := map[string]any{"apiVersion": "batch/v1", "kind": "CronJob", "name": "web", "uid": "u1", "controller": true}
	tests := []struct {
		name   string
		owners []any
		skip   bool
	}{
		{"owned by a CronJob", []any{cronOwner}, true},
		{"CronJob among other owners", []any{map[string]any{"kind": "Workflow", "name": "w"}, cronOwner}, true},
		{"owned by something else", []any{map[string]any{"kind": "Workflow", "name": "w"}}, false},
		{"standalone", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runJob(t, job(tt.owners), map[string]string{"app": "app2"})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if out.SkipRestore != tt.skip {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.skip)
			}
			if tt.skip {
				return
			}
			got, _ := action.Object(out.UpdatedItem)
			want := job(nil)
			want.Object["spec"].(map[string]any)["template"] = template(swapped(podSpec(dst, "app2")))
			if !reflect.DeepEqual(got.Object, want.Object) {
				g, _ := json.MarshalIndent(got.Object, "", " ")
				w, _ := json.MarshalIndent(want.Object, "", " ")
				t.Fatalf("object\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestJobWithoutBackupCopyReadsItem(t *testing.T) {
	item := job([]any{map[string]any{"kind": "CronJob", "name": "web"}})
	out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(nil))
	if err != nil || !out.SkipRestore {
		t.Fatalf("Execute: %v, skip %v; want skipped", err, out != nil && out.SkipRestore)
	}
}

func TestJobBadOwnerReferencesNamesField(t *testing.T) {
	for _, tt := range []struct {
		owners any
		field  string
	}{
		{"x", "metadata.ownerReferences: expected a list"},
		{[]any{"x"}, "metadata.ownerReferences[0]: expected an object"},
		{[]any{map[string]any{"kind": 5.0}}, "metadata.ownerReferences[0].kind: expected a string"},
	} {
		item := job(nil)
		item.Object["metadata"].(map[string]any)["ownerReferences"] = tt.owners
		_, err := runJob(t, item, nil)
		actiontest.ErrorNames(t, err, tt.field, "Job app/web-123")
	}
}

func FuzzExecute(f *testing.F) {
	seed, _ := json.Marshal(workload("apps/v1", "Deployment", podSpec(src, "app")).Object)
	f.Add(seed)
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"image":"` + src + `/a/B"},null,{"image":[]}]}}}}`))
	f.Add([]byte(`{"metadata":{"annotations":"x"},"spec":{"template":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "apps/v1", "Deployment")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, Registrations()[1], actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

// The pod template of every workload kind gets the same pull-secret swap as a pod: generated
// dockercfg secrets of any service account become the destination's, user-named ones stay.
func TestRestoreSwapsPullSecretsOfEveryWorkloadKind(t *testing.T) {
	all := append(append([]struct{ apiVersion, kind string }{}, kinds...), struct{ apiVersion, kind string }{"batch/v1", "Job"})
	for _, k := range all {
		t.Run(k.kind, func(t *testing.T) {
			finder, _ := actiontest.MintedSecrets("app2/db", "app2/my-app", "app2/default")
			env := actiontest.Env()
			env.PullSecrets = finder
			spec := podSpec(src, "app")
			spec["serviceAccountName"] = "db"
			spec["imagePullSecrets"] = []any{
				map[string]any{"name": "db-dockercfg-abcde"}, map[string]any{"name": "my-app-dockercfg-fghij"},
				map[string]any{"name": "default-dockercfg-abcde"}, map[string]any{"name": "registry-creds"},
			}
			item := actiontest.FromSource(workload(k.apiVersion, k.kind, spec))
			reg := Registrations()[1]
			if k.kind == "Job" {
				reg = Registrations()[0]
			}
			out, err := actiontest.RunRestore(t, reg, env, item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v", err)
			}
			got, _ := action.Object(out.UpdatedItem)
			var names []string
			for _, s := range templateSpec(t, got)["imagePullSecrets"].([]any) {
				names = append(names, s.(map[string]any)["name"].(string))
			}
			want := []string{actiontest.Minted("db"), actiontest.Minted("my-app"), actiontest.Minted("default"), "registry-creds"}
			if !reflect.DeepEqual(names, want) {
				t.Fatalf("imagePullSecrets = %v, want %v", names, want)
			}
		})
	}
}

func templateSpec(t *testing.T, obj *unstructured.Unstructured) map[string]any {
	t.Helper()
	path := []string{"spec", "template", "spec"}
	if obj.GetKind() == "CronJob" {
		path = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	}
	spec, found, err := unstructured.NestedMap(obj.Object, path...)
	if err != nil || !found {
		t.Fatalf("%v: no pod template spec (%v)", path, err)
	}
	return spec
}

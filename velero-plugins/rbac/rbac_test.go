package rbac

import (
	"errors"
	"reflect"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

func registration(objs ...runtime.Object) (action.Registration, *fake.Clientset) {
	client := fake.NewClientset(objs...)
	return actiontest.Registration(RestoreName, action.KindRestore, NewRestore(actiontest.Env(), client.RbacV1())), client
}

func kubeBinding(ns, name string) *unstructured.Unstructured {
	return actiontest.Object("rbac.authorization.k8s.io/v1", "RoleBinding", ns, name, map[string]any{
		"roleRef": map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
		"subjects": []any{
			map[string]any{"kind": "ServiceAccount", "name": "runner", "namespace": "app"},
			map[string]any{"kind": "ServiceAccount", "name": "other", "namespace": "elsewhere"},
			map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccount:app:bot"},
			map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
			map[string]any{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts:app"},
			map[string]any{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts"},
		},
	})
}

func openshiftBinding(ns, name string) *unstructured.Unstructured {
	return actiontest.Object("authorization.openshift.io/v1", "RoleBinding", ns, name, map[string]any{
		"roleRef": map[string]any{"name": "my-role", "namespace": "app"},
		"subjects": []any{
			map[string]any{"kind": "ServiceAccount", "name": "runner", "namespace": "app"},
			map[string]any{"kind": "ServiceAccount", "name": "local"},
			map[string]any{"kind": "SystemGroup", "name": "system:serviceaccounts:app"},
		},
		"userNames":  []any{"system:serviceaccount:app:runner", "bob"},
		"groupNames": []any{"system:serviceaccounts:app", "devs"},
	})
}

func TestRestoreRemapsNamespaces(t *testing.T) {
	mapping := map[string]string{"app": "app2"}
	tests := []struct {
		name    string
		item    *unstructured.Unstructured
		mapping map[string]string
		edit    func(want map[string]any) // applied to a copy of the input to get the expected item
	}{
		{"kube RoleBinding", kubeBinding("app", "edit-binding"), mapping, func(w map[string]any) {
			s := w["subjects"].([]any)
			s[0].(map[string]any)["namespace"] = "app2"
			s[2].(map[string]any)["name"] = "system:serviceaccount:app2:bot"
			s[4].(map[string]any)["name"] = "system:serviceaccounts:app2"
		}},
		{"kube ClusterRoleBinding", func() *unstructured.Unstructured {
			b := kubeBinding("", "crb")
			b.SetKind("ClusterRoleBinding")
			return b
		}(), mapping, func(w map[string]any) {
			s := w["subjects"].([]any)
			s[0].(map[string]any)["namespace"] = "app2"
			s[2].(map[string]any)["name"] = "system:serviceaccount:app2:bot"
			s[4].(map[string]any)["name"] = "system:serviceaccounts:app2"
		}},
		{"openshift RoleBinding", openshiftBinding("app", "my-binding"), mapping, func(w map[string]any) {
			s := w["subjects"].([]any)
			s[0].(map[string]any)["namespace"] = "app2"
			s[2].(map[string]any)["name"] = "system:serviceaccounts:app2"
			w["userNames"] = []any{"system:serviceaccount:app2:runner", "bob"}
			w["groupNames"] = []any{"system:serviceaccounts:app2", "devs"}
			w["roleRef"].(map[string]any)["namespace"] = "app2"
		}},
		{"no mapping", openshiftBinding("app", "my-binding"), nil, func(map[string]any) {}},
		{"unrelated mapping", kubeBinding("app", "b"), map[string]string{"zzz": "yyy"}, func(map[string]any) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.item.DeepCopy().Object
			tt.edit(want)
			reg, _ := registration()
			out, err := actiontest.RunRestore(t, reg, actiontest.Env(), tt.item, actiontest.Restore(tt.mapping))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v skip=%v", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want) {
				t.Fatalf("got  %v\nwant %v", got.Object, want)
			}
		})
	}
}

// Velero's rolebinding action maps subject namespaces before ours may run; with a chained mapping
// (a->b, b->c) reading the item would map "b" again to "c".
func TestRestoreComputesFromBackup(t *testing.T) {
	backedUp := kubeBinding("a", "x")
	backedUp.Object["subjects"] = []any{map[string]any{"kind": "ServiceAccount", "name": "sa", "namespace": "a"}}
	item := backedUp.DeepCopy()
	item.Object["subjects"].([]any)[0].(map[string]any)["namespace"] = "b" // Velero's action ran first
	reg, _ := registration()
	w, err := action.Wrap(reg, actiontest.Env())
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.(*action.GuardedRestore).Execute(&velero.RestoreItemActionExecuteInput{
		Item: item, ItemFromBackup: backedUp, Restore: actiontest.Restore(map[string]string{"a": "b", "b": "c"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	if ns := got.Object["subjects"].([]any)[0].(map[string]any)["namespace"]; ns != "b" {
		t.Fatalf("subject namespace = %v, want b", ns)
	}
}

func TestRestoreSkipsProjectBindings(t *testing.T) {
	existing := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "system:deployers"}}
	tests := []struct {
		name     string
		item     *unstructured.Unstructured
		mapping  map[string]string
		getErr   error
		wantSkip bool
		wantGets int
	}{
		{"mapped namespace", kubeBinding("app", "system:image-pullers"), map[string]string{"app": "app2"}, nil, true, 0},
		{"exists on destination", kubeBinding("app", "system:deployers"), nil, nil, true, 1},
		{"openshift API, exists", openshiftBinding("app", "system:deployers"), nil, nil, true, 1},
		{"absent on destination", kubeBinding("app", "system:image-builders"), nil, nil, false, 1},
		{"lookup fails: restored", kubeBinding("app", "system:image-builders"), nil, errors.New("boom"), false, 1},
		{"other name", kubeBinding("app", "admin"), nil, nil, false, 0},
		{"cluster-scoped", kubeBinding("", "system:deployers"), map[string]string{"app": "app2"}, nil, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, client := registration(existing)
			if tt.getErr != nil {
				client.PrependReactor("get", "rolebindings", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.getErr
				})
			}
			out, err := actiontest.RunRestore(t, reg, actiontest.Env(), tt.item, actiontest.Restore(tt.mapping))
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tt.wantSkip {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.wantSkip)
			}
			gets := 0
			for _, a := range client.Actions() {
				if a.GetVerb() == "get" {
					gets++
					if a.GetNamespace() != "app" {
						t.Errorf("looked up in %q, want app", a.GetNamespace())
					}
				}
			}
			if gets != tt.wantGets {
				t.Fatalf("%d lookups, want %d", gets, tt.wantGets)
			}
		})
	}
}

func TestRestoreBadTypesAreNamedErrors(t *testing.T) {
	tests := []struct {
		name  string
		field string
		value any
		want  string
	}{
		{"subjects not a list", "subjects", "x", "subjects: expected a list"},
		{"subject not an object", "subjects", []any{"x"}, "subjects[0]: expected an object"},
		{"subject kind not a string", "subjects", []any{map[string]any{"kind": int64(1)}}, "subjects[0].kind: expected a string"},
		{"subject namespace not a string", "subjects", []any{map[string]any{"kind": "ServiceAccount", "namespace": true}}, "subjects[0].namespace: expected a string"},
		{"userNames not strings", "userNames", []any{int64(1)}, "userNames[0]: expected a string"},
		{"groupNames not a list", "groupNames", map[string]any{}, "groupNames: expected a list"},
		{"roleRef not an object", "roleRef", "edit", "roleRef: expected an object"},
		{"roleRef namespace not a string", "roleRef", map[string]any{"namespace": int64(2)}, "roleRef.namespace: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := openshiftBinding("app", "b")
			item.Object[tt.field] = tt.value
			reg, _ := registration()
			_, err := actiontest.RunRestore(t, reg, actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
			actiontest.ErrorNames(t, err, tt.want, "RoleBinding app/b")
		})
	}
}

package scc

import (
	"reflect"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

func sccObject(users, groups any) map[string]any {
	fields := map[string]any{"priority": int64(10), "allowPrivilegedContainer": false}
	if users != nil {
		fields["users"] = users
	}
	if groups != nil {
		fields["groups"] = groups
	}
	return actiontest.Object("security.openshift.io/v1", "SecurityContextConstraints", "", "custom", fields).Object
}

func TestRestoreRemapsUsersAndGroups(t *testing.T) {
	tests := []struct {
		name       string
		mapping    map[string]string
		users      []any
		groups     []any
		wantUsers  []any
		wantGroups []any
	}{
		{"mapped", map[string]string{"app": "app2"},
			[]any{"system:serviceaccount:app:runner", "system:serviceaccount:other:x", "alice", "system:admin"},
			[]any{"system:serviceaccounts:app", "system:serviceaccounts", "system:authenticated"},
			[]any{"system:serviceaccount:app2:runner", "system:serviceaccount:other:x", "alice", "system:admin"},
			[]any{"system:serviceaccounts:app2", "system:serviceaccounts", "system:authenticated"}},
		{"no mapping", nil,
			[]any{"system:serviceaccount:app:runner"}, []any{"system:serviceaccounts:app"},
			[]any{"system:serviceaccount:app:runner"}, []any{"system:serviceaccounts:app"}},
		{"mapping of other namespaces", map[string]string{"zzz": "yyy"},
			[]any{"system:serviceaccount:app:runner"}, []any{"system:serviceaccounts:app"},
			[]any{"system:serviceaccount:app:runner"}, []any{"system:serviceaccounts:app"}},
		{"malformed service-account names untouched", map[string]string{"app": "app2"},
			[]any{"system:serviceaccount:app", "system:serviceaccount:app:a:b", "system:serviceaccount::x"},
			[]any{"system:serviceaccounts:", "system:serviceaccounts:app:x"},
			[]any{"system:serviceaccount:app", "system:serviceaccount:app:a:b", "system:serviceaccount::x"},
			[]any{"system:serviceaccounts:", "system:serviceaccounts:app:x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.Object("", "", "", "", nil)
			item.Object = sccObject(tt.users, tt.groups)
			want := sccObject(tt.wantUsers, tt.wantGroups)
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(tt.mapping))
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

// A mapping chain a->b, b->c must not map an already mapped "b" user again: the result is computed
// from the backed-up copy.
func TestRestoreComputesFromBackup(t *testing.T) {
	reg := Registrations()[0]
	w, err := action.Wrap(reg, actiontest.Env())
	if err != nil {
		t.Fatal(err)
	}
	backedUp := actiontest.Object("", "", "", "", nil)
	backedUp.Object = sccObject([]any{"system:serviceaccount:a:sa"}, nil)
	item := backedUp.DeepCopy()
	item.Object["users"] = []any{"system:serviceaccount:b:sa"} // as if already mapped once
	out, err := w.(*action.GuardedRestore).Execute(&velero.RestoreItemActionExecuteInput{
		Item: item, ItemFromBackup: backedUp, Restore: actiontest.Restore(map[string]string{"a": "b", "b": "c"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	if u := got.Object["users"]; !reflect.DeepEqual(u, []any{"system:serviceaccount:b:sa"}) {
		t.Fatalf("users = %v, want [system:serviceaccount:b:sa]", u)
	}
}

func TestRestoreBadTypesAreNamedErrors(t *testing.T) {
	tests := []struct {
		name   string
		users  any
		groups any
		want   string
	}{
		{"users not a list", "system:serviceaccount:app:x", nil, "users: expected a list"},
		{"user not a string", []any{"ok", int64(3)}, nil, "users[1]: expected a string"},
		{"group not a string", nil, []any{map[string]any{}}, "groups[0]: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.Object("", "", "", "", nil)
			item.Object = sccObject(tt.users, tt.groups)
			_, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "b"}))
			actiontest.ErrorNames(t, err, tt.want, "SecurityContextConstraints custom")
		})
	}
}

package serviceaccount

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	securityv1 "github.com/openshift/api/security/v1"
	securityfake "github.com/openshift/client-go/security/clientset/versioned/fake"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

func sccFixture(name string, users, groups []string) *securityv1.SecurityContextConstraints {
	return &securityv1.SecurityContextConstraints{ObjectMeta: metav1.ObjectMeta{Name: name}, Users: users, Groups: groups}
}

// newClient returns a fake security client holding the fixture SCCs. They are created through the
// client because the fake tracker guesses the plural "securitycontextconstraintses" for objects
// given to NewClientset, where the typed client lists "securitycontextconstraints".
func newClient(t *testing.T) *securityfake.Clientset {
	t.Helper()
	c := securityfake.NewClientset()
	for _, s := range fixtures() {
		if _, err := c.SecurityV1().SecurityContextConstraints().Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.ClearActions()
	return c
}

func fixtures() []*securityv1.SecurityContextConstraints {
	return []*securityv1.SecurityContextConstraints{
		sccFixture("anyuid", []string{"system:serviceaccount:app:runner"}, []string{"system:cluster-admins"}),
		sccFixture("privileged", []string{"system:admin", "system:serviceaccount:other:runner"}, nil),
		sccFixture("nsgroup", nil, []string{"system:serviceaccounts:app"}),
		sccFixture("everyone", nil, []string{"system:serviceaccounts", "system:authenticated"}),
		sccFixture("both", []string{"system:serviceaccount:app:runner"}, []string{"system:serviceaccounts:app"}),
	}
}

func serviceAccount(ns, name string) *unstructured.Unstructured {
	return actiontest.Object("v1", "ServiceAccount", ns, name, map[string]any{
		"secrets": []any{map[string]any{"name": name + "-token-abcde"}},
	})
}

func names(ids []velero.ResourceIdentifier) []string {
	var out []string
	for _, id := range ids {
		if id.GroupResource != SCCGroupResource || id.Namespace != "" {
			out = append(out, "bad identifier "+id.String())
			continue
		}
		out = append(out, id.Name)
	}
	return out
}

func countLists(c *securityfake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "securitycontextconstraints" {
			n++
		}
	}
	return n
}

func TestBackupAddsGrantingSCCs(t *testing.T) {
	tests := []struct {
		ns, name string
		want     []string
	}{
		{"app", "runner", []string{"anyuid", "both", "nsgroup"}},
		{"app", "builder", []string{"both", "nsgroup"}},
		{"other", "runner", []string{"privileged"}},
		{"quiet", "default", nil},
	}
	client := newClient(t)
	reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(actiontest.Env(), client.SecurityV1(), nil))
	for _, tt := range tests {
		t.Run(tt.ns+"/"+tt.name, func(t *testing.T) {
			item := serviceAccount(tt.ns, tt.name)
			want := item.DeepCopy()
			out, extra, err := actiontest.RunBackup(t, reg, actiontest.Env(), item, actiontest.Backup())
			if err != nil {
				t.Fatal(err)
			}
			if got := names(extra); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("additional items = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Fatalf("item changed: %v", out.Object)
			}
		})
	}
	if n := countLists(client); n != 1 {
		t.Fatalf("%d SCC list calls for one backup, want 1", n)
	}
}

func TestItemBlockSharesTheIndex(t *testing.T) {
	client := newClient(t)
	index := NewSCCIndex()
	backup := actiontest.Registration(BackupName, action.KindBackup, NewBackup(actiontest.Env(), client.SecurityV1(), index))
	block := actiontest.Registration(ItemBlockName, action.KindItemBlock, NewItemBlock(actiontest.Env(), client.SecurityV1(), index))
	w, err := action.Wrap(block, actiontest.Env())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := w.(*action.GuardedItemBlock).GetRelatedItems(serviceAccount("app", "runner"), actiontest.Backup())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ids); !reflect.DeepEqual(got, []string{"anyuid", "both", "nsgroup"}) {
		t.Fatalf("related = %v", got)
	}
	if _, _, err := actiontest.RunBackup(t, backup, actiontest.Env(), serviceAccount("app", "x"), actiontest.Backup()); err != nil {
		t.Fatal(err)
	}
	if n := countLists(client); n != 1 {
		t.Fatalf("%d SCC list calls, want 1", n)
	}
	// A new backup lists again: SCCs may have changed between backups.
	next := actiontest.Backup()
	next.UID = "backup-2"
	if _, _, err := actiontest.RunBackup(t, backup, actiontest.Env(), serviceAccount("app", "x"), next); err != nil {
		t.Fatal(err)
	}
	if n := countLists(client); n != 2 {
		t.Fatalf("%d SCC list calls after a second backup, want 2", n)
	}
}

func TestIndexListsOnceUnderConcurrency(t *testing.T) {
	client := newClient(t)
	index := NewSCCIndex()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := index.Related(client.SecurityV1(), actiontest.Backup(), "app", "runner")
			if err == nil && len(ids) != 3 {
				err = errors.New("wrong answer")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := countLists(client); n != 1 {
		t.Fatalf("%d list calls, want 1", n)
	}
}

func TestBackupListErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"not served (404)", apierrors.NewNotFound(SCCGroupResource, ""), ""},
		{"not served (message)", errors.New("the server could not find the requested resource"), ""},
		{"forbidden", apierrors.NewForbidden(SCCGroupResource, "", errors.New("no")), "listing securitycontextconstraints.security.openshift.io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := securityfake.NewClientset()
			client.PrependReactor("list", "securitycontextconstraints", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(actiontest.Env(), client.SecurityV1(), nil))
			out, extra, err := actiontest.RunBackup(t, reg, actiontest.Env(), serviceAccount("app", "runner"), actiontest.Backup())
			if tt.wantErr == "" {
				if err != nil || len(extra) != 0 || out == nil {
					t.Fatalf("err %v, extra %v, out %v: want the item and nothing else", err, extra, out)
				}
				// The "not served" answer is remembered for the backup.
				if _, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), serviceAccount("app", "x"), actiontest.Backup()); err != nil || countLists(client) != 1 {
					t.Fatalf("second item: err %v, %d list calls", err, countLists(client))
				}
				return
			}
			actiontest.ErrorNames(t, err, tt.wantErr, "ServiceAccount app/runner")
		})
	}
}

func TestRestoreDropsGeneratedSecrets(t *testing.T) {
	tests := []struct {
		name                   string
		secrets, pull          any
		wantSecrets, wantPulls any
	}{
		{"generated dropped, others kept in order",
			[]any{
				map[string]any{"name": "runner-token-abcde"},
				map[string]any{"name": "my-creds"},
				map[string]any{"name": "runner-dockercfg-x1y2z"},
				map[string]any{"name": "default-dockercfg-x1y2z"}, // another account's
				map[string]any{"name": "runner-dockercfg-notgenerated"},
			},
			[]any{map[string]any{"name": "runner-dockercfg-x1y2z"}, map[string]any{"name": "quay-pull"}},
			[]any{
				map[string]any{"name": "my-creds"},
				map[string]any{"name": "default-dockercfg-x1y2z"},
				map[string]any{"name": "runner-dockercfg-notgenerated"},
			},
			[]any{map[string]any{"name": "quay-pull"}}},
		{"all dropped leaves empty lists",
			[]any{map[string]any{"name": "runner-token-abcde"}}, []any{map[string]any{"name": "runner-dockercfg-abcde"}},
			[]any{}, []any{}},
		{"nothing to drop", []any{map[string]any{"name": "a"}}, nil, []any{map[string]any{"name": "a"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.Object("v1", "ServiceAccount", "app", "runner", map[string]any{"automountServiceAccountToken": false})
			item.SetAnnotations(map[string]string{"keep": "me"})
			want := item.DeepCopy()
			for field, v := range map[string][2]any{"secrets": {tt.secrets, tt.wantSecrets}, "imagePullSecrets": {tt.pull, tt.wantPulls}} {
				if v[0] != nil {
					item.Object[field] = v[0]
					want.Object[field] = v[1]
				}
			}
			out, err := actiontest.RunRestore(t, Registrations()[2], actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v skip=%v", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("got  %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func TestRestoreBadTypesAreNamedErrors(t *testing.T) {
	tests := []struct {
		field string
		value any
		want  string
	}{
		{"secrets", "runner-token-abcde", "secrets: expected a list"},
		{"imagePullSecrets", []any{"x"}, "imagePullSecrets[0]: expected an object"},
		{"secrets", []any{map[string]any{"name": int64(1)}}, "secrets[0].name: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			item := actiontest.Object("v1", "ServiceAccount", "app", "runner", map[string]any{tt.field: tt.value})
			_, err := actiontest.RunRestore(t, Registrations()[2], actiontest.Env(), item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.want, "ServiceAccount app/runner")
		})
	}
}

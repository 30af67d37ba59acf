package quiesce

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// listKinds registers every version of every quiescable kind with the fake client.
var listKinds = func() map[schema.GroupVersionResource]string {
	m := map[schema.GroupVersionResource]string{}
	for _, k := range kinds {
		for _, v := range k.versions {
			m[k.gvr(v)] = k.gk.Kind + "List"
		}
	}
	return m
}()

// cluster is a fake cluster holding copies of objs.
func cluster(objs ...*unstructured.Unstructured) *dynamicfake.FakeDynamicClient {
	ros := make([]runtime.Object, len(objs))
	for i, o := range objs {
		ros[i] = o.DeepCopy()
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, ros...)
}

// live reads obj's current copy from the fake cluster.
func live(t *testing.T, c *dynamicfake.FakeDynamicClient, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	k, err := kindOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	gvr := k.gvr(obj.GroupVersionKind().Version)
	got, err := c.Resource(gvr).Namespace(obj.GetNamespace()).Get(context.Background(), obj.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("live %s: %v", action.Describe(obj), err)
	}
	return got
}

// verbs lists the API calls the fake cluster saw.
func verbs(c *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range c.Actions() {
		out = append(out, a.GetVerb())
	}
	return out
}

// conflicts makes the first n updates fail with a conflict, calling before (if given) first.
func conflicts(c *dynamicfake.FakeDynamicClient, n int, before func()) {
	seen := 0
	c.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if seen++; seen > n {
			return false, nil, nil
		}
		if before != nil {
			before()
		}
		return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), "web", errors.New("the object has been modified"))
	})
}

// migrationBackup is a migration Backup of the type, asking for quiesce or not.
func migrationBackup(typ migration.Type, quiesce bool) *velerov1.Backup {
	b := actiontest.Backup()
	b.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.InitialBackupLabel: "mig-1"}
	b.Annotations = map[string]string{migration.TypeAnnotation: string(typ)}
	if quiesce {
		b.Annotations[migration.QuiesceAnnotation] = "true"
	}
	return b
}

// logged returns an Env logging into a test hook.
func logged() (action.Env, *logrustest.Hook) {
	log, hook := logrustest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	env := actiontest.Env()
	env.Log = log
	return env, hook
}

func runBackup(t *testing.T, env action.Env, c *dynamicfake.FakeDynamicClient, item *unstructured.Unstructured, b *velerov1.Backup) (*unstructured.Unstructured, error) {
	t.Helper()
	b2 := NewBackup(env, c)
	out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b2), env, item, b)
	return out, err
}

func TestBackupQuiescesLiveObject(t *testing.T) {
	tests := []struct {
		name      string
		item      *unstructured.Unstructured
		wantLive  *unstructured.Unstructured // nil: live object unchanged
		wantVerbs []string
		wantLog   string
	}{
		{"Deployment", wl("Deployment", map[string]any{"replicas": int64(3)}),
			wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false"),
			[]string{"get", "update"}, "spec.replicas 3 -> 0"},
		{"DeploymentConfig", wl("DeploymentConfig", map[string]any{"replicas": int64(2), "paused": true}),
			wl("DeploymentConfig", map[string]any{"replicas": int64(0), "paused": false}, recReplicas, "2", recPaused, "true"),
			[]string{"get", "update"}, "spec.paused true -> false"},
		{"StatefulSet", wl("StatefulSet", map[string]any{"replicas": int64(1)}),
			wl("StatefulSet", map[string]any{"replicas": int64(0)}, recReplicas, "1"), []string{"get", "update"}, "spec.replicas 1 -> 0"},
		{"owner-less ReplicaSet", wl("ReplicaSet", map[string]any{"replicas": int64(1)}),
			wl("ReplicaSet", map[string]any{"replicas": int64(0)}, recReplicas, "1"), []string{"get", "update"}, "spec.replicas"},
		{"DaemonSet", ds(map[string]any{"role": "infra"}),
			ds(map[string]any{"role": "infra", dsKey: "true"}, recSelector, `{"role":"infra"}`), []string{"get", "update"}, dsKey},
		{"CronJob", wl("CronJob", map[string]any{"suspend": false}),
			wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true"), []string{"get", "update"}, "spec.suspend false -> true"},
		{"Job", wl("Job", map[string]any{"parallelism": int64(4)}),
			wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "4"), []string{"get", "update"}, "spec.parallelism 4 -> 0"},
		{"already stopped: read, not written", wl("Deployment", map[string]any{"replicas": int64(0)}), nil, []string{"get"}, ""},
		{"controlled ReplicaSet: no API call (its Deployment is quiesced)",
			controlled(wl("ReplicaSet", map[string]any{"replicas": int64(2)}), "Deployment", true), nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, hook := logged()
			c := cluster(tt.item)
			item := tt.item.DeepCopy()
			out, err := runBackup(t, env, c, item, migrationBackup(migration.TypeFinal, true))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Object, tt.item.Object) {
				t.Fatalf("backed-up item changed: %v", out.Object)
			}
			if got := verbs(c); !reflect.DeepEqual(got, tt.wantVerbs) {
				t.Fatalf("API calls = %v, want %v", got, tt.wantVerbs)
			}
			want := tt.wantLive
			if want == nil {
				want = tt.item
			}
			if got := live(t, c, tt.item); !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("live object\ngot  %v\nwant %v", got.Object, want.Object)
			}
			if tt.wantLog != "" {
				e := hook.LastEntry()
				if e == nil || e.Level != logrus.InfoLevel || !strings.Contains(e.Message, tt.wantLog) || e.Data["item"] != action.Describe(tt.item) {
					t.Fatalf("log = %+v; want an info line naming the item and %q", e, tt.wantLog)
				}
			}
		})
	}
}

func TestBackupRetriesConflicts(t *testing.T) {
	item := wl("Deployment", map[string]any{"replicas": int64(3)})
	c := cluster(item)
	// Someone scales the Deployment to 5 while we write: the retry must record 5, not 3.
	conflicts(c, 1, func() {
		obj := wl("Deployment", map[string]any{"replicas": int64(5)})
		if err := c.Tracker().Update(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, obj, "app"); err != nil {
			t.Error(err)
		}
	})
	if _, err := runBackup(t, actiontest.Env(), c, item.DeepCopy(), migrationBackup(migration.TypeFinal, true)); err != nil {
		t.Fatal(err)
	}
	if got := verbs(c); !reflect.DeepEqual(got, []string{"get", "update", "get", "update"}) {
		t.Fatalf("API calls = %v", got)
	}
	want := wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "5", recPaused, "false")
	if got := live(t, c, item); !reflect.DeepEqual(got.Object, want.Object) {
		t.Fatalf("live = %v", got.Object)
	}
}

func TestBackupErrorsAndWarnings(t *testing.T) {
	item := wl("Deployment", map[string]any{"replicas": int64(3)})
	forbidden := func(c *dynamicfake.FakeDynamicClient) {
		c.PrependReactor("update", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("no"))
		})
	}
	malformed := wl("Deployment", map[string]any{"replicas": "3"})
	tests := []struct {
		name      string
		live      []*unstructured.Unstructured
		setup     func(*dynamicfake.FakeDynamicClient)
		wantErr   []string // nil: no error
		wantVerbs int
		wantWarn  string
	}{
		{"live object gone: a warning", nil, nil, nil, 1, "gone"},
		{"update refused: an error naming the object", []*unstructured.Unstructured{item}, forbidden,
			[]string{BackupName, "Deployment app/web", "quiescing live deployments.apps app/web", "forbidden"}, 2, ""},
		{"conflicts every time: an error after 5 attempts", []*unstructured.Unstructured{item},
			func(c *dynamicfake.FakeDynamicClient) { conflicts(c, 100, nil) },
			[]string{"Deployment app/web", "5 conflicting updates"}, 10, ""},
		{"malformed live object: the field is named", []*unstructured.Unstructured{malformed}, nil,
			[]string{"Deployment app/web", "spec.replicas: expected an integer"}, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, hook := logged()
			c := cluster(tt.live...)
			if tt.setup != nil {
				tt.setup(c)
			}
			out, err := runBackup(t, env, c, item.DeepCopy(), migrationBackup(migration.TypeFinal, true))
			if tt.wantErr != nil {
				actiontest.ErrorNames(t, err, tt.wantErr...)
			} else if err != nil || !reflect.DeepEqual(out.Object, item.Object) {
				t.Fatalf("out = %v, err = %v", out, err)
			}
			if n := len(c.Actions()); n != tt.wantVerbs {
				t.Fatalf("API calls = %v, want %d", verbs(c), tt.wantVerbs)
			}
			if tt.wantWarn != "" {
				e := hook.LastEntry()
				if e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, tt.wantWarn) {
					t.Fatalf("log = %+v; want a warning", e)
				}
			}
		})
	}
}

func TestBackupOtherBackupsMakeNoCall(t *testing.T) {
	final := migrationBackup(migration.TypeFinal, true)
	notMigration := actiontest.Backup()
	notMigration.Annotations = final.Annotations // quiesce asked, but not a migration
	for name, b := range map[string]*velerov1.Backup{
		"not a migration":    notMigration,
		"stage migration":    migrationBackup(migration.TypeStage, true),
		"final, no quiesce":  migrationBackup(migration.TypeFinal, false),
		"migration, untyped": migrationBackup(migration.TypeNone, true),
	} {
		t.Run(name, func(t *testing.T) {
			item := wl("Deployment", map[string]any{"replicas": int64(3)})
			c := cluster(item)
			out, err := runBackup(t, actiontest.Env(), c, item.DeepCopy(), b)
			if err != nil || !reflect.DeepEqual(out.Object, item.Object) {
				t.Fatalf("out = %v, err = %v", out, err)
			}
			if len(c.Actions()) != 0 {
				t.Fatalf("API calls: %v", verbs(c))
			}
		})
	}
}

// The registered action builds its client only when a Backup needs it.
func TestRegisteredBackupClientIsLazy(t *testing.T) {
	item := wl("Deployment", map[string]any{"replicas": int64(3)})
	reg := Registrations()[0]
	if _, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), item, actiontest.Backup()); err != nil {
		t.Fatalf("non-migration Backup: %v", err)
	}
	_, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), item, migrationBackup(migration.TypeFinal, true))
	actiontest.ErrorNames(t, err, "Deployment app/web", "no API clients")
}

func migrationRestore() *velerov1.Restore {
	r := actiontest.Restore(nil)
	r.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.FinalRestoreLabel: "mig-1"}
	r.Annotations = map[string]string{migration.TypeAnnotation: "final"}
	return r
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name    string
		item    *unstructured.Unstructured
		restore *velerov1.Restore
		want    *unstructured.Unstructured // nil: unchanged
	}{
		{"records removed, replicas restored", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false"),
			migrationRestore(), wl("Deployment", map[string]any{"replicas": int64(3)})},
		{"replicas not 0: kept", wl("StatefulSet", map[string]any{"replicas": int64(2)}, recReplicas, "3", "keep", "me"),
			migrationRestore(), wl("StatefulSet", map[string]any{"replicas": int64(2)}, "keep", "me")},
		{"CronJob resumes", wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true"),
			migrationRestore(), wl("CronJob", map[string]any{"suspend": false})},
		{"DaemonSet selector back", ds(map[string]any{dsKey: "true"}, recSelector, `{}`), migrationRestore(), ds(nil)},
		{"Job", wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "2"), migrationRestore(),
			wl("Job", map[string]any{"parallelism": int64(2)})},
		{"stage Restore of a migration too", wl("DeploymentConfig", map[string]any{"replicas": int64(0)}, recReplicas, "1"),
			func() *velerov1.Restore {
				r := migrationRestore()
				r.Annotations[migration.TypeAnnotation] = "stage"
				return r
			}(),
			wl("DeploymentConfig", map[string]any{"replicas": int64(1)})},
		{"no records: unchanged", wl("Deployment", map[string]any{"replicas": int64(0)}), migrationRestore(), nil},
		{"not a migration: unchanged, records and all", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3"),
			actiontest.Restore(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil {
				want = tt.item.DeepCopy()
			}
			actiontest.ResetLikeVelero(want)
			out, err := actiontest.RunRestore(t, Registrations()[1], actiontest.Env(), tt.item.DeepCopy(), tt.restore)
			if err != nil || out.SkipRestore {
				t.Fatalf("out = %+v, err = %v", out, err)
			}
			if got := out.UpdatedItem.UnstructuredContent(); !reflect.DeepEqual(got, want.Object) {
				t.Fatalf("\ngot  %v\nwant %v", got, want.Object)
			}
		})
	}
}

func TestRestoreMalformed(t *testing.T) {
	item := wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "three")
	_, err := actiontest.RunRestore(t, Registrations()[1], actiontest.Env(), item, migrationRestore())
	actiontest.ErrorNames(t, err, RestoreName, "Deployment app/web", recReplicas)
}

func TestResources(t *testing.T) {
	got := strings.Join(Resources(), " ")
	want := "deploymentconfigs.apps.openshift.io deployments.apps statefulsets.apps replicasets.apps daemonsets.apps cronjobs.batch jobs.batch"
	if got != want {
		t.Fatalf("Resources() = %s", got)
	}
	regs := Registrations()
	if len(regs) != 2 || regs[0].Name != "migration.openshift.io/01-quiesce-backup" || regs[0].Kind != "BackupItemActionV2" ||
		regs[1].Name != "migration.openshift.io/01-unquiesce-restore" || regs[1].Kind != "RestoreItemAction" {
		t.Fatalf("Registrations() = %+v", regs)
	}
	for _, r := range regs {
		if got := strings.Join(actiontest.AppliesTo(t, r), " "); got != want {
			t.Errorf("%s AppliesTo = %s", r.Name, got)
		}
	}
}

package volume

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
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

// livePV is the PV on the source cluster.
func livePV(policy corev1.PersistentVolumeReclaimPolicy, annotations map[string]string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1", Annotations: annotations, ResourceVersion: "7"},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              "gp2",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "/data"}},
		},
	}
}

// backupItem is the PV as Velero hands it to the action.
func backupItem(policy string, annotations ...string) *unstructured.Unstructured {
	return pvObject(map[string]any{"persistentVolumeReclaimPolicy": policy, "storageClassName": "gp2",
		"nfs": map[string]any{"server": "nfs", "path": "/data"}}, annotations...)
}

type backupFixture struct {
	client *dynamicfake.FakeDynamicClient
	hook   *logtest.Hook
	reg    action.Registration
	env    action.Env
}

func newBackupFixture(t *testing.T, objs ...runtime.Object) *backupFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &backupFixture{client: dynamicfake.NewSimpleDynamicClient(scheme, objs...)}
	var log *logrus.Logger
	log, f.hook = logtest.NewNullLogger()
	f.env = actiontest.Env()
	f.env.Log = log
	a := NewBackup(f.env, f.client.Resource(pvGVR))
	f.reg = actiontest.Registration(PVBackupName, action.KindBackup, a)
	return f
}

// verbs lists the fake's calls as "verb resource".
func (f *backupFixture) verbs() []string {
	var out []string
	for _, a := range f.client.Actions() {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func (f *backupFixture) live(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	pv, err := f.client.Resource(pvGVR).Get(context.Background(), "pv-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

func (f *backupFixture) warned() bool {
	for _, e := range f.hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			return true
		}
	}
	return false
}

func policyOf(t *testing.T, obj *unstructured.Unstructured) string {
	t.Helper()
	p, _, err := unstructured.NestedString(obj.Object, "spec", "persistentVolumeReclaimPolicy")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var moveAnn = []string{migration.MigrateTypeAnnotation, migration.ActionMove}

// TestBackupRetainsMovedPV: on every migration Backup (any type or phase) a moved PV that is not
// Retain becomes Retain on the live cluster and in the backup, with the old policy recorded.
func TestBackupRetainsMovedPV(t *testing.T) {
	backups := map[string]*velerov1.Backup{
		"final initial backup":   migrationBackup(migration.TypeFinal, migration.PhaseInitialBackup),
		"final stage backup":     migrationBackup(migration.TypeFinal, migration.PhaseStageBackup),
		"stage stage backup":     migrationBackup(migration.TypeStage, migration.PhaseStageBackup),
		"no type, no phase":      migrationBackup(migration.TypeNone, migration.PhaseNone),
		"legacy type annotation": migrationBackup(migration.TypeNone, migration.PhaseStageBackup),
	}
	backups["legacy type annotation"].Annotations[migration.LegacyTypeAnnotation] = "final"
	for name, backup := range backups {
		for _, policy := range []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle} {
			t.Run(name+"/"+string(policy), func(t *testing.T) {
				f := newBackupFixture(t, livePV(policy, map[string]string{"keep": "me"}))
				item := backupItem(string(policy), moveAnn...)
				out, _, err := actiontest.RunBackup(t, f.reg, f.env, item, backup)
				if err != nil {
					t.Fatal(err)
				}
				if got := f.verbs(); !reflect.DeepEqual(got, []string{"get persistentvolumes", "update persistentvolumes"}) {
					t.Fatalf("calls = %v", got)
				}
				live := f.live(t)
				if policyOf(t, live) != "Retain" || live.GetAnnotations()[migration.OrigReclaimPolicyAnnotation] != string(policy) ||
					live.GetAnnotations()["keep"] != "me" {
					t.Fatalf("live PV = %v", live.Object)
				}
				if nfs, _, _ := unstructured.NestedString(live.Object, "spec", "nfs", "server"); nfs != "nfs" {
					t.Fatalf("live PV lost its source: %v", live.Object)
				}
				if policyOf(t, out) != "Retain" || out.GetAnnotations()[migration.OrigReclaimPolicyAnnotation] != string(policy) ||
					out.GetAnnotations()[migration.MigrateTypeAnnotation] != migration.ActionMove {
					t.Fatalf("item = %v", out.Object)
				}
			})
		}
	}
}

// TestBackupNoLiveWrite: items the action must not write for, and what it does with them.
func TestBackupNoLiveWrite(t *testing.T) {
	final := migrationBackup(migration.TypeFinal, migration.PhaseInitialBackup)
	tests := []struct {
		name      string
		live      *corev1.PersistentVolume
		backup    *velerov1.Backup
		item      *unstructured.Unstructured
		wantCalls []string
		want      func(*unstructured.Unstructured) // nil: item unchanged
		wantWarn  bool
	}{
		{name: "non-migration backup: no API call", live: livePV("Delete", nil), backup: plainBackup(),
			item: backupItem("Delete", moveAnn...)},
		{name: "copy PV: no API call", live: livePV("Delete", nil), backup: final,
			item: backupItem("Delete", migration.MigrateTypeAnnotation, migration.ActionCopy)},
		{name: "no migrate-type: no API call", live: livePV("Delete", nil), backup: final,
			item: backupItem("Delete")},
		{name: "already Retain: read, nothing written", live: livePV("Retain", nil), backup: final,
			item: backupItem("Retain", moveAnn...), wantCalls: []string{"get persistentvolumes"}},
		{name: "already Retain from an earlier backup: item keeps its record", backup: final,
			live: livePV("Retain", map[string]string{migration.OrigReclaimPolicyAnnotation: "Delete"}),
			item: backupItem("Retain", append(moveAnn, migration.OrigReclaimPolicyAnnotation, "Delete")...), wantCalls: []string{"get persistentvolumes"}},
		{name: "live made Retain since the item was read: item follows, with the live record", backup: final,
			live: livePV("Retain", map[string]string{migration.OrigReclaimPolicyAnnotation: "Recycle"}),
			item: backupItem("Delete", moveAnn...), wantCalls: []string{"get persistentvolumes"},
			want: func(obj *unstructured.Unstructured) {
				setSpec("persistentVolumeReclaimPolicy", "Retain")(obj)
				setAnnotation(migration.OrigReclaimPolicyAnnotation, ptr("Recycle"))(obj)
			}},
		{name: "live PV gone: warning, item still Retain", backup: final,
			item: backupItem("Delete", moveAnn...), wantCalls: []string{"get persistentvolumes"}, wantWarn: true,
			want: func(obj *unstructured.Unstructured) {
				setSpec("persistentVolumeReclaimPolicy", "Retain")(obj)
				setAnnotation(migration.OrigReclaimPolicyAnnotation, ptr("Delete"))(obj)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			if tc.live != nil {
				objs = append(objs, tc.live)
			}
			f := newBackupFixture(t, objs...)
			want := tc.item.DeepCopy()
			if tc.want != nil {
				tc.want(want)
			}
			out, _, err := actiontest.RunBackup(t, f.reg, f.env, tc.item, tc.backup)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.verbs(); !reflect.DeepEqual(got, tc.wantCalls) {
				t.Fatalf("calls = %v, want %v", got, tc.wantCalls)
			}
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Fatalf("item =\n%v\nwant\n%v", out.Object, want.Object)
			}
			if f.warned() != tc.wantWarn {
				t.Fatalf("warning logged = %v, want %v", f.warned(), tc.wantWarn)
			}
			if tc.live != nil {
				if live := f.live(t); policyOf(t, live) != string(tc.live.Spec.PersistentVolumeReclaimPolicy) {
					t.Fatalf("live PV changed: %v", live.Object)
				}
			}
		})
	}
}

func conflict() error {
	return apierrors.NewConflict(schema.GroupResource{Resource: "persistentvolumes"}, "pv-1", errors.New("the object has been modified"))
}

// TestBackupConflicts: a conflicting update is retried with a fresh read, a bounded number of
// times; any other failure is an error naming the PV, and the item is not returned.
func TestBackupConflicts(t *testing.T) {
	tests := []struct {
		name      string
		conflicts int   // updates that fail with a conflict before the rest succeed
		fail      error // every update fails with this
		updates   int
		wantErr   []string
	}{
		{name: "two conflicts, then success", conflicts: 2, updates: 3},
		{name: "conflict on every attempt: bounded", conflicts: 100, updates: 5,
			wantErr: []string{"persistentvolume pv-1", "setting reclaim policy Retain", "modified"}},
		{name: "forbidden: no retry", fail: apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumes"}, "pv-1", errors.New("no")), updates: 1,
			wantErr: []string{migration.Name("02-pv-backup"), "PersistentVolume pv-1", "persistentvolume pv-1", "forbidden"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBackupFixture(t, livePV("Delete", nil))
			updates := 0
			f.client.PrependReactor("update", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
				updates++
				if tc.fail != nil {
					return true, nil, tc.fail
				}
				if updates <= tc.conflicts {
					return true, nil, conflict()
				}
				return false, nil, nil
			})
			out, _, err := actiontest.RunBackup(t, f.reg, f.env, backupItem("Delete", moveAnn...), migrationBackup(migration.TypeFinal, migration.PhaseInitialBackup))
			if updates != tc.updates {
				t.Fatalf("%d updates, want %d", updates, tc.updates)
			}
			gets := 0
			for _, v := range f.verbs() {
				if v == "get persistentvolumes" {
					gets++
				}
			}
			if gets != tc.updates {
				t.Fatalf("%d reads for %d updates: each attempt must read afresh", gets, tc.updates)
			}
			if tc.wantErr != nil {
				actiontest.ErrorNames(t, err, tc.wantErr...)
				if out != nil {
					t.Fatalf("item returned with the error: %v", out.Object)
				}
				if policyOf(t, f.live(t)) != "Delete" {
					t.Fatal("live PV changed although every update failed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if policyOf(t, f.live(t)) != "Retain" || policyOf(t, out) != "Retain" {
				t.Fatalf("live %v, item %v", f.live(t).Object, out.Object)
			}
		})
	}
}

// TestBackupErrors: malformed items and a missing client are errors naming the object and the
// field, with no API call.
func TestBackupErrors(t *testing.T) {
	final := migrationBackup(migration.TypeFinal, migration.PhaseInitialBackup)
	tests := []struct {
		name  string
		item  *unstructured.Unstructured
		parts []string
	}{
		{"annotations not an object", func() *unstructured.Unstructured {
			obj := backupItem("Delete")
			obj.Object["metadata"].(map[string]any)["annotations"] = "oops"
			return obj
		}(), []string{"PersistentVolume pv-1", "metadata.annotations: expected an object, got string"}},
		{"migrate-type not a string", func() *unstructured.Unstructured {
			obj := backupItem("Delete")
			obj.Object["metadata"].(map[string]any)["annotations"] = map[string]any{migration.MigrateTypeAnnotation: int64(3)}
			return obj
		}(), []string{"PersistentVolume pv-1", "metadata.annotations." + migration.MigrateTypeAnnotation + ": expected a string, got int64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newBackupFixture(t, livePV("Delete", nil))
			_, _, err := actiontest.RunBackup(t, f.reg, f.env, tc.item, final)
			actiontest.ErrorNames(t, err, tc.parts...)
			if calls := f.verbs(); len(calls) != 0 {
				t.Fatalf("API calls for a malformed item: %v", calls)
			}
		})
	}

	for _, tc := range []struct {
		name, field string
		spec        any
	}{
		{"spec not an object", "spec: expected an object, got string", "oops"},
		{"reclaim policy not a string", "spec.persistentVolumeReclaimPolicy: expected a string, got int64",
			map[string]any{"persistentVolumeReclaimPolicy": int64(1)}},
	} {
		t.Run(tc.name+": reported before any live write", func(t *testing.T) {
			f := newBackupFixture(t, livePV("Delete", nil))
			item := backupItem("Delete", moveAnn...)
			item.Object["spec"] = tc.spec
			_, _, err := actiontest.RunBackup(t, f.reg, f.env, item, final)
			actiontest.ErrorNames(t, err, "PersistentVolume pv-1", tc.field)
			if calls := f.verbs(); len(calls) != 0 {
				t.Fatalf("API calls for a malformed item: %v", calls)
			}
		})
	}

	t.Run("no client: a moved PV is an error, anything else passes", func(t *testing.T) {
		reg := Registrations()[0]
		_, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), backupItem("Delete", moveAnn...), final)
		actiontest.ErrorNames(t, err, "PersistentVolume pv-1", "persistentvolume pv-1", "no Kubernetes client")
		item := backupItem("Delete", moveAnn...)
		want := item.DeepCopy()
		out, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), item, plainBackup())
		if err != nil || !reflect.DeepEqual(out.Object, want.Object) {
			t.Fatalf("non-migration without client: %v, %v", out, err)
		}
	})
}

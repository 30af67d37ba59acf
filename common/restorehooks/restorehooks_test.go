package restorehooks_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/restorehooks"
	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

var execHook = []velerov1.RestoreResourceHook{{Exec: &velerov1.ExecRestoreHook{Command: []string{"true"}}}}
var initHook = []velerov1.RestoreResourceHook{{Init: &velerov1.InitRestoreHook{}}}

func restoreWith(specs ...velerov1.RestoreResourceHookSpec) *velerov1.Restore {
	return &velerov1.Restore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "r1", UID: "uid-1"},
		Spec:       velerov1.RestoreSpec{BackupName: "b1", Hooks: velerov1.RestoreHooks{Resources: specs}},
	}
}

func TestSpecHook(t *testing.T) {
	app := map[string]string{"app": "db", "tier": "data"}
	tests := []struct {
		name    string
		spec    velerov1.RestoreResourceHookSpec
		ns      string
		labels  map[string]string
		want    bool
		wantErr string
	}{
		{"no filters", velerov1.RestoreResourceHookSpec{Name: "h", PostHooks: execHook}, "app", app, true, ""},
		{"init hook counts", velerov1.RestoreResourceHookSpec{Name: "h", PostHooks: initHook}, "app", app, true, ""},
		{"no hooks to run", velerov1.RestoreResourceHookSpec{Name: "h"}, "app", app, false, ""},
		{"empty hook entry", velerov1.RestoreResourceHookSpec{Name: "h", PostHooks: []velerov1.RestoreResourceHook{{}}}, "app", app, false, ""},
		{"included namespace", velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"app"}, PostHooks: execHook}, "app", app, true, ""},
		{"other namespace", velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"other"}, PostHooks: execHook}, "app", app, false, ""},
		{"namespace glob", velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"ap*"}, PostHooks: execHook}, "app", app, true, ""},
		{"star", velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"*"}, PostHooks: execHook}, "app", app, true, ""},
		{"excluded namespace wins", velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"*"}, ExcludedNamespaces: []string{"app"}, PostHooks: execHook}, "app", app, false, ""},
		{"label selector matches", velerov1.RestoreResourceHookSpec{Name: "h", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PostHooks: execHook}, "app", app, true, ""},
		{"label selector misses", velerov1.RestoreResourceHookSpec{Name: "h", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, PostHooks: execHook}, "app", app, false, ""},
		{"expression", velerov1.RestoreResourceHookSpec{Name: "h", LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"data", "cache"}}}}, PostHooks: execHook}, "app", app, true, ""},
		{"nil labels vs selector", velerov1.RestoreResourceHookSpec{Name: "h", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PostHooks: execHook}, "app", nil, false, ""},
		// Velero hard-codes restore hooks to pods and ignores the resource filters.
		{"resource filters ignored like velero", velerov1.RestoreResourceHookSpec{Name: "h", IncludedResources: []string{"deployments"}, ExcludedResources: []string{"pods"}, PostHooks: execHook}, "app", app, true, ""},
		{"invalid selector", velerov1.RestoreResourceHookSpec{Name: "bad", LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Nope"}}}, PostHooks: execHook}, "app", app, false, "labelSelector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, got, err := restorehooks.SpecHook(restoreWith(tt.spec), tt.ns, tt.labels)
			if tt.wantErr != "" {
				actiontest.ErrorNames(t, err, tt.wantErr, tt.spec.Name)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("SpecHook = %v, %v; want %v", got, err, tt.want)
			}
			if got && name != tt.spec.Name {
				t.Fatalf("name = %q", name)
			}
		})
	}
}

func TestSpecHookFirstApplicableAndNil(t *testing.T) {
	r := restoreWith(
		velerov1.RestoreResourceHookSpec{Name: "a", IncludedNamespaces: []string{"x"}, PostHooks: execHook},
		velerov1.RestoreResourceHookSpec{Name: "b", PostHooks: execHook},
	)
	if name, ok, _ := restorehooks.SpecHook(r, "app", nil); !ok || name != "b" {
		t.Fatalf("got %q %v, want b", name, ok)
	}
	if _, ok, err := restorehooks.SpecHook(nil, "app", nil); ok || err != nil {
		t.Fatalf("nil restore: %v %v", ok, err)
	}
	if _, ok, err := restorehooks.SpecHook(restoreWith(), "app", map[string]string{"a": "b"}); ok || err != nil {
		t.Fatalf("no hook specs: %v %v", ok, err)
	}
}

func TestAnnotations(t *testing.T) {
	tests := []struct {
		ann         map[string]string
		vols, hooks bool
	}{
		{nil, false, false},
		{map[string]string{keys.VeleroBackupVolumes: "data"}, true, false},
		{map[string]string{keys.VeleroBackupVolumes: ""}, false, false},
		{map[string]string{keys.VeleroPostRestoreHookCommand: `["sh","-c","true"]`}, false, true},
		{map[string]string{keys.VeleroInitRestoreHookImage: "busybox"}, false, true},
		{map[string]string{keys.VeleroInitRestoreHookImage: ""}, false, false},
	}
	for _, tt := range tests {
		if restorehooks.HasVolumeAnnotation(tt.ann) != tt.vols || restorehooks.HasHookAnnotations(tt.ann) != tt.hooks {
			t.Errorf("%v: volumes %v hooks %v, want %v %v", tt.ann, restorehooks.HasVolumeAnnotation(tt.ann), restorehooks.HasHookAnnotations(tt.ann), tt.vols, tt.hooks)
		}
	}
}

func pvb(name, backup, podNS, pod, volume, snapshot string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
		"metadata": map[string]any{"namespace": "velero", "name": name, "labels": map[string]any{keys.VeleroBackupNameLabel: backup}},
		"spec":     map[string]any{"pod": map[string]any{"namespace": podNS, "name": pod}, "volume": volume},
	}}
	if snapshot != "" {
		u.Object["status"] = map[string]any{"snapshotID": snapshot}
	}
	return u
}

func fakeDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return actiontest.PodVolumeBackups(objs...)
}

func pod(ns, name string, annotations, labels map[string]string, volumes ...map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"namespace": ns, "name": name}}}
	u.SetAnnotations(annotations)
	u.SetLabels(labels)
	if len(volumes) > 0 {
		vs := make([]any, len(volumes))
		for i, v := range volumes {
			vs[i] = v
		}
		u.Object["spec"] = map[string]any{"volumes": vs}
	}
	return u
}

func countLists(c *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" {
			n++
		}
	}
	return n
}

func TestCheckerPod(t *testing.T) {
	pvcVol := map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}}
	projVol := map[string]any{"name": "proj", "projected": map[string]any{}}
	longBackup := strings.Repeat("b", 70)
	tests := []struct {
		name      string
		restore   *velerov1.Restore
		pvbs      []runtime.Object
		pod       *unstructured.Unstructured
		target    string
		want      restorehooks.Reasons
		wantLists int
	}{
		{"plain owned pod", restoreWith(), nil, pod("app", "web-1", nil, nil), "app", restorehooks.Reasons{}, 1},
		{"volume annotation without a pod volume backup", restoreWith(), nil, pod("app", "web-1", map[string]string{keys.VeleroBackupVolumes: "data"}, nil), "app", restorehooks.Reasons{}, 1},
		{"hook annotation", restoreWith(), nil, pod("app", "web-1", map[string]string{keys.VeleroPostRestoreHookCommand: "true"}, nil), "app", restorehooks.Reasons{Hooks: true}, 0},
		{"spec hook on destination namespace", restoreWith(velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"app-copy"}, PostHooks: execHook}),
			nil, pod("app", "web-1", nil, nil), "app-copy", restorehooks.Reasons{Hooks: true}, 0},
		{"spec hook names source namespace only", restoreWith(velerov1.RestoreResourceHookSpec{Name: "h", IncludedNamespaces: []string{"app"}, PostHooks: execHook}),
			nil, pod("app", "web-1", nil, nil), "app-copy", restorehooks.Reasons{}, 1},
		{"pvb of this pod", restoreWith(), []runtime.Object{pvb("p1", "b1", "app", "web-1", "data", "snap1")},
			pod("app", "web-1", nil, nil, pvcVol), "app-copy", restorehooks.Reasons{Volumes: true}, 1},
		{"pvb of another pod", restoreWith(), []runtime.Object{pvb("p1", "b1", "app", "web-2", "data", "snap1")},
			pod("app", "web-1", nil, nil, pvcVol), "app", restorehooks.Reasons{}, 1},
		{"pvb same name other namespace", restoreWith(), []runtime.Object{pvb("p1", "b1", "other", "web-1", "data", "snap1")},
			pod("app", "web-1", nil, nil, pvcVol), "app", restorehooks.Reasons{}, 1},
		{"pvb of another backup", restoreWith(), []runtime.Object{pvb("p1", "b2", "app", "web-1", "data", "snap1")},
			pod("app", "web-1", nil, nil, pvcVol), "app", restorehooks.Reasons{}, 1},
		{"pvb without snapshot", restoreWith(), []runtime.Object{pvb("p1", "b1", "app", "web-1", "data", "")},
			pod("app", "web-1", nil, nil, pvcVol), "app", restorehooks.Reasons{}, 1},
		{"pvb of projected volume", restoreWith(), []runtime.Object{pvb("p1", "b1", "app", "web-1", "proj", "snap1")},
			pod("app", "web-1", nil, nil, projVol), "app", restorehooks.Reasons{}, 1},
		{"long backup name uses velero's label value", func() *velerov1.Restore { r := restoreWith(); r.Spec.BackupName = longBackup; return r }(),
			[]runtime.Object{pvb("p1", longBackup[:57]+"b94440", "app", "web-1", "data", "snap1")}, pod("app", "web-1", nil, nil, pvcVol), "app", restorehooks.Reasons{Volumes: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fakeDynamic(tt.pvbs...)
			c := restorehooks.NewChecker(client)
			got, err := c.Pod(context.Background(), tt.restore, tt.pod, tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if got.Volumes != tt.want.Volumes || got.Hooks != tt.want.Hooks || got.Any() != tt.want.Any() {
				t.Fatalf("Pod = %+v, want %+v", got, tt.want)
			}
			if got.Any() && got.Detail == "" {
				t.Fatal("no detail for the log")
			}
			if n := countLists(client); n != tt.wantLists {
				t.Fatalf("%d list calls, want %d", n, tt.wantLists)
			}
		})
	}
}

func TestLongBackupLabelValue(t *testing.T) {
	// Velero labels PodVolumeBackups of long backup names with name[:57] + sha256(name)[:6].
	name := strings.Repeat("b", 70)
	r := restoreWith()
	r.Spec.BackupName = name
	client := fakeDynamic()
	if _, err := restorehooks.NewChecker(client).Pod(context.Background(), r, pod("app", "x", nil, nil), "app"); err != nil {
		t.Fatal(err)
	}
	sel := client.Actions()[0].(k8stesting.ListAction).GetListRestrictions().Labels.String()
	if !strings.HasPrefix(sel, keys.VeleroBackupNameLabel+"="+name[:57]) || len(sel) != len(keys.VeleroBackupNameLabel)+1+63 {
		t.Fatalf("selector %q", sel)
	}
	if !strings.HasSuffix(sel, "b94440") {
		t.Fatalf("selector %q does not end with the fixture's hash", sel)
	}
}

func TestCheckerListsOncePerRestore(t *testing.T) {
	client := fakeDynamic(pvb("p1", "b1", "app", "web-1", "data", "s"), pvb("p2", "b1", "app", "web-2", "data", "s"))
	c := restorehooks.NewChecker(client)
	ctx := context.Background()
	r1 := restoreWith()
	for _, name := range []string{"web-1", "web-2", "web-3", "web-1"} {
		if _, err := c.Pod(ctx, r1, pod("app", name, nil, nil), "app"); err != nil {
			t.Fatal(err)
		}
	}
	if n := countLists(client); n != 1 {
		t.Fatalf("%d lists for one restore, want 1", n)
	}
	r2 := restoreWith()
	r2.UID = "uid-2"
	got, _ := c.Pod(ctx, r2, pod("app", "web-2", nil, nil), "app")
	if n := countLists(client); n != 2 || !got.Volumes {
		t.Fatalf("second restore: %d lists, reasons %+v", n, got)
	}
}

// A failed list is never cached: a quick failure is tried again within the call (the second
// attempt answers here), a lasting one is an error naming what failed, and the next call lists
// again.
func TestCheckerListErrors(t *testing.T) {
	client := fakeDynamic(pvb("p1", "b1", "app", "web-1", "data", "snap1"))
	internal := apierrors.NewInternalError(errors.New("etcdserver: leader changed"))
	calls := retrytest.FailFirst(&client.Fake, "list", "podvolumebackups", internal, internal, internal, internal)
	c := restorehooks.NewChecker(client)
	_, err := c.Pod(context.Background(), restoreWith(), pod("app", "web-1", nil, nil), "app")
	if err == nil || !strings.Contains(err.Error(), "listing PodVolumeBackups of backup b1") || !strings.Contains(err.Error(), "3 attempts") || *calls != 3 {
		t.Fatalf("err = %v after %d calls; want the list named, after 3", err, *calls)
	}
	got, err := c.Pod(context.Background(), restoreWith(), pod("app", "web-1", nil, nil), "app")
	if err != nil || !got.Volumes || *calls != 5 {
		t.Fatalf("next call: %+v, %v after %d calls; want the volumes, after 5", got, err, *calls)
	}
}

// Without a client to list PodVolumeBackups, what the backed-up pod says about volumes stands in.
func TestCheckerNilClient(t *testing.T) {
	c := restorehooks.NewChecker(nil)
	got, err := c.Pod(context.Background(), restoreWith(), pod("app", "web-1", nil, nil), "app")
	if err != nil || got.Any() {
		t.Fatalf("%+v %v", got, err)
	}
	got, err = c.Pod(context.Background(), restoreWith(), pod("app", "web-1", map[string]string{keys.VeleroBackupVolumes: "data"}, nil), "app")
	if err != nil || !got.Volumes || !strings.Contains(got.Detail, keys.VeleroBackupVolumes) {
		t.Fatalf("volume annotation without a client: %+v %v", got, err)
	}
}

package namespace

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

var sourceRanges = map[string]string{
	keys.SCCUIDRange:           "1000640000/10000",
	keys.SCCMCS:                "s0:c26,c5",
	keys.SCCSupplementalGroups: "1000640000/10000",
}

func migrationRestore(mapping map[string]string) *velerov1.Restore {
	r := actiontest.Restore(mapping)
	r.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.StageRestoreLabel: "mig-uid"}
	return r
}

// namespaceItem is a backed-up Namespace with the SCC ranges and other annotations.
func namespaceItem(name string) *unstructured.Unstructured {
	obj := actiontest.Object("v1", "Namespace", "", name, map[string]any{"spec": map[string]any{"finalizers": []any{"kubernetes"}}})
	a := map[string]string{"openshift.io/display-name": "My app", "openshift.io/requester": "alice"}
	for k, v := range sourceRanges {
		a[k] = v
	}
	obj.SetAnnotations(a)
	obj.SetLabels(map[string]string{migration.IncludedInStageBackupLabel: "mig-uid"})
	return obj
}

func existing(name string, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
}

type fixture struct {
	kube *fake.Clientset
	env  action.Env
	reg  action.Registration
	logs *logtest.Hook
}

func newFixture(objs ...runtime.Object) *fixture {
	kube := fake.NewSimpleClientset(objs...)
	log, hook := logtest.NewNullLogger()
	env := actiontest.Env()
	env.Log = log
	return &fixture{kube: kube, env: env, logs: hook,
		reg: actiontest.Registration(RestoreName, action.KindRestore, NewRestore(env, kube.CoreV1()))}
}

func (f *fixture) warnings() []string {
	var out []string
	for _, e := range f.logs.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e.Message)
		}
	}
	return out
}

func (f *fixture) gets() []string {
	var out []string
	for _, a := range f.kube.Actions() {
		if g, ok := a.(k8stesting.GetAction); ok && a.GetResource().Resource == "namespaces" {
			out = append(out, g.GetName())
		}
	}
	return out
}

func TestRestore(t *testing.T) {
	differing := map[string]string{keys.SCCUIDRange: "1000700000/10000", keys.SCCMCS: "s0:c27,c4", keys.SCCSupplementalGroups: sourceRanges[keys.SCCSupplementalGroups]}
	tests := []struct {
		name     string
		restore  *velerov1.Restore
		cluster  []runtime.Object
		item     *unstructured.Unstructured
		wantGets []string
		// wantWarnings are substrings, one per expected warning.
		wantWarnings [][]string
	}{
		{"not a migration: no API call", actiontest.Restore(nil), []runtime.Object{existing("app", differing)}, namespaceItem("app"), nil, nil},
		{"destination absent", migrationRestore(nil), nil, namespaceItem("app"), []string{"app"}, nil},
		{"destination has the same ranges", migrationRestore(nil), []runtime.Object{existing("app", sourceRanges)}, namespaceItem("app"), []string{"app"}, nil},
		{"destination has no ranges yet", migrationRestore(nil), []runtime.Object{existing("app", nil)}, namespaceItem("app"), []string{"app"}, nil},
		{"destination has other ranges", migrationRestore(nil), []runtime.Object{existing("app", differing)}, namespaceItem("app"), []string{"app"},
			[][]string{
				{"app", keys.SCCUIDRange, `"1000700000/10000"`, `"1000640000/10000"`},
				{"app", keys.SCCMCS, `"s0:c27,c4"`, `"s0:c26,c5"`},
			}},
		{"mapped: the mapped namespace is compared", migrationRestore(map[string]string{"app": "app2"}),
			[]runtime.Object{existing("app", differing), existing("app2", map[string]string{keys.SCCMCS: "s0:c1,c0"})}, namespaceItem("app"), []string{"app2"},
			[][]string{{"app2", keys.SCCMCS, `"s0:c1,c0"`, `"s0:c26,c5"`}}},
		{"mapped target absent", migrationRestore(map[string]string{"app": "app2"}), []runtime.Object{existing("app", differing)}, namespaceItem("app"), []string{"app2"}, nil},
		{"backup without ranges: no API call", migrationRestore(nil), []runtime.Object{existing("app", differing)},
			actiontest.Object("v1", "Namespace", "", "app", nil), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.cluster...)
			f.kube.ClearActions()
			want := actiontest.ResetLikeVelero(tt.item.DeepCopy())
			out, err := actiontest.RunRestore(t, f.reg, f.env, tt.item, tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := action.Object(out.UpdatedItem)
			if out.SkipRestore || !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("namespace changed or skipped (skip=%v)\n got %v\nwant %v", out.SkipRestore, got.Object, want.Object)
			}
			if gets := f.gets(); !reflect.DeepEqual(gets, tt.wantGets) {
				t.Fatalf("namespace gets %v, want %v", gets, tt.wantGets)
			}
			warnings := f.warnings()
			if len(warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.wantWarnings))
			}
			for i, parts := range tt.wantWarnings {
				for _, p := range parts {
					if !strings.Contains(warnings[i], p) {
						t.Fatalf("warning %q does not name %q", warnings[i], p)
					}
				}
			}
		})
	}
}

func TestFailedGetIsAWarning(t *testing.T) {
	f := newFixture()
	f.kube.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	out, err := actiontest.RunRestore(t, f.reg, f.env, namespaceItem("app"), migrationRestore(nil))
	if err != nil || out.SkipRestore {
		t.Fatalf("err=%v skip=%v", err, out.SkipRestore)
	}
	if w := f.warnings(); len(w) != 1 || !strings.Contains(w[0], "cannot read destination namespace app") {
		t.Fatalf("warnings %q", w)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(o *unstructured.Unstructured)
		field string
	}{
		{"annotations not an object", func(o *unstructured.Unstructured) { o.Object["metadata"].(map[string]any)["annotations"] = "x" }, "metadata.annotations"},
		{"range not a string", func(o *unstructured.Unstructured) {
			o.Object["metadata"].(map[string]any)["annotations"].(map[string]any)[keys.SCCMCS] = int64(3)
		}, "metadata.annotations." + keys.SCCMCS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			item := namespaceItem("app")
			tt.edit(item)
			_, err := actiontest.RunRestore(t, f.reg, f.env, item, migrationRestore(nil))
			actiontest.ErrorNames(t, err, tt.field, "Namespace app", RestoreName)
			actiontest.NoPanic(t, []byte(tt.name), err)
		})
	}
}

func TestRegistrations(t *testing.T) {
	regs := Registrations()
	if len(regs) != 1 || regs[0].Name != "migration.openshift.io/06-namespace-restore" || regs[0].Kind != action.KindRestore {
		t.Fatalf("registrations %+v", regs)
	}
	if _, err := regs[0].New(actiontest.Env()); err == nil {
		t.Fatal("built without API clients")
	}
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	reg := action.Registration{Name: regs[0].Name, Kind: regs[0].Kind, New: func(action.Env) (any, error) { return regs[0].New(env) }}
	if got := actiontest.AppliesTo(t, reg); !reflect.DeepEqual(got, []string{"namespaces"}) {
		t.Fatalf("AppliesTo %v", got)
	}
}

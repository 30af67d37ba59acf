package build

import (
	"reflect"
	"testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
)

func TestRestoreSkipsBuilds(t *testing.T) {
	for _, mapping := range []map[string]string{nil, {"app": "app2"}} {
		b := actiontest.FromSource(actiontest.Object("build.openshift.io/v1", "Build", "app", "web-1", map[string]any{
			"spec": map[string]any{"strategy": map[string]any{"type": "Source"}}}))
		want := b.DeepCopy()
		out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), b, actiontest.Restore(mapping))
		if err != nil || !out.SkipRestore {
			t.Fatalf("Execute: %v, skip %v; want skipped", err, out != nil && out.SkipRestore)
		}
		got, _ := action.Object(out.UpdatedItem)
		if !reflect.DeepEqual(got.Object, want.Object) {
			t.Fatalf("item changed: %v", got.Object)
		}
	}
}

func TestDisabledRestoresBuilds(t *testing.T) {
	env := actiontest.Env()
	cfg := config.Default()
	cfg.DisabledActions[RestoreName] = true
	env.Config = config.Static(cfg)
	out, err := actiontest.RunRestore(t, Registrations()[0], env, actiontest.Object("build.openshift.io/v1", "Build", "app", "web-1", nil), actiontest.Restore(nil))
	if err != nil || out.SkipRestore {
		t.Fatalf("disabled action: %v, skip %v; want pass-through", err, out != nil && out.SkipRestore)
	}
}

func TestAppliesTo(t *testing.T) {
	sel, _ := NewRestore(actiontest.Env()).AppliesTo()
	if !reflect.DeepEqual(sel.IncludedResources, []string{"builds.build.openshift.io"}) {
		t.Fatalf("AppliesTo = %v", sel.IncludedResources)
	}
}

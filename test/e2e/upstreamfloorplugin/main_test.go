package main

import (
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

// The peer baseline is only a fair comparison if it makes the calls upstream makes: its 37
// registrations, each of the kind upstream serves it as, every one applying to named resources.
func TestUpstreamTable(t *testing.T) {
	regs := Registrations()
	if len(regs) != 37 {
		t.Fatalf("%d registrations, want upstream's 37", len(regs))
	}
	kinds := map[action.Kind]int{}
	seen := map[string]bool{}
	for _, r := range regs {
		if seen[r.Name] {
			t.Errorf("%s registered twice", r.Name)
		}
		seen[r.Name] = true
		kinds[r.Kind]++
		a, err := action.Wrap(r, actiontest.Env())
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		sel, err := a.(interface {
			AppliesTo() (velero.ResourceSelector, error)
		}).AppliesTo()
		if err != nil || len(sel.IncludedResources) == 0 {
			t.Errorf("%s: AppliesTo = %+v, %v; want named resources", r.Name, sel, err)
		}
	}
	want := map[action.Kind]int{action.KindBackup: 9, action.KindRestore: 26, action.KindRestoreV2: 1, action.KindItemBlock: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d registrations of kind %s, want %d", kinds[k], k, n)
		}
	}
}

// Every action hands the item back unchanged: the floor costs Velero the calls and nothing else.
func TestUpstreamActionsPassItemsThrough(t *testing.T) {
	item := actiontest.Object("v1", "Pod", "app", "web", map[string]any{"spec": map[string]any{}})
	for _, r := range Registrations() {
		switch r.Kind {
		case action.KindBackup:
			out, extra, err := actiontest.RunBackup(t, r, actiontest.Env(), item.DeepCopy(), actiontest.Backup())
			if err != nil || len(extra) != 0 || out.GetName() != "web" || len(out.GetAnnotations()) != 0 {
				t.Errorf("%s: %v, %v, %v; want the item unchanged", r.Name, out, extra, err)
			}
		case action.KindRestore, action.KindRestoreV2:
			out, err := actiontest.RunRestore(t, r, actiontest.Env(), item.DeepCopy(), actiontest.Restore(nil))
			if err != nil || out.SkipRestore || len(out.AdditionalItems) != 0 {
				t.Errorf("%s: %+v, %v; want the item restored unchanged", r.Name, out, err)
			}
		}
	}
}

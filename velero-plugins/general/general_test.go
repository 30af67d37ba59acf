package general

import (
	"reflect"
	"regexp"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/client-go/rest"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/velero-plugins/build"
	"github.com/velero-openshift/plugins/velero-plugins/imagetag"
	"github.com/velero-openshift/plugins/velero-plugins/nonadmin"
)

// registered is the public contract: the names users put in plugin config and read in logs.
var registered = []struct {
	name string
	kind action.Kind
}{
	{"openshift.io/01-common-backup", action.KindBackup},
	{"openshift.io/01-common-restore", action.KindRestore},
	{"openshift.io/02-serviceaccount-backup", action.KindBackup},
	{"openshift.io/02-serviceaccount-itemblock", action.KindItemBlock},
	{"openshift.io/02-serviceaccount-restore", action.KindRestore},
	{"openshift.io/03-pod-restore", action.KindRestore},
	{"openshift.io/03-deploymentconfig-backup", action.KindBackup},
	{"openshift.io/04-deploymentconfig-restore", action.KindRestore},
	{"openshift.io/04-replicationcontroller-backup", action.KindBackup},
	{"openshift.io/05-replicationcontroller-restore", action.KindRestore},
	{"openshift.io/05-configmap-backup", action.KindBackup},
	{"openshift.io/13-configmap-restore", action.KindRestore},
	{"openshift.io/06-imagestreamtag-backup", action.KindBackup},
	{"openshift.io/17-imagestreamtag-restore", action.KindRestoreV2},
	{"openshift.io/06-job-restore", action.KindRestore},
	{"openshift.io/07-workload-restore", action.KindRestore},
	{"openshift.io/08-build-restore", action.KindRestore},
	{"openshift.io/09-buildconfig-restore", action.KindRestore},
	{"openshift.io/10-route-restore", action.KindRestore},
	{"openshift.io/11-service-restore", action.KindRestore},
	{"openshift.io/12-secret-restore", action.KindRestore},
	{"openshift.io/14-scc-restore", action.KindRestore},
	{"openshift.io/15-rolebinding-restore", action.KindRestore},
	{"openshift.io/16-hpa-restore", action.KindRestore},
	{"openshift.io/18-imagetag-restore", action.KindRestore},
	{"openshift.io/07-imagestream-backup", action.KindBackup},
	{"openshift.io/19-imagestream-restore", action.KindRestore},
	{"openshift.io/20-nonadmin-restore", action.KindRestore},
}

var nameRE = regexp.MustCompile(`^openshift\.io/\d\d-[a-z0-9-]+$`)

// TestTable checks every registered name is well formed and unique per kind, every action builds
// from the Env the binaries give it (clients that are never contacted here), and every AppliesTo
// names resources: an empty selector would match every item, the cost a plugin must never impose.
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	regs := Registrations()
	if len(regs) != len(registered) {
		t.Errorf("%d registrations, want %d", len(regs), len(registered))
	}
	for i, r := range regs {
		if i < len(registered) && (r.Name != registered[i].name || r.Kind != registered[i].kind) {
			t.Errorf("row %d = %s %s, want %s %s", i, r.Name, r.Kind, registered[i].name, registered[i].kind)
		}
	}
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	for _, r := range regs {
		if !nameRE.MatchString(r.Name) {
			t.Errorf("%s: name does not follow openshift.io/<NN>-<name>", r.Name)
		}
		key := string(r.Kind) + " " + r.Name
		if seen[key] {
			t.Errorf("%s registered twice as %s", r.Name, r.Kind)
		}
		seen[key] = true
		a, err := action.Wrap(r, env)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		sel, err := a.(interface {
			AppliesTo() (velero.ResourceSelector, error)
		}).AppliesTo()
		if err != nil || len(sel.IncludedResources) == 0 {
			t.Errorf("%s: AppliesTo = %+v, %v; want named resources", r.Name, sel, err)
		}
		for _, res := range sel.IncludedResources {
			if res == "*" {
				t.Errorf("%s: AppliesTo matches every resource", r.Name)
			}
		}
	}
}

// TestSkippers runs the skip-only actions on an item of each of their resources.
func TestSkippers(t *testing.T) {
	for _, tt := range []struct {
		rows             []action.Registration
		apiVersion, kind string
		resources        []string
	}{
		{build.Registrations(), "build.openshift.io/v1", "Build", []string{"builds.build.openshift.io"}},
		{imagetag.Registrations(), "image.openshift.io/v1", "ImageTag", []string{"imagetags.image.openshift.io"}},
		{nonadmin.Registrations(), "oadp.openshift.io/v1alpha1", "NonAdminBackup", []string{
			"nonadminbackups.oadp.openshift.io", "nonadminrestores.oadp.openshift.io", "nonadminbackupstoragelocations.oadp.openshift.io"}},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			if len(tt.rows) != 1 || tt.rows[0].Kind != action.KindRestore {
				t.Fatalf("rows = %+v", tt.rows)
			}
			a, err := action.Wrap(tt.rows[0], actiontest.Env())
			if err != nil {
				t.Fatal(err)
			}
			sel, _ := a.(*action.GuardedRestore).AppliesTo()
			if !reflect.DeepEqual(sel.IncludedResources, tt.resources) {
				t.Fatalf("AppliesTo = %v, want %v", sel.IncludedResources, tt.resources)
			}
			out, err := actiontest.RunRestore(t, tt.rows[0], actiontest.Env(), actiontest.Object(tt.apiVersion, tt.kind, "app", "x", nil), actiontest.Restore(nil))
			if err != nil || !out.SkipRestore {
				t.Fatalf("out = %+v, err = %v; want skipped", out, err)
			}
		})
	}
}

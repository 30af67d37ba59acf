package general

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/build"
	"github.com/velero-openshift/plugins/velero-plugins/imagetag"
	"github.com/velero-openshift/plugins/velero-plugins/nonadmin"
)

// workloadsAndImages are the items whose restore writes the informational restore annotations
// (SPEC §4): pods, every workload kind, BuildConfigs, ImageStreams and ImageStreamTags.
var workloadsAndImages = []string{"pods", "deployments.apps", "deploymentconfigs.apps.openshift.io", "replicasets.apps", "replicationcontrollers", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch", "buildconfigs.build.openshift.io", "imagestreams.image.openshift.io", "imagestreamtags.image.openshift.io"}

// registered is the public contract (SPEC §4): the names users put in plugin config and read in
// logs, the kind Velero serves each as, and exactly the resources each applies to (every match is
// one gRPC call per item).
var registered = []struct {
	name      string
	kind      action.Kind
	resources []string
}{
	{"openshift.io/02-serviceaccount-backup", action.KindBackup, []string{"serviceaccounts"}},
	{"openshift.io/02-serviceaccount-itemblock", action.KindItemBlock, []string{"serviceaccounts"}},
	{"openshift.io/02-serviceaccount-restore", action.KindRestore, []string{"serviceaccounts"}},
	{"openshift.io/03-pod-restore", action.KindRestore, []string{"pods"}},
	{"openshift.io/03-deploymentconfig-backup", action.KindBackup, []string{"deploymentconfigs.apps.openshift.io"}},
	{"openshift.io/04-deploymentconfig-restore", action.KindRestore, []string{"deploymentconfigs.apps.openshift.io"}},
	{"openshift.io/04-replicationcontroller-backup", action.KindBackup, []string{"replicationcontrollers"}},
	{"openshift.io/05-replicationcontroller-restore", action.KindRestore, []string{"replicationcontrollers"}},
	{"openshift.io/13-configmap-restore", action.KindRestore, []string{"configmaps"}},
	{"openshift.io/06-imagestreamtag-backup", action.KindBackup, []string{"imagestreamtags.image.openshift.io"}},
	{"openshift.io/17-imagestreamtag-restore", action.KindRestoreV2, []string{"imagestreamtags.image.openshift.io"}},
	{"openshift.io/06-job-restore", action.KindRestore, []string{"jobs.batch"}},
	{"openshift.io/07-workload-restore", action.KindRestore, []string{"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "cronjobs.batch"}},
	{"openshift.io/08-build-restore", action.KindRestore, []string{"builds.build.openshift.io"}},
	{"openshift.io/09-buildconfig-restore", action.KindRestore, []string{"buildconfigs.build.openshift.io"}},
	{"openshift.io/10-route-restore", action.KindRestore, []string{"routes.route.openshift.io"}},
	{"openshift.io/11-service-restore", action.KindRestore, []string{"services"}},
	{"openshift.io/12-secret-restore", action.KindRestore, []string{"secrets"}},
	{"openshift.io/14-scc-restore", action.KindRestore, []string{"securitycontextconstraints.security.openshift.io"}},
	{"openshift.io/15-rolebinding-restore", action.KindRestore, []string{"rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io", "rolebindings.authorization.openshift.io", "clusterrolebindings.authorization.openshift.io"}},
	{"openshift.io/16-hpa-restore", action.KindRestore, []string{"horizontalpodautoscalers.autoscaling"}},
	{"openshift.io/18-imagetag-restore", action.KindRestore, []string{"imagetags.image.openshift.io"}},
	{"openshift.io/07-imagestream-backup", action.KindBackup, []string{"imagestreams.image.openshift.io"}},
	{"openshift.io/19-imagestream-restore", action.KindRestore, []string{"imagestreams.image.openshift.io"}},
	{"openshift.io/07-imagestream-delete", action.KindDelete, []string{"imagestreams.image.openshift.io"}},
	{"openshift.io/20-nonadmin-restore", action.KindRestore, []string{"nonadminbackups.oadp.openshift.io", "nonadminrestores.oadp.openshift.io", "nonadminbackupstoragelocations.oadp.openshift.io"}},
}

var nameRE = regexp.MustCompile(`^openshift\.io/\d\d-[a-z0-9-]+$`)

// TestTable checks every registered name is well formed and unique per kind, every action builds
// from the Env the binaries give it (clients that are never contacted here), and every AppliesTo
// names exactly the resources of the contract: an empty selector would match every item, the
// cost a plugin must never impose.
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
	wantResources := map[string][]string{}
	for _, r := range registered {
		wantResources[r.name] = r.resources
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
		if want, ok := wantResources[r.Name]; ok && !reflect.DeepEqual(sel.IncludedResources, want) {
			t.Errorf("%s: AppliesTo = %q, want %q", r.Name, sel.IncludedResources, want)
		}
		for _, res := range sel.IncludedResources {
			if res == "*" {
				t.Errorf("%s: AppliesTo matches every resource", r.Name)
			}
		}
	}
}

// TestSkippers runs the skip-only actions on items of their resources (TestTable pins which).
func TestSkippers(t *testing.T) {
	for _, tt := range []struct {
		rows             []action.Registration
		apiVersion, kind string
	}{
		{build.Registrations(), "build.openshift.io/v1", "Build"},
		{imagetag.Registrations(), "image.openshift.io/v1", "ImageTag"},
		{nonadmin.Registrations(), "oadp.openshift.io/v1alpha1", "NonAdminBackup"},
		{nonadmin.Registrations(), "oadp.openshift.io/v1alpha1", "NonAdminRestore"},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			if len(tt.rows) != 1 || tt.rows[0].Kind != action.KindRestore {
				t.Fatalf("rows = %+v", tt.rows)
			}
			out, err := actiontest.RunRestore(t, tt.rows[0], actiontest.Env(), actiontest.Object(tt.apiVersion, tt.kind, "app", "x", nil), actiontest.Restore(nil))
			if err != nil || !out.SkipRestore {
				t.Fatalf("out = %+v, err = %v; want skipped", out, err)
			}
		})
	}
}

// appliesTo reports whether the action of r, built from env, selects resource.
func appliesTo(t *testing.T, r action.Registration, env action.Env, resource string) bool {
	t.Helper()
	a, err := action.Wrap(r, env)
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	sel, err := a.(interface {
		AppliesTo() (velero.ResourceSelector, error)
	}).AppliesTo()
	if err != nil {
		t.Fatalf("%s AppliesTo: %v", r.Name, err)
	}
	return slices.Contains(sel.IncludedResources, resource)
}

// A route backed up and restored by this plugin's actions, as Velero runs them: a host the
// source generated is cleared so the destination generates one on its own apps domain, and a host
// the user customised (here of the generated form <name>-<ns>. on another domain) is kept even
// though OpenShift left the host.generated annotation behind. No backup action is called for
// routes: the source apps domain is what the source's default router wrote in the route's status
// when it admitted it.
func TestRouteHostThroughBackupAndRestore(t *testing.T) {
	const routes = "routes.route.openshift.io"
	unreachable := clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	source := actiontest.Env()
	source.Clients = unreachable
	source.Facts = clusterfacts.Static{KubeVersion: "1.29", OpenShiftVersion: "4.16.3", RegistryHostname: actiontest.SourceRegistry,
		AppsDomain: actiontest.SourceApps, RegistryEnabled: true}
	destination := actiontest.Env()
	destination.Clients = unreachable
	for _, tt := range []struct {
		host    string
		cleared bool
	}{
		{"web-app." + actiontest.SourceApps, true},
		{"web-app.shop.example.com", false},
		{"shop.example.com", false},
	} {
		t.Run(tt.host, func(t *testing.T) {
			item := actiontest.Object("route.openshift.io/v1", "Route", "app", "web", map[string]any{
				"spec": map[string]any{"host": tt.host, "to": map[string]any{"kind": "Service", "name": "web"}}})
			item.SetAnnotations(map[string]string{keys.HostGenerated: "true"})
			item.Object["status"] = map[string]any{"ingress": []any{map[string]any{"host": tt.host, "routerName": "default",
				"routerCanonicalHostname": "router-default." + actiontest.SourceApps}}}
			for _, r := range Registrations() {
				if r.Kind == action.KindBackup && appliesTo(t, r, source, routes) {
					t.Fatalf("%s is called for every route at backup", r.Name)
				}
			}
			for _, r := range Registrations() {
				if (r.Kind == action.KindRestore || r.Kind == action.KindRestoreV2) && appliesTo(t, r, destination, routes) {
					out, err := actiontest.RunRestore(t, r, destination, item, actiontest.Restore(map[string]string{"app": "app2"}))
					if err != nil || out.SkipRestore {
						t.Fatalf("%s: %v (skip %v)", r.Name, err, out != nil && out.SkipRestore)
					}
					if item, err = action.Object(out.UpdatedItem); err != nil {
						t.Fatal(err)
					}
				}
			}
			host, found, _ := unstructured.NestedString(item.Object, "spec", "host")
			if tt.cleared && found {
				t.Fatalf("spec.host = %q, want it cleared (generated on the source)", host)
			}
			if !tt.cleared && host != tt.host {
				t.Fatalf("spec.host = %q, want %q kept (customised)", host, tt.host)
			}
		})
	}
}

// The source's internal registry reached under its other names (the service's
// .svc.cluster.local form, the external hostnames images.config reported) is the same registry:
// a workload backed up by an earlier version of this plugin, which recorded those names on it,
// gets those references rewritten like the recorded hostname; a truly external image stays.
// Backed up by this version (nothing recorded), the service's names of OpenShift's registry are
// rewritten, the external hostnames only the source knew are not.
func TestInternalRegistryNamesThroughRestore(t *testing.T) {
	const (
		deployments = "deployments.apps"
		svc         = "image-registry.openshift-image-registry.svc:5000"
		local       = "image-registry.openshift-image-registry.svc.cluster.local:5000"
		route       = "default-route-openshift-image-registry." + actiontest.SourceApps
		dst         = actiontest.DestinationRegistry
	)
	destination := actiontest.Env()
	destination.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	containers := func(images ...string) []any {
		var out []any
		for i, im := range images {
			out = append(out, map[string]any{"name": fmt.Sprintf("c%d", i), "image": im})
		}
		return out
	}
	for _, tt := range []struct {
		name     string
		recorded map[string]string
		want     []any
	}{
		{"recorded by an earlier version", map[string]string{keys.BackupRegistryHostname: svc,
			keys.BackupRegistryExternalHostnames: route + ",registry.shop.example.com", keys.BackupServerVersion: "1.29"},
			containers(dst+"/app2/web:v1", dst+"/app2/api:v2", dst+"/app2/worker:v3", dst+"/app2/cron:v4", "quay.io/app/proxy:v5", "docker.io/app/web:v1")},
		{"nothing recorded", nil,
			containers(dst+"/app2/web:v1", dst+"/app2/api:v2", route+"/app/worker:v3", "REGISTRY.shop.example.com/app/cron:v4", "quay.io/app/proxy:v5", "docker.io/app/web:v1")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.Object("apps/v1", "Deployment", "app", "web", map[string]any{"spec": map[string]any{
				"template": map[string]any{"spec": map[string]any{"containers": containers(
					svc+"/app/web:v1", local+"/app/api:v2", route+"/app/worker:v3", "REGISTRY.shop.example.com/app/cron:v4",
					"quay.io/app/proxy:v5", "docker.io/app/web:v1",
				)}}}})
			item.SetAnnotations(tt.recorded)
			for _, r := range Registrations() {
				if r.Kind == action.KindRestore && appliesTo(t, r, destination, deployments) {
					out, err := actiontest.RunRestore(t, r, destination, item, actiontest.Restore(map[string]string{"app": "app2"}))
					if err != nil || out.SkipRestore {
						t.Fatalf("%s: %v", r.Name, err)
					}
					if item, err = action.Object(out.UpdatedItem); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, _, _ := unstructured.NestedSlice(item.Object, "spec", "template", "spec", "containers")
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("containers\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// No general action is called per item at backup for the kinds whose calls bought nothing a
// restore needs (SPEC §4 behaviour kept by the restore): pods, every workload kind, BuildConfigs,
// ConfigMaps, routes, secrets; and each pod, workload and image item is handled by exactly one
// restore action that writes the restore annotations, so they cost no call of their own.
func TestOneCallPerItemOnlyWhereItBuysSomething(t *testing.T) {
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	for _, res := range []string{"pods", "deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch",
		"cronjobs.batch", "buildconfigs.build.openshift.io", "configmaps", "routes.route.openshift.io", "secrets"} {
		for _, r := range Registrations() {
			if (r.Kind == action.KindBackup || r.Kind == action.KindItemBlock) && appliesTo(t, r, env, res) {
				t.Errorf("%s is called for every %s at backup", r.Name, res)
			}
		}
	}
	for _, res := range workloadsAndImages {
		var stamping, restoring []string
		for _, r := range Registrations() {
			if (r.Kind == action.KindRestore || r.Kind == action.KindRestoreV2) && appliesTo(t, r, env, res) {
				restoring = append(restoring, r.Name)
				if slices.Contains(RestoreFactsActions, r.Name) {
					stamping = append(stamping, r.Name)
				}
			}
		}
		if len(restoring) != 1 || len(stamping) != 1 {
			t.Errorf("%s: restored by %v, of which %v write the restore annotations; want one action doing both", res, restoring, stamping)
		}
	}
	for name := range config.RetiredActions {
		for _, r := range Registrations() {
			if r.Name == name {
				t.Errorf("%s is registered but listed as retired (disabledActions naming it is warned about)", name)
			}
		}
	}
}

// An item whose metadata.annotations is not a map of strings is an error naming the field for
// every action that edits annotations, never silently replaced by a map holding only the action's
// own entries (which would drop the item's annotations without a word).
func TestMalformedAnnotationsAreAnErrorNamingTheField(t *testing.T) {
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"}) // never contacted
	byName := map[string]action.Registration{}
	for _, r := range Registrations() {
		byName[r.Name] = r
	}
	pod := func() *unstructured.Unstructured {
		return actiontest.Object("v1", "Pod", "app", "web", map[string]any{"spec": map[string]any{"containers": []any{}}})
	}
	istag := func() *unstructured.Unstructured {
		return actiontest.Object("image.openshift.io/v1", "ImageStreamTag", "app", "web:v1", map[string]any{"tag": map[string]any{
			"name": "v1", "from": map[string]any{"kind": "ImageStreamTag", "name": "web:latest"},
			"annotations": map[string]any{"description": "v1"}}})
	}
	stream := func() *unstructured.Unstructured {
		return actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"spec": map[string]any{}})
	}
	route := func() *unstructured.Unstructured {
		return actiontest.Object("route.openshift.io/v1", "Route", "app", "web", map[string]any{"spec": map[string]any{"host": "web-app." + actiontest.SourceApps}})
	}
	malformed := []struct {
		name  string
		value any
		field string
	}{
		{"not a map", "description=v1", "metadata.annotations"},
		{"a value not a string", map[string]any{keys.HostGenerated: "true", "replicas": int64(3)}, "metadata.annotations.replicas"},
	}
	for _, tt := range []struct {
		action string
		item   func() *unstructured.Unstructured
	}{
		{"openshift.io/03-pod-restore", pod},
		{"openshift.io/07-workload-restore", func() *unstructured.Unstructured {
			return actiontest.Object("apps/v1", "Deployment", "app", "web", map[string]any{"spec": map[string]any{}})
		}},
		{"openshift.io/06-imagestreamtag-backup", istag},
		{"openshift.io/17-imagestreamtag-restore", istag},
		{"openshift.io/10-route-restore", route},
		{"openshift.io/19-imagestream-restore", stream},
	} {
		r, ok := byName[tt.action]
		if !ok {
			t.Fatalf("%s not registered", tt.action)
		}
		for _, m := range malformed {
			t.Run(tt.action+"/"+m.name, func(t *testing.T) {
				item := tt.item()
				item.Object["metadata"].(map[string]any)["annotations"] = m.value
				var err error
				if r.Kind == action.KindBackup {
					_, _, err = actiontest.RunBackup(t, r, env, item, actiontest.Backup())
				} else {
					_, err = actiontest.RunRestore(t, r, env, item, actiontest.Restore(nil))
				}
				actiontest.ErrorNames(t, err, tt.action, m.field)
			})
		}
	}
}

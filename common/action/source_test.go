package action_test

import (
	"slices"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
)

// The source registry a restore rewrites from. Items backed up by earlier versions of this plugin
// and by the upstream plugin carry it (openshift.io/backup-registry-hostname), possibly a
// customised host, and rewrite from exactly that, an empty record meaning "no internal
// registry". Items on which the backup recorded nothing (this version visits no pod or workload
// at backup) rewrite from OpenShift's own registry hostnames, and from the host the destination's
// plugin config names with backupRegistryHostname first.
func TestRestoreItemSourceRegistry(t *testing.T) {
	const custom = "registry.a.example.com:5000"
	const (
		ocp4      = "image-registry.openshift-image-registry.svc:5000"
		ocp4Local = "image-registry.openshift-image-registry.svc.cluster.local:5000"
		ocp3      = "docker-registry.default.svc:5000"
	)
	annotated := func(a map[string]string) *unstructured.Unstructured {
		u := actiontest.Object("v1", "Pod", "app", "web", nil)
		u.SetAnnotations(a)
		return u
	}
	for _, tt := range []struct {
		name             string
		item, fromBackup *unstructured.Unstructured
		configured       string
		host             string
		alsoSource       []string
		notSource        []string
		assumed          bool
	}{
		{name: "recorded custom host (earlier versions, upstream)", item: annotated(map[string]string{keys.BackupRegistryHostname: custom}),
			host: custom, notSource: []string{ocp4, ocp3}},
		{name: "recorded custom host, config names another", item: annotated(map[string]string{keys.BackupRegistryHostname: custom}),
			configured: "other.example.com", host: custom, notSource: []string{"other.example.com"}},
		{name: "recorded with external hostnames", item: annotated(map[string]string{keys.BackupRegistryHostname: custom,
			keys.BackupRegistryExternalHostnames: "default-route.apps.a.example.com"}),
			host: custom, alsoSource: []string{"default-route.apps.a.example.com"}},
		{name: "recorded on the backed-up item only", item: annotated(nil),
			fromBackup: annotated(map[string]string{keys.BackupRegistryHostname: custom}), host: custom, notSource: []string{ocp4}},
		{name: "recorded empty: the source had no internal registry", item: annotated(map[string]string{keys.BackupRegistryHostname: ""}),
			host: "", notSource: []string{ocp4, ocp3}},
		{name: "restored earlier onto the backed-up cluster: the registry it was rewritten to then",
			item: annotated(map[string]string{keys.BackupRegistryHostname: "registry.w.example.com", keys.RestoreRegistryHostname: custom}),
			host: custom, notSource: []string{"registry.w.example.com", ocp4}},
		{name: "recorded by an earlier version after an earlier restore (both the same)",
			item: annotated(map[string]string{keys.BackupRegistryHostname: custom, keys.RestoreRegistryHostname: custom,
				keys.BackupRegistryExternalHostnames: "default-route.apps.a.example.com"}),
			host: custom, alsoSource: []string{"default-route.apps.a.example.com"}},
		{name: "restored earlier onto a cluster without a registry: the references still name the source",
			item: annotated(map[string]string{keys.BackupRegistryHostname: custom, keys.RestoreRegistryHostname: ""}),
			host: custom},
		{name: "not recorded: OpenShift's registry hostnames", item: annotated(nil),
			host: ocp4, alsoSource: []string{ocp4Local, ocp3}, notSource: []string{custom}, assumed: true},
		{name: "not recorded, destination config names the source's custom host", item: annotated(nil), configured: custom,
			host: custom, alsoSource: []string{ocp4, ocp4Local, ocp3}, assumed: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			cfg := config.Default()
			cfg.BackupRegistryHostname = tt.configured
			env.Config = config.Static(cfg)
			in := &velero.RestoreItemActionExecuteInput{Item: tt.item, Restore: actiontest.Restore(nil)}
			if tt.fromBackup != nil {
				in.ItemFromBackup = tt.fromBackup
			}
			ri, err := env.RestoreItem(in)
			if err != nil {
				t.Fatal(err)
			}
			if ri.Images.SourceHost != tt.host || ri.Source.RegistryHostname != tt.host {
				t.Errorf("source host = %q (facts %q), want %q", ri.Images.SourceHost, ri.Source.RegistryHostname, tt.host)
			}
			hosts := ri.Images.SourceHosts()
			for _, h := range tt.alsoSource {
				if !slices.Contains(hosts, h) {
					t.Errorf("%s is not a source host (%v)", h, hosts)
				}
			}
			for _, h := range tt.notSource {
				if slices.Contains(hosts, h) {
					t.Errorf("%s is a source host (%v), want only the recorded ones", h, hosts)
				}
			}
			if ri.SourceAssumed != tt.assumed {
				t.Errorf("SourceAssumed = %v, want %v", ri.SourceAssumed, tt.assumed)
			}
		})
	}
}

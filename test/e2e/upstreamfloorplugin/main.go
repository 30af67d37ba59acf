// Command upstreamfloorplugin is the peer baseline of `make bench-e2e`: a plugin binary that
// registers the upstream OpenShift plugin's 37 actions (openshift/openshift-velero-plugin at
// 0b73ea6, velero-plugins/main.go), under their names and kinds and with their AppliesTo lists
// (../shared/NOTES.md, "Upstream plugin registrations"), every action doing nothing: backup and
// restore return the item unchanged, no related or additional items. Velero then makes the gRPC
// calls the upstream plugin costs it, so the same run compares the protocol cost of both plugins.
package main

import (
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
)

// common is what upstream's common backup and restore actions apply to, each resource in the forms
// the notes list (Velero resolves every form through discovery into one set, so a resource listed
// twice is still one call per item; forms the cluster does not serve, such as the extensions
// group, resolve to nothing). "replicationcontroller" is spelled as upstream spells it.
var common = []string{
	"pods",
	"imagestreams", "imagestreams.image.openshift.io",
	"imagestreamtags", "imagestreamtags.image.openshift.io",
	"deployments", "deployments.apps", "deployments.extensions",
	"deploymentconfigs", "deploymentconfigs.apps.openshift.io",
	"jobs", "jobs.batch",
	"cronjobs", "cronjobs.batch",
	"statefulsets", "statefulsets.apps",
	"daemonsets", "daemonsets.apps", "daemonsets.extensions",
	"replicasets", "replicasets.apps", "replicasets.extensions",
	"replicationcontroller",
	"buildconfigs", "buildconfigs.build.openshift.io",
}

// Registrations is upstream's table, in its order.
func Registrations() []action.Registration {
	b, r, r2, ib := action.KindBackup, action.KindRestore, action.KindRestoreV2, action.KindItemBlock
	rows := []struct {
		name      string
		kind      action.Kind
		resources []string
	}{
		{"openshift.io/01-common-backup-plugin", b, common},
		{"openshift.io/01-common-restore-plugin", r, common},
		{"openshift.io/02-serviceaccount-backup-plugin", b, []string{"serviceaccounts"}},
		{"openshift.io/02-serviceaccount-restore-plugin", r, []string{"serviceaccounts"}},
		{"openshift.io/02-serviceaccount-iba-plugin", ib, []string{"serviceaccounts"}},
		{"openshift.io/03-pv-backup-plugin", b, []string{"persistentvolumes"}},
		{"openshift.io/03-pv-restore-plugin", r, []string{"persistentvolumes"}},
		{"openshift.io/04-pvc-restore-plugin", r, []string{"persistentvolumeclaims"}},
		{"openshift.io/04-imagestreamtag-backup-plugin", b, []string{"imagestreamtags"}},
		{"openshift.io/04-imagestreamtag-restore-plugin", r2, []string{"imagestreamtags"}},
		{"openshift.io/05-route-restore-plugin", r, []string{"routes"}},
		{"openshift.io/06-build-restore-plugin", r, []string{"builds"}},
		{"openshift.io/07-pod-backup-plugin", b, []string{"pods"}},
		{"openshift.io/07-pod-restore-plugin", r, []string{"pods"}},
		{"openshift.io/08-deploymentconfig-backup-plugin", b, []string{"deploymentconfigs"}},
		{"openshift.io/08-deploymentconfig-restore-plugin", r, []string{"deploymentconfigs"}},
		{"openshift.io/09-replicationcontroller-backup-plugin", b, []string{"replicationcontrollers"}},
		{"openshift.io/09-replicationcontroller-restore-plugin", r, []string{"replicationcontrollers"}},
		{"openshift.io/10-job-restore-plugin", r, []string{"jobs"}},
		{"openshift.io/11-daemonset-restore-plugin", r, []string{"daemonsets"}},
		{"openshift.io/12-replicaset-restore-plugin", r, []string{"replicasets"}},
		{"openshift.io/13-deployment-restore-plugin", r, []string{"deployments.apps"}},
		{"openshift.io/14-statefulset-restore-plugin", r, []string{"statefulsets.apps"}},
		{"openshift.io/15-service-restore-plugin", r, []string{"services"}},
		{"openshift.io/16-cronjob-restore-plugin", r, []string{"cronjobs"}},
		{"openshift.io/17-buildconfig-restore-plugin", r, []string{"buildconfigs"}},
		{"openshift.io/18-secret-restore-plugin", r, []string{"secrets"}},
		{"openshift.io/19-is-backup-plugin", b, []string{"imagestreams"}},
		{"openshift.io/19-is-restore-plugin", r, []string{"imagestreams"}},
		{"openshift.io/20-SCC-restore-plugin", r, []string{"securitycontextconstraints"}},
		{"openshift.io/21-role-bindings-restore-plugin", r, []string{"rolebinding.authorization.openshift.io"}},
		{"openshift.io/22-cluster-role-bindings-restore-plugin", r, []string{"clusterrolebinding.authorization.openshift.io"}},
		{"openshift.io/23-imagetag-restore-plugin", r, []string{"imagetags"}},
		{"openshift.io/24-horizontalpodautoscaler-restore-plugin", r, []string{"horizontalpodautoscalers"}},
		{"openshift.io/25-configmap-backup-plugin", b, []string{"configmaps"}},
		{"openshift.io/25-configmap-restore-plugin", r, []string{"configmaps"}},
		{"openshift.io/26-nonadmin-restore-plugin", r, []string{"nonadminbackups.oadp.openshift.io", "nonadminrestores.oadp.openshift.io", "nonadminbackupstoragelocations.oadp.openshift.io"}},
	}
	table := make([]action.Registration, 0, len(rows))
	for _, row := range rows {
		row := row
		table = append(table, action.Registration{Name: row.name, Kind: row.kind, New: func(action.Env) (any, error) {
			sel := action.Resources(row.resources...)
			switch row.kind {
			case action.KindBackup:
				return passBackup{sel}, nil
			case action.KindItemBlock:
				return noRelated{sel}, nil
			}
			return passRestore{sel}, nil
		}})
	}
	return table
}

func main() { action.Serve(Registrations()) }

type passBackup struct{ sel velero.ResourceSelector }

func (p passBackup) AppliesTo() (velero.ResourceSelector, error) { return p.sel, nil }

func (passBackup) Execute(item runtime.Unstructured, _ *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	return item, nil, nil
}

type passRestore struct{ sel velero.ResourceSelector }

func (p passRestore) AppliesTo() (velero.ResourceSelector, error) { return p.sel, nil }

func (passRestore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	return action.Keep(in.Item), nil
}

func (passRestore) AreAdditionalItemsReady([]velero.ResourceIdentifier, *velerov1.Restore) (bool, error) {
	return true, nil
}

type noRelated struct{ sel velero.ResourceSelector }

func (n noRelated) AppliesTo() (velero.ResourceSelector, error) { return n.sel, nil }

func (noRelated) GetRelatedItems(runtime.Unstructured, *velerov1.Backup) ([]velero.ResourceIdentifier, error) {
	return nil, nil
}

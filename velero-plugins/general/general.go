// Package general is the registration table of the general plugin's actions, shared by both
// binaries: the migration plugin serves these unchanged, under the same names.
package general

import (
	"slices"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/build"
	"github.com/velero-openshift/plugins/velero-plugins/buildconfig"
	"github.com/velero-openshift/plugins/velero-plugins/configmap"
	"github.com/velero-openshift/plugins/velero-plugins/deploymentconfig"
	"github.com/velero-openshift/plugins/velero-plugins/hpa"
	"github.com/velero-openshift/plugins/velero-plugins/imagestream"
	"github.com/velero-openshift/plugins/velero-plugins/imagestreamtag"
	"github.com/velero-openshift/plugins/velero-plugins/imagetag"
	"github.com/velero-openshift/plugins/velero-plugins/nonadmin"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
	"github.com/velero-openshift/plugins/velero-plugins/rbac"
	"github.com/velero-openshift/plugins/velero-plugins/replicationcontroller"
	"github.com/velero-openshift/plugins/velero-plugins/route"
	"github.com/velero-openshift/plugins/velero-plugins/scc"
	"github.com/velero-openshift/plugins/velero-plugins/secret"
	"github.com/velero-openshift/plugins/velero-plugins/service"
	"github.com/velero-openshift/plugins/velero-plugins/serviceaccount"
	"github.com/velero-openshift/plugins/velero-plugins/workload"
)

// RestoreFactsActions are the restore actions that write the informational restore annotations
// on the items they restore (action.WithRestoreFacts): those of pods, every workload kind,
// BuildConfigs, ImageStreams and ImageStreamTags, the items whose references a restore rewrites.
// Each already handles its item, so the annotations cost no call of their own.
var RestoreFactsActions = []string{pod.RestoreName, deploymentconfig.RestoreName, replicationcontroller.RestoreName,
	workload.JobRestoreName, workload.WorkloadRestoreName, buildconfig.RestoreName, imagestream.RestoreName, imagestreamtag.RestoreName}

// Registrations returns every general action. Correctness never depends on the order: each
// action reads what it needs from the item and the cluster, not from another action's edits.
//
// No general action is called for every pod or workload at backup: the restore reads the source
// registry from what earlier versions recorded on the item, else assumes OpenShift's own
// (action.RestoreItem).
func Registrations() []action.Registration {
	var all []action.Registration
	for _, rows := range [][]action.Registration{
		serviceaccount.Registrations(),
		pod.Registrations(),
		deploymentconfig.Registrations(),
		replicationcontroller.Registrations(),
		configmap.Registrations(),
		imagestreamtag.Registrations(),
		workload.Registrations(),
		build.Registrations(),
		buildconfig.Registrations(),
		route.Registrations(),
		service.Registrations(),
		secret.Registrations(),
		scc.Registrations(),
		rbac.Registrations(),
		hpa.Registrations(),
		imagetag.Registrations(),
		imagestream.Registrations(),
		nonadmin.Registrations(),
	} {
		all = append(all, rows...)
	}
	for i, r := range all {
		if slices.Contains(RestoreFactsActions, r.Name) {
			all[i] = action.WithRestoreFacts(r)
		}
	}
	return all
}

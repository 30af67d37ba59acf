// Command openshift-migration-plugin serves Velero the actions of controller-driven cluster
// migration (SPEC §6): every general action under its general name except the general pod
// restore, which the migration pod restore replaces, plus the migration actions under
// migration.openshift.io/<NN>-<name>. It is a registration table and nothing else; run by hand
// as `openshift-migration-plugin unquiesce ...` it rolls a quiesced source back, as
// `reclaim-images ...` it frees the images of deleted backups (as the general binary).
package main

import (
	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/imagestream"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migratedby"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/namespace"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/quiesce"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/stagepod"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/volume"
	"github.com/velero-openshift/plugins/velero-plugins/general"
	generalimagestream "github.com/velero-openshift/plugins/velero-plugins/imagestream"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
)

func main() {
	action.Serve(registrations(), quiesce.RollbackCommand(), generalimagestream.ReclaimCommand())
}

// registrations is the general table without the general pod restore, then the migration actions
// (the migration pod restore writing the restore annotations the general one writes).
func registrations() []action.Registration {
	var all []action.Registration
	for _, r := range general.Registrations() {
		if r.Name != pod.RestoreName {
			all = append(all, r)
		}
	}
	for _, rows := range [][]action.Registration{
		quiesce.Registrations(),
		volume.Registrations(),
		imagestream.Registrations(),
		stagepod.Registrations(),
		namespace.Registrations(),
		migratedby.Registrations(),
	} {
		all = append(all, rows...)
	}
	// The pods it restores get the restore annotations from it, as from the general pod restore.
	for i, r := range all {
		if r.Name == stagepod.RestoreName {
			all[i] = action.WithRestoreFacts(r)
		}
	}
	return all
}

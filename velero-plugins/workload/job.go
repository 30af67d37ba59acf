package workload

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/owners"
)

// restoreJob skips Jobs a CronJob created (the restored CronJob schedules its own) and prepares
// the pod template of the others.
func restoreJob(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	// Velero strips ownerReferences from the item before restore actions run: read the backup's.
	owner, err := owners.OfKind(ri.FromBackup, "CronJob")
	if err != nil {
		return nil, err
	}
	if owner != nil {
		ri.Log.WithField("cronJob", owner.Name).Info("skipping Job created by a CronJob")
		return action.Skip(ri.Obj), nil
	}
	if err := prepareTemplate(ri); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

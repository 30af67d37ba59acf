package workload

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/owners"
)

// JobRestore skips Jobs a CronJob created (the restored CronJob schedules its own) and rewrites
// the images of the others.
type JobRestore struct{ env action.Env }

// NewJobRestore returns the Job restore action.
func NewJobRestore(env action.Env) *JobRestore { return &JobRestore{env: env} }

// AppliesTo selects Jobs.
func (r *JobRestore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(JobResource), nil
}

// Execute skips CronJob-owned Jobs and rewrites the images of the others.
func (r *JobRestore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	// Velero strips ownerReferences from the item before restore actions run: read the backup's.
	owner, err := owners.OfKind(ri.FromBackup, "CronJob")
	if err != nil {
		return nil, err
	}
	if owner != nil {
		ri.Log.WithField("cronJob", owner.Name).Info("skipping Job created by a CronJob")
		return action.Skip(ri.Obj), nil
	}
	if err := rewriteImages(ri); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

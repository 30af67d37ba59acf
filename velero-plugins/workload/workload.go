// Package workload restores the Kubernetes workload kinds (Deployments, ReplicaSets, StatefulSets,
// DaemonSets, CronJobs and Jobs) with their container images moved to the destination registry
// and mapped namespace and their generated pull secrets swapped to the destination's. Jobs a
// CronJob created are left to the CronJob.
package workload

import (
	"context"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/podspec"
)

// Registered names.
const (
	JobRestoreName      = "openshift.io/06-job-restore"
	WorkloadRestoreName = "openshift.io/07-workload-restore"
)

// Resources the workload action handles. ReplicaSets are always restored: a Deployment adopts a
// matching one instead of creating a new rollout, and a standalone one has no other owner.
var Resources = []string{"deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps", "cronjobs.batch"}

// JobResource is the resource the Job action handles.
const JobResource = "jobs.batch"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(JobRestoreName, restoreJob, JobResource),
		action.ItemRestoreRegistration(WorkloadRestoreName, restoreWorkload, Resources...),
	}
}

// restoreWorkload prepares a workload's pod template for the destination.
func restoreWorkload(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	if err := prepareTemplate(ri); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

// prepareTemplate rewrites the pod template's internal images and swaps its generated pull
// secrets, so the pods the workload creates on the destination pull what the source's pulled.
func prepareTemplate(ri *action.RestoreItem) error {
	n, err := podspec.RewriteImages(ri.Obj, ri.Images)
	if err != nil {
		return err
	}
	if n > 0 {
		ri.Log.WithField("images", n).Info("rewrote internal registry images for the destination")
	}
	return ri.RenamePullSecrets(context.Background())
}

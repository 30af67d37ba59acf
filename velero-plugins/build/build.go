// Package build skips Builds on restore: a Build is a record of one run, and the restored
// BuildConfig creates new ones on the destination (a restored Build would point at source-cluster
// pods and images, and could start a duplicate run).
package build

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/08-build-restore"

// Resource is the one resource the action handles.
const Resource = "builds.build.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// Restore skips every Build.
type Restore struct{ env action.Env }

// NewRestore returns the restore action.
func NewRestore(env action.Env) *Restore { return &Restore{env: env} }

// AppliesTo selects builds.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute skips the Build.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	obj, err := action.Object(in.Item)
	if err != nil {
		return nil, err
	}
	r.env.Log.WithField("item", action.Describe(obj)).Debug("skipping Build: its BuildConfig creates new builds")
	return action.Skip(obj), nil
}

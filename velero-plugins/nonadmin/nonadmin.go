// Package nonadmin skips OADP's non-admin custom resources: they are requests made to the source
// cluster's OADP controller, and restoring them would make the destination's controller act on
// them again (re-running backups or restores).
package nonadmin

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/20-nonadmin-restore"

// Resources are the non-admin custom resources.
var Resources = []string{
	"nonadminbackups.oadp.openshift.io",
	"nonadminrestores.oadp.openshift.io",
	"nonadminbackupstoragelocations.oadp.openshift.io",
}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// Restore skips every item it applies to.
type Restore struct{ env action.Env }

// NewRestore builds the action.
func NewRestore(env action.Env) *Restore { return &Restore{env: env} }

// AppliesTo selects Resources.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resources...), nil
}

// Execute skips the item.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	ri.Log.Info("skipping non-admin OADP resource")
	return action.Skip(ri.Obj), nil
}

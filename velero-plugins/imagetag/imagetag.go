// Package imagetag skips ImageTags on restore: an ImageTag is a derived view of an ImageStream's
// spec and status tag, which the restored ImageStream (and its ImageStreamTags) recreate.
package imagetag

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/18-imagetag-restore"

// Resource is the one resource the action handles.
const Resource = "imagetags.image.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// Restore skips every ImageTag.
type Restore struct{ env action.Env }

// NewRestore returns the restore action.
func NewRestore(env action.Env) *Restore { return &Restore{env: env} }

// AppliesTo selects image tags.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute skips the ImageTag.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	obj, err := action.Object(in.Item)
	if err != nil {
		return nil, err
	}
	r.env.Log.WithField("item", action.Describe(obj)).Debug("skipping ImageTag: a view the image stream recreates")
	return action.Skip(obj), nil
}

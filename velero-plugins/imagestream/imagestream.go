// Package imagestream restores ImageStreams with their image references moved to the destination:
// internal DockerImage references to the destination registry and mapped namespace, and
// ImageStreamTag/ImageStreamImage references into mapped namespaces.
package imagestream

import (
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/19-imagestream-restore"

// Resource is the one resource the action handles.
const Resource = "imagestreams.image.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// Restore restores an ImageStream object with its references rewritten. Labels, annotations and
// lookupPolicy are untouched: restoring the object (rather than letting the registry create a bare
// stream on push) is what keeps them.
type Restore struct{ env action.Env }

// NewRestore returns the restore action.
func NewRestore(env action.Env) *Restore { return &Restore{env: env} }

// AppliesTo selects image streams.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute rewrites the stream's references and restores it.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	n, err := RewriteReferences(ri.Obj.Object, ri.Images)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		ri.Log.WithField("changed", n).Info("rewrote image stream references for the destination")
	}
	return action.Keep(ri.Obj), nil
}

// RewriteReferences rewrites, in place, the references of an ImageStream object (its content map):
// spec.dockerImageRepository and every spec.tags[].from. It returns how many changed.
//
// It is the step the image copy (SPEC §5) hooks into: once images are pushed to the destination
// registry, the same function puts the restored stream's references in the destination's terms,
// whether the stream is the restored object or one the registry created on push.
func RewriteReferences(obj map[string]any, w imageref.Rewriter) (int, error) {
	spec, found, err := fields.NestedObject(obj, "", "spec")
	if err != nil || !found {
		return 0, err
	}
	changed := 0
	repo, err := fields.String(spec, "dockerImageRepository", "spec")
	if err != nil {
		return 0, err
	}
	if out, did, err := w.Rewrite(repo); err != nil {
		return 0, fmt.Errorf("spec.dockerImageRepository: %w", err)
	} else if did {
		spec["dockerImageRepository"] = out
		changed++
	}
	tags, err := fields.Objects(spec, "spec", "tags")
	if err != nil {
		return changed, err
	}
	for i, tag := range tags {
		field := fmt.Sprintf("spec.tags[%d]", i)
		from, found, err := fields.NestedObject(tag, field, "from")
		if err != nil {
			return changed, err
		}
		if !found {
			continue
		}
		did, err := w.RewriteObjectRef(from, field+".from")
		if err != nil {
			return changed, err
		}
		if did {
			changed++
		}
	}
	return changed, nil
}

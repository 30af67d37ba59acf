package imagestreamtag

import (
	"context"
	"errors"
	"fmt"
	"time"

	imagev1client "github.com/openshift/client-go/image/clientset/versioned/typed/image/v1"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/nsmap"
)

// Registered names.
const (
	BackupName  = "openshift.io/06-imagestreamtag-backup"
	RestoreName = "openshift.io/17-imagestreamtag-restore"
)

// Resource is the one resource the actions handle.
const Resource = "imagestreamtags.image.openshift.io"

// GroupResource identifies image stream tags in additional items.
var GroupResource = schema.GroupResource{Group: "image.openshift.io", Resource: "imagestreamtags"}

// ReadyTimeout bounds how long Velero waits for a related tag to appear before restoring the tag
// that references it.
const ReadyTimeout = 2 * time.Minute

// getTimeout bounds each readiness lookup.
const getTimeout = 10 * time.Second

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemBackupRegistration(BackupName, backup, Resource),
		{Name: RestoreName, Kind: action.KindRestoreV2, New: func(env action.Env) (any, error) {
			if env.Clients == nil {
				return nil, fmt.Errorf("no API clients to check related image stream tags")
			}
			c, err := env.Clients.Image()
			if err != nil {
				return nil, err
			}
			return NewRestore(env, c.ImageV1()), nil
		}},
	}
}

// Restore decides whether an ImageStreamTag is restored, moves its references, and makes Velero
// restore the tag it references first.
type Restore struct {
	env  action.Env
	tags imagev1client.ImageStreamTagsGetter
}

var _ action.RestoreActionV2 = (*Restore)(nil)

// NewRestore returns the restore action; tags reads the destination's image stream tags.
func NewRestore(env action.Env, tags imagev1client.ImageStreamTagsGetter) *Restore {
	return &Restore{env: env, tags: tags}
}

// AppliesTo selects image stream tags.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute skips tags of internal images and restores the others with their references moved.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	obj := ri.Obj.Object
	tag, hasTag, err := fields.NestedObject(obj, "", "tag")
	if err != nil {
		return nil, err
	}
	from, err := tagFrom(obj)
	if err != nil {
		return nil, err
	}
	reference := false
	if hasTag {
		switch v := tag["reference"].(type) {
		case nil:
		case bool:
			reference = v
		default:
			return nil, fmt.Errorf("tag.reference: expected a boolean, got %T", v)
		}
	}
	var fromKind, fromName string
	if from != nil {
		if fromKind, err = fields.String(from, "kind", "tag.from"); err != nil {
			return nil, err
		}
		if fromName, err = fields.String(from, "name", "tag.from"); err != nil {
			return nil, err
		}
	}
	image, _, err := fields.NestedObject(obj, "", "image")
	if err != nil {
		return nil, err
	}
	dockerRef := ""
	if image != nil {
		if dockerRef, err = fields.String(image, "dockerImageReference", "image"); err != nil {
			return nil, err
		}
	}
	// Internal: the source registry under any of its names (ri.Images knows them all).
	referenceTag := reference ||
		(fromKind == imageref.KindDockerImage && fromName != "" && !ri.Images.IsSource(fromName))
	if !referenceTag && ri.Images.IsSource(dockerRef) {
		ri.Log.WithField("image", dockerRef).Info("skipping tag of an internal image: the image stream restore recreates it")
		return action.Skip(ri.Obj), nil
	}
	if from != nil {
		if _, err := ri.Images.RewriteObjectRef(from, "tag.from"); err != nil {
			return nil, err
		}
	}
	if hasTag {
		if err := moveTagAnnotations(ri.Obj, tag); err != nil {
			return nil, err
		}
	}
	out := action.Keep(ri.Obj)
	if related, ok := relatedTag(ri); ok {
		out.AdditionalItems = []velero.ResourceIdentifier{related}
		out.WaitForAdditionalItems = true
		out.AdditionalItemsReadyTimeout = ReadyTimeout
		ri.Log.WithField("relatedTag", related.Namespace+"/"+related.Name).Info("restoring the referenced tag first")
	}
	return out, nil
}

// moveTagAnnotations drops tag.annotations, which the API rejects unless they equal the object's
// annotations (restore adds annotations to the object), after copying any missing entry to the
// object so none is lost: the API derives the tag's annotations from the object's.
func moveTagAnnotations(obj *unstructured.Unstructured, tag map[string]any) error {
	v, ok := tag["annotations"]
	if !ok || v == nil {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return fmt.Errorf("tag.annotations: expected an object, got %T", v)
	}
	for k, val := range m {
		if _, isString := val.(string); !isString {
			return fmt.Errorf("tag.annotations.%s: expected a string, got %T", k, val)
		}
	}
	a, err := fields.Metadata(obj.Object, "annotations", len(m) > 0)
	if err != nil {
		return err
	}
	for k, val := range m {
		if _, exists := a[k]; !exists {
			a[k] = val
		}
	}
	delete(tag, "annotations")
	return nil
}

// relatedTag returns the tag recorded at backup as the one this tag references, in its backup
// namespace (Velero maps additional items itself). A tag referencing itself has none.
func relatedTag(ri *action.RestoreItem) (velero.ResourceIdentifier, bool) {
	a := ri.Obj.GetAnnotations()
	name := a[keys.RelatedISTag]
	if name == "" {
		return velero.ResourceIdentifier{}, false
	}
	ns := a[keys.RelatedISTagNamespace]
	if ns == "" {
		ns = ri.SourceNamespace
	}
	if ns == ri.SourceNamespace && name == ri.Obj.GetName() {
		return velero.ResourceIdentifier{}, false
	}
	return velero.ResourceIdentifier{GroupResource: GroupResource, Namespace: ns, Name: name}, true
}

// AreAdditionalItemsReady reports whether every related tag exists on the destination, in its
// mapped namespace. A tag not there yet, or a transient API failure, is "not ready" so Velero
// polls again within ReadyTimeout; any other failure is an error.
func (r *Restore) AreAdditionalItemsReady(items []velero.ResourceIdentifier, restore *velerov1.Restore) (bool, error) {
	mapping := nsmap.FromRestore(restore)
	for _, item := range items {
		if item.GroupResource != GroupResource {
			continue
		}
		ns := mapping.Map(item.Namespace)
		ready, err := r.exists(ns, item.Name)
		if err != nil || !ready {
			return false, err
		}
	}
	return true, nil
}

func (r *Restore) exists(ns, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), getTimeout)
	defer cancel()
	_, err := r.tags.ImageStreamTags(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		r.env.Log.WithField("tag", ns+"/"+name).Debug("related image stream tag not restored yet")
		return false, nil
	case transient(err):
		r.env.Log.WithError(err).WithField("tag", ns+"/"+name).Warn("could not check the related image stream tag; retrying")
		return false, nil
	}
	return false, fmt.Errorf("reading image stream tag %s/%s: %w", ns, name, err)
}

func transient(err error) bool {
	return apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

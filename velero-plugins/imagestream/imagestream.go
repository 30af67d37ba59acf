// Package imagestream backs up the internal-registry images of ImageStreams into the backup
// storage location (SPEC §5) and restores ImageStreams with their images pushed to the
// destination's internal registry and their references moved to the destination: internal
// DockerImage references to the destination registry and mapped namespace, and
// ImageStreamTag/ImageStreamImage references into mapped namespaces.
//
// The stream logic (BackupImages, RestoreStream) takes where the images are kept as a Target and
// a Source, so the migration plugin's ImageStream actions reuse it with a migration registry.
package imagestream

import (
	"context"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/19-imagestream-restore"

// Resource is the one resource the action handles.
const Resource = "imagestreams.image.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) { return NewBackup(env), nil }},
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
		{Name: DeleteName, Kind: action.KindDelete, New: func(env action.Env) (any, error) { return NewDelete(env), nil }},
	}
}

// Restore pushes the images the backup holds for an ImageStream into the destination's internal
// registry (under the mapped namespace, each tag's generations oldest first so the tag ends on its
// newest image), then restores the object with its references rewritten. Labels, annotations and
// lookupPolicy are untouched: restoring the object (rather than letting the registry create a bare
// stream on push) is what keeps them.
type Restore struct {
	env action.Env
	// Cluster reads the Backup, its location and the location's credential.
	Cluster Cluster
	// Engine opens the store and registry and copies.
	Engine Engine
	// Streams reads and updates ImageStreams on the destination.
	Streams Streams

	stores stores
	// locations remembers, per restore, the storage location of its Backup: one read of the
	// Backup per restore, not one per image stream.
	locations opcache.Cache[string]
}

// NewRestore returns the restore action.
func NewRestore(env action.Env) *Restore {
	c := clusterClients{set: env.Clients}
	return &Restore{env: env, Cluster: c, Engine: DefaultEngine(), Streams: c}
}

// AppliesTo selects image streams.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute pushes the stream's backed-up images, rewrites its references and restores it.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	return RestoreStream(context.Background(), ri, r.Engine, r.Streams, locationSource{r})
}

// locationSource is the image store of the storage location the backup is in (SPEC §5).
type locationSource struct{ r *Restore }

func (locationSource) Key() string { return keys.ImageCopyLocation }

// Open opens the location this cluster knows the backup by; the name recorded at backup if that
// is unknown.
func (s locationSource) Open(ctx context.Context, ri *action.RestoreItem, recorded string) (Endpoint, error) {
	loc, err := s.r.locations.Get(opcache.Op(ri.Restore), ri.Restore.Spec.BackupName, func() (string, error) {
		return s.r.Cluster.BackupLocation(ctx, ri.Restore.Namespace, ri.Restore.Spec.BackupName)
	})
	if err != nil || loc == "" {
		ri.Log.WithError(err).Warnf("image copy: the storage location of backup %s is not known here; using %q recorded at backup", ri.Restore.Spec.BackupName, recorded)
		loc = recorded
	}
	store, err := s.r.stores.get(ctx, s.r.Cluster, s.r.Engine, ri.Restore.Namespace, loc, ri.Log)
	if err != nil {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	return store, nil
}

// RestoreStream restores an ImageStream whose images the backup may hold at source: when the
// backed-up item carries source's bookkeeping annotation, every image is pushed from source into
// the destination's internal registry under the mapped namespace (each tag's generations oldest
// first, so the tag ends on its newest image); then the stream's references are rewritten for
// the destination and the bookkeeping annotations removed. If the registry created the stream on
// push (it did not exist before), that stream is completed with the backed-up labels,
// annotations, lookupPolicy and spec tags, and Velero is told not to create it.
//
// Images whose push failed do not cost the others or the stream: the others are pushed, the
// stream is restored all the same (completed as above, else created here, since Velero creates
// nothing for an item that fails; a stream that existed before is left alone), and the item then
// fails with an error naming each image not restored, so the restore ends PartiallyFailed.
func RestoreStream(ctx context.Context, ri *action.RestoreItem, e Engine, streams Streams, source Source) (*velero.RestoreItemActionExecuteOutput, error) {
	// Labels and annotations are edited and copied onto a live stream below: malformed ones fail
	// the item before any image is pushed.
	annotations, err := fields.Metadata(ri.Obj.Object, "annotations", false)
	if err != nil {
		return nil, err
	}
	if _, err := fields.Metadata(ri.Obj.Object, "labels", false); err != nil {
		return nil, err
	}
	createdOnPush, failed, err := restoreImages(ctx, ri, e, streams, source)
	if err != nil {
		return nil, err
	}
	if _, ok := annotations[source.Key()]; ok {
		delete(annotations, source.Key())
		delete(annotations, keys.ImageCopyMissing)
	}
	n, err := rewriteFromBackup(ri)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		ri.Log.WithField("changed", n).Info("rewrote image stream references for the destination")
	}
	out := action.Keep(ri.Obj)
	if createdOnPush {
		if out, err = adopt(ctx, ri, streams); err != nil {
			return nil, err
		}
	}
	if failed == nil {
		return out, nil
	}
	if !out.SkipRestore {
		if err := create(ctx, ri, streams); err != nil {
			return nil, fmt.Errorf("%w; the ImageStream itself is not restored either: %v", failed, err)
		}
	}
	return nil, fmt.Errorf("%w; the ImageStream and its other images are restored", failed)
}

// create creates the restored stream on the destination as Velero would (in the target namespace,
// with Velero's restore labels), for an item that is to fail: Velero creates nothing for it. A
// stream that exists by now (it existed before the push, or the registry created it since) is
// left as it is.
func create(ctx context.Context, ri *action.RestoreItem, streams Streams) error {
	obj := ri.Obj.DeepCopy()
	obj.SetNamespace(ri.TargetNamespace)
	if err := merge(obj, "labels", action.RestoreLabels(ri.Restore)); err != nil {
		return err
	}
	err := streams.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		ri.Log.Infof("ImageStream %s/%s exists on the destination; left as it is", obj.GetNamespace(), obj.GetName())
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating ImageStream %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	ri.Log.Infof("created ImageStream %s/%s (the item fails for its images not restored, so Velero does not create it)", obj.GetNamespace(), obj.GetName())
	return nil
}

// adopt completes a stream the destination registry created when the images were pushed: it
// gets the restored object's labels, annotations, lookupPolicy and spec tags, and the labels
// Velero gives every restored object, and Velero then skips creating the object (it exists). A
// stream that existed before the push is never touched.
func adopt(ctx context.Context, ri *action.RestoreItem, streams Streams) (*velero.RestoreItemActionExecuteOutput, error) {
	ns, name := ri.Mapping.Map(ri.FromBackup.GetNamespace()), ri.FromBackup.GetName()
	for attempt := 0; ; attempt++ {
		live, err := streams.Get(ctx, ns, name)
		if err != nil {
			return nil, fmt.Errorf("image copy: reading the ImageStream the registry created on push: %w", err)
		}
		if live == nil {
			return action.Keep(ri.Obj), nil
		}
		labels, err := fields.Metadata(ri.Obj.Object, "labels", false)
		if err != nil {
			return nil, err
		}
		annotations, err := fields.Metadata(ri.Obj.Object, "annotations", false)
		if err != nil {
			return nil, err
		}
		err = merge(live, "labels", labels)
		if err == nil {
			err = merge(live, "labels", action.RestoreLabels(ri.Restore))
		}
		if err == nil {
			err = merge(live, "annotations", annotations)
		}
		if err != nil {
			return nil, fmt.Errorf("image copy: the ImageStream the registry created on push: %w", err)
		}
		if spec, ok := ri.Obj.Object["spec"].(map[string]any); ok {
			liveSpec, _ := live.Object["spec"].(map[string]any)
			if liveSpec == nil {
				liveSpec = map[string]any{}
				live.Object["spec"] = liveSpec
			}
			for _, k := range []string{"lookupPolicy", "tags"} {
				if v, ok := spec[k]; ok {
					liveSpec[k] = runtime.DeepCopyJSONValue(v)
				}
			}
		}
		err = streams.Update(ctx, live)
		if apierrors.IsConflict(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("image copy: completing ImageStream %s/%s (created on push) with the backed-up labels, annotations and spec: %w", ns, name, err)
		}
		ri.Log.Infof("the registry created ImageStream %s/%s on push; gave it the backed-up labels, annotations and spec, so Velero does not create it", ns, name)
		return action.Skip(ri.Obj), nil
	}
}

// merge sets the entries of from (strings) in obj's metadata.<field>, labels or annotations.
func merge[V any](obj *unstructured.Unstructured, field string, from map[string]V) error {
	m, err := fields.Metadata(obj.Object, field, true)
	if err != nil {
		return err
	}
	for k, v := range from {
		m[k] = v
	}
	return nil
}

// rewriteFromBackup rewrites the restored item's references (RewriteReferences) starting from
// their values in the item as backed up, so that a reference is mapped once however many actions
// restore the stream and in whatever order: the general and the migration restore action both
// do, and with the same registry host on both sides and chained namespace mappings (a->b, b->c)
// rewriting an already rewritten reference would map it twice.
func rewriteFromBackup(ri *action.RestoreItem) (int, error) {
	if ri.FromBackup != ri.Obj {
		backed, found, err := fields.NestedObject(ri.FromBackup.Object, "", "spec")
		if err != nil {
			return 0, err
		}
		spec, _, err := fields.NestedObject(ri.Obj.Object, "", "spec")
		if err != nil {
			return 0, err
		}
		if found && spec != nil {
			for _, k := range []string{"dockerImageRepository", "tags"} {
				if v, ok := backed[k]; ok {
					spec[k] = runtime.DeepCopyJSONValue(v)
				}
			}
		}
	}
	return RewriteReferences(ri.Obj.Object, ri.Images)
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

// restoreImages copies the stream's backed-up images from source into the destination registry.
// A stream the backup holds no images for at source is left alone.
//
// createdOnPush reports that the stream did not exist on the destination before the push (the
// registry creates streams on push, so it may exist now). failed names the images whose push
// failed, each with its cause, when some did; err is a failure before any image was pushed.
func restoreImages(ctx context.Context, ri *action.RestoreItem, e Engine, streams Streams, source Source) (createdOnPush bool, failed, err error) {
	backed, err := fields.Metadata(ri.FromBackup.Object, "annotations", false)
	if err != nil {
		return false, nil, fmt.Errorf("backed-up item: %w", err)
	}
	recorded := backed.Get(source.Key())
	if recorded == "" {
		return false, nil, nil
	}
	dest := ri.Destination.RegistryHostname
	if dest == "" || !ri.Destination.RegistryEnabled {
		ri.Log.Warn("image copy: the destination has no internal registry; the backed-up images are not restored")
		return false, nil, nil
	}
	if ri.Source.RegistryHostname == "" {
		ri.Log.Warn("image copy: the backup holds images for this stream but no source registry is recorded on it; the images are not restored")
		return false, nil, nil
	}
	images, skipped, err := internalImages(ri.FromBackup.Object, ri.Images.SourceHosts())
	if err != nil {
		return false, nil, fmt.Errorf("backed-up item: %w", err)
	}
	for _, s := range skipped {
		ri.Log.Warnf("image copy: %s: not restored", s)
	}
	missing := map[string]bool{}
	for _, d := range strings.Split(backed.Get(keys.ImageCopyMissing), ",") {
		if d = strings.TrimSpace(d); d != "" {
			missing[d] = true
		}
	}
	var keep []streamImage
	for _, im := range images {
		if missing[im.Digest] {
			ri.Log.Warnf("image copy: tag %q image %s was missing on the source at backup; not restored", im.Tag, im.Digest)
			continue
		}
		keep = append(keep, im)
	}
	if len(keep) == 0 {
		return false, nil, nil
	}
	kept, err := source.Open(ctx, ri, recorded)
	if err != nil {
		return false, nil, err
	}
	reg, err := openRegistry(e, dest, ri.Config, ri.Log)
	if err != nil {
		return false, nil, err
	}
	srcNS := ri.FromBackup.GetNamespace()
	from := srcNS + "/" + ri.FromBackup.GetName()
	to := ri.Mapping.Map(srcNS) + "/" + ri.FromBackup.GetName()
	jobs := make([]imagecopy.Job, 0, len(keep))
	for _, im := range keep {
		src, err := kept.Image(from, im.Digest)
		if err != nil {
			return false, nil, fmt.Errorf("image copy: tag %q (%s): %w", im.Tag, im.Field, err)
		}
		dst, err := reg.Image(to, im.Tag)
		if err != nil {
			return false, nil, fmt.Errorf("image copy: tag %q (%s): %w", im.Tag, im.Field, err)
		}
		jobs = append(jobs, imagecopy.Job{Src: src, Dst: dst})
	}
	existed, err := streams.Get(ctx, ri.Mapping.Map(srcNS), ri.FromBackup.GetName())
	if err != nil {
		return false, nil, fmt.Errorf("image copy: reading ImageStream %s before the push: %w", to, err)
	}
	log := ri.Log.WithField("location", kept.String())
	log.WithField("images", len(jobs)).Infof("image copy: restoring the image stream's images into %s", reg)
	var errs []string
	for i, res := range e.CopyAll(ctx, log, ri.Config, jobs) {
		if res.Err != nil {
			log.WithError(res.Err).WithFields(logrus.Fields{"tag": keep[i].Tag, "digest": keep[i].Digest}).
				Errorf("image copy: tag %q image %s not restored", keep[i].Tag, keep[i].Digest)
			errs = append(errs, fmt.Sprintf("tag %q image %s: %v", keep[i].Tag, keep[i].Digest, res.Err))
		}
	}
	if len(errs) > 0 {
		failed = fmt.Errorf("image copy from %s to %s: %d of %d images not restored: %s", kept, reg, len(errs), len(jobs), strings.Join(errs, "; "))
	}
	return existed == nil, failed, nil
}

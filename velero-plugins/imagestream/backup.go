package imagestream

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// BackupName is the registered name of the backup action.
const BackupName = "openshift.io/07-imagestream-backup"

// Backup copies the internal-registry images of an ImageStream (every history generation of
// every status tag) into the image store of the Backup's storage location (SPEC §5), when image
// backup is enabled and neither the stream nor the Backup opts out.
type Backup struct {
	env action.Env
	// Enabled reports whether image backup is on by environment (default: BackupEnv, read once);
	// the plugin config key imageStreamBackup switches it on as well.
	Enabled func() bool
	// VeleroNamespace is where the plugin config is read for AppliesTo (default:
	// config.VeleroNamespace).
	VeleroNamespace func() string
	// Cluster reads the location and its credential.
	Cluster Cluster
	// Engine opens the store and registry and copies.
	Engine Engine

	stores stores
}

// NewBackup returns the backup action using the process's clients and the image copy engine.
func NewBackup(env action.Env) *Backup {
	return &Backup{env: env, Enabled: backupEnabledEnv, VeleroNamespace: config.VeleroNamespace, Cluster: clusterClients{set: env.Clients}, Engine: DefaultEngine()}
}

// AppliesTo selects image streams when image backup may be on, and nothing when it is known to be
// off (neither BackupEnv nor the plugin config of Velero's namespace switches it on): Velero then
// makes no call per image stream that could only hand the stream back unchanged. Velero asks once
// per backup, so a config change applies from the next backup. When the config cannot be read or
// Velero's namespace is not known, the streams are selected and Execute decides per stream as it
// always did.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) {
	sel := action.Resources(Resource)
	if b.Enabled() {
		return sel, nil
	}
	ns := b.VeleroNamespace()
	if ns == "" {
		return sel, nil
	}
	cfg, err := b.env.Config.Config(context.Background(), ns)
	if err != nil || cfg.ImageStreamBackup {
		return sel, nil
	}
	// Excluded wins over included in Velero's selection: this matches no resource. (An empty
	// selector would match every resource.)
	sel.ExcludedResources = []string{Resource}
	return sel, nil
}

// Execute copies the stream's internal images and records the location on the backed-up item.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	bi, err := b.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case !b.Enabled() && !bi.Config.ImageStreamBackup:
		return bi.Obj, nil, nil
	case annotationTrue(backup.Annotations, keys.DisableImageCopy):
		bi.Log.Debugf("image copy disabled for this backup (%s)", keys.DisableImageCopy)
		return bi.Obj, nil, nil
	case strings.TrimSpace(backup.Annotations[keys.MigrationRegistry]) != "":
		// One copy per stream: the migration plugin copies the images into that registry.
		bi.Log.Debugf("image copy to the storage location skipped: the Backup names a migration registry (%s)", keys.MigrationRegistry)
		return bi.Obj, nil, nil
	case annotationTrue(bi.Obj.GetAnnotations(), keys.SkipImageCopy):
		bi.Log.Infof("image copy skipped for this image stream (%s)", keys.SkipImageCopy)
		return bi.Obj, nil, nil
	}
	ctx := context.Background()
	if err := BackupImages(ctx, bi, b.Engine, locationTarget{b}); err != nil {
		return nil, nil, err
	}
	if err := b.record(ctx, bi); err != nil {
		return nil, nil, err
	}
	return bi.Obj, nil, nil
}

// record writes the backup's reference record of the stream (which manifests of its repository
// the backup needs), so that deleting the backup frees exactly what no other backup needs. A
// stream whose images were not copied into the store has none.
func (b *Backup) record(ctx context.Context, bi *action.BackupItem) error {
	refs, ok := StreamRefs(bi.Obj.Object)
	if !ok {
		return nil
	}
	store, err := b.stores.get(ctx, b.Cluster, b.Engine, bi.Backup.Namespace, bi.Backup.Spec.StorageLocation, bi.Log)
	if err != nil {
		return fmt.Errorf("image copy: %w", err)
	}
	if err := store.WriteRecord(ctx, bi.Backup.Name, refs.Repository, refs.Manifests); err != nil {
		return fmt.Errorf("image copy: %w", err)
	}
	return nil
}

// locationTarget is the image store of the Backup's storage location (SPEC §5).
type locationTarget struct{ b *Backup }

func (t locationTarget) Open(ctx context.Context, bi *action.BackupItem) (Endpoint, error) {
	if bi.Backup.Spec.StorageLocation == "" {
		return nil, fmt.Errorf("image copy: the Backup names no storage location")
	}
	store, err := t.b.stores.get(ctx, t.b.Cluster, t.b.Engine, bi.Backup.Namespace, bi.Backup.Spec.StorageLocation, bi.Log)
	if err != nil {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	// The record goes first (every digest of the stream's history), so that a sweep running
	// while the images copy (another cluster's, unaware of this backup) sees what the backup is
	// about to reference, even the images it finds already stored and does not write. The copy
	// rewrites it with what was stored.
	refs := streamDigests(bi.Obj.Object)
	if err := store.WriteRecord(ctx, bi.Backup.Name, refs.Repository, refs.Manifests); err != nil {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	return store, nil
}

func (t locationTarget) Mark(bi *action.BackupItem) (string, string) {
	return keys.ImageCopyLocation, bi.Backup.Spec.StorageLocation
}

// BackupImages copies every internal image of the backed-up stream bi.Obj (every history
// generation of every status tag whose reference names the source internal registry, each
// digest once) from the source internal registry into <namespace>/<name>@<digest> of t, by
// digest, and records on bi.Obj t's bookkeeping annotation, the source registry and the digests
// missing on the source (warned about; the others still copy). Whether to copy at all (enabled,
// opt-outs) is the caller's decision. Any failure other than a missing image is an error naming
// both ends and the images.
func BackupImages(ctx context.Context, bi *action.BackupItem, e Engine, t Target) error {
	// The bookkeeping is written into the item's annotations: a malformed map fails the stream
	// before any copy.
	a, err := fields.Metadata(bi.Obj.Object, "annotations", false)
	if err != nil {
		return err
	}
	host, external := bi.Facts.RegistryHostname, bi.Facts.RegistryExternalHostnames
	if host == "" {
		host, external = a.Get(keys.BackupRegistryHostname), action.SplitList(a.Get(keys.BackupRegistryExternalHostnames))
	}
	if host == "" {
		bi.Log.Warn("image copy: the source internal registry is not known; no image copied")
		return nil
	}
	images, skipped, err := internalImages(bi.Obj.Object, append([]string{host}, imageref.Aliases(host, external...)...))
	if err != nil {
		return err
	}
	for _, s := range skipped {
		bi.Log.Warnf("image copy: %s: not copied", s)
	}
	if len(images) == 0 {
		return nil
	}
	missing, converted, err := copyImages(ctx, bi, e, t, host, images)
	if err != nil {
		return err
	}
	recordConverted(images, converted)
	for from, to := range converted {
		bi.Log.WithFields(logrus.Fields{"digest": from, "storedAs": to}).
			Infof("image copy: image %s could only be stored converted, as %s; the backed-up status names the stored digest", from, to)
	}
	if a, err = fields.Metadata(bi.Obj.Object, "annotations", true); err != nil {
		return err
	}
	key, value := t.Mark(bi)
	a[key] = value
	// The restore finds the internal references by the recorded source registry: record the one
	// used here even when the common backup action is disabled.
	if a.Get(keys.BackupRegistryHostname) == "" {
		a[keys.BackupRegistryHostname] = host
		if len(external) > 0 {
			a[keys.BackupRegistryExternalHostnames] = strings.Join(external, ",")
		}
	}
	if len(missing) > 0 {
		a[keys.ImageCopyMissing] = strings.Join(missing, ",")
	} else {
		delete(a, keys.ImageCopyMissing)
	}
	return nil
}

// copyImages copies each distinct image once into <namespace>/<name>@<digest> of the target and
// returns the digests missing on the source (warned about) and, by source digest, the new
// digests of images stored converted; any other failure is an error.
func copyImages(ctx context.Context, bi *action.BackupItem, e Engine, t Target, host string, images []streamImage) (missing []string, converted map[string]string, err error) {
	target, err := t.Open(ctx, bi)
	if err != nil {
		return nil, nil, err
	}
	reg, err := openRegistry(e, host, bi.Config, bi.Log)
	if err != nil {
		return nil, nil, err
	}
	repo := bi.Obj.GetNamespace() + "/" + bi.Obj.GetName()
	var jobs []imagecopy.Job
	var tagsOf [][]string // per job, the tags naming it
	var digests []string  // per job
	index := map[string]int{}
	for _, im := range images {
		key := im.Ref.Repository + "@" + im.Digest
		if i, ok := index[key]; ok {
			tagsOf[i] = append(tagsOf[i], im.Tag)
			continue
		}
		src, err := reg.Image(im.Ref.Repository, im.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("image copy: tag %q (%s): %w", im.Tag, im.Field, err)
		}
		dst, err := target.Image(repo, im.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("image copy: tag %q (%s): %w", im.Tag, im.Field, err)
		}
		index[key] = len(jobs)
		jobs = append(jobs, imagecopy.Job{Src: src, Dst: dst})
		tagsOf = append(tagsOf, []string{im.Tag})
		digests = append(digests, im.Digest)
	}
	log := bi.Log.WithField("location", target.String())
	log.WithField("images", len(jobs)).Info("image copy: backing up the image stream's internal images")
	results := e.CopyAll(ctx, log, bi.Config, jobs)
	stored := map[string]bool{} // a digest copied from one repository is stored, whatever another says
	converted = map[string]string{}
	for i, r := range results {
		if r.Err == nil {
			stored[digests[i]] = true
			if r.Converted {
				converted[digests[i]] = r.Digest.String()
			}
		}
	}
	var errs []string
	for i, r := range results {
		if r.Err == nil || stored[digests[i]] {
			continue
		}
		d := digests[i]
		if isMissing(r.Err) {
			log.WithFields(logrus.Fields{"tags": strings.Join(tagsOf[i], ","), "digest": d}).
				Warnf("image copy: tag %s image %s is missing on the source registry; not backed up: %v", strings.Join(tagsOf[i], ","), d, r.Err)
			missing = append(missing, d)
			continue
		}
		errs = append(errs, fmt.Sprintf("tag %s image %s: %v", strings.Join(tagsOf[i], ","), d, r.Err))
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("image copy from %s to %s failed for %d of %d images: %s", reg, target, len(errs), len(jobs), strings.Join(errs, "; "))
	}
	sort.Strings(missing)
	return slices.Compact(missing), converted, nil
}

// recordConverted points the status history entries of images stored converted at their stored
// digests (image and the digest of dockerImageReference), so the restore pushes and references
// the image that exists.
func recordConverted(images []streamImage, converted map[string]string) {
	for _, im := range images {
		to, ok := converted[im.Digest]
		if !ok {
			continue
		}
		if img, _ := im.entry["image"].(string); img == im.Digest {
			im.entry["image"] = to
		}
		if ref, _ := im.entry["dockerImageReference"].(string); strings.HasSuffix(ref, "@"+im.Digest) {
			im.entry["dockerImageReference"] = strings.TrimSuffix(ref, im.Digest) + to
		}
	}
}

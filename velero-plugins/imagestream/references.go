package imagestream

// Which images of the image store a backup needs, and the location's backups as the sweep sees
// them (imagecopy.Backups): the records written at backup, the references derived from a
// backed-up ImageStream (for backups taken before records existed, from their tarball, and for
// the stream a delete action is handed), the Backups of Velero's namespace.

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// StreamRefs are the store images a backed-up ImageStream needs: nothing unless it carries the
// location's bookkeeping annotation (its images were copied into the store), else every digest
// of its status history in repository <namespace>/<name>. Digests of images outside the store
// are included too: naming more than is stored only keeps more.
func StreamRefs(obj map[string]any) (imagecopy.ImageRefs, bool) {
	u := unstructured.Unstructured{Object: obj}
	if _, ok := u.GetAnnotations()[keys.ImageCopyLocation]; !ok {
		return imagecopy.ImageRefs{}, false
	}
	return streamDigests(obj), true
}

// streamDigests is every digest of a stream's status history, in repository <namespace>/<name>.
func streamDigests(obj map[string]any) imagecopy.ImageRefs {
	u := unstructured.Unstructured{Object: obj}
	seen := map[digest.Digest]bool{}
	tags, _, _ := unstructured.NestedSlice(obj, "status", "tags")
	for _, t := range tags {
		tm, _ := t.(map[string]any)
		items, _ := tm["items"].([]any)
		for _, it := range items {
			im, _ := it.(map[string]any)
			for _, s := range []string{str(im["image"]), afterAt(str(im["dockerImageReference"]))} {
				if d, err := digest.Parse(s); err == nil {
					seen[d] = true
				}
			}
		}
	}
	refs := imagecopy.ImageRefs{Repository: u.GetNamespace() + "/" + u.GetName()}
	for d := range seen {
		refs.Manifests = append(refs.Manifests, d)
	}
	sort.Slice(refs.Manifests, func(i, j int) bool { return refs.Manifests[i] < refs.Manifests[j] })
	return refs
}

func str(v any) string { s, _ := v.(string); return s }

func afterAt(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}

// refsFromTarball reads a Velero backup tarball and returns the store images of its
// ImageStreams (resources/imagestreams.image.openshift.io/[<version>/]namespaces/<ns>/<name>.json).
func refsFromTarball(r io.Reader) ([]imagecopy.ImageRefs, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("backup tarball: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	byRepo := map[string]imagecopy.ImageRefs{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backup tarball: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(name, "resources/"+Resource+"/") || path.Ext(name) != ".json" || !strings.Contains(name, "/namespaces/") {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("backup tarball %s: %w", name, err)
		}
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, fmt.Errorf("backup tarball %s: %w", name, err)
		}
		if refs, ok := StreamRefs(obj); ok {
			byRepo[refs.Repository] = refs // the preferred-version copy is the same stream
		}
	}
	out := make([]imagecopy.ImageRefs, 0, len(byRepo))
	for _, r := range byRepo {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Repository < out[j].Repository })
	return out, nil
}

// BackupInfo is what the sweep needs of a Backup object.
type BackupInfo struct {
	Name, Location string
	Phase          velerov1.BackupPhase
}

// BackupLister lists the Backups of Velero's namespace.
type BackupLister interface {
	Backups(ctx context.Context, namespace string) ([]BackupInfo, error)
}

func (c clusterClients) Backups(ctx context.Context, namespace string) ([]BackupInfo, error) {
	d, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	list, err := d.Resource(backupGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the Backups of namespace %s: %w", namespace, err)
	}
	out := make([]BackupInfo, 0, len(list.Items))
	for _, b := range list.Items {
		loc, _, _ := unstructured.NestedString(b.Object, "spec", "storageLocation")
		phase, _, _ := unstructured.NestedString(b.Object, "status", "phase")
		out = append(out, BackupInfo{Name: b.GetName(), Location: loc, Phase: velerov1.BackupPhase(phase)})
	}
	return out, nil
}

// unfinished are the phases of a backup that may still write to its location.
var unfinished = map[velerov1.BackupPhase]bool{
	"": true, velerov1.BackupPhaseNew: true, velerov1.BackupPhaseInProgress: true,
	velerov1.BackupPhaseWaitingForPluginOperations:                true,
	velerov1.BackupPhaseWaitingForPluginOperationsPartiallyFailed: true,
	velerov1.BackupPhaseFinalizing:                                true,
	velerov1.BackupPhaseFinalizingPartiallyFailed:                 true,
}

// locationBackups is imagecopy.Backups for one location: Backup objects of Velero's namespace
// and the location's backups/ folder.
type locationBackups struct {
	list      BackupLister
	namespace string
	location  string
	store     *imagecopy.Store
}

var _ imagecopy.Backups = locationBackups{}

// InProgress names an unfinished Backup to this location (one naming no location counts: Velero
// gives it the default location).
func (l locationBackups) InProgress(ctx context.Context) (string, error) {
	bs, err := l.list.Backups(ctx, l.namespace)
	if err != nil {
		return "", err
	}
	for _, b := range bs {
		if unfinished[b.Phase] && (b.Location == l.location || b.Location == "") {
			return b.Name, nil
		}
	}
	return "", nil
}

// Existing is every Backup object of the namespace (whatever its location: the same bucket may
// be two locations) and every backup folder in the location.
func (l locationBackups) Existing(ctx context.Context) (map[string]bool, error) {
	bs, err := l.list.Backups(ctx, l.namespace)
	if err != nil {
		return nil, err
	}
	out, err := l.store.LocationBackups(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		out[b.Name] = true
	}
	return out, nil
}

// Derive reads the backup's tarball; a backup without one (failed before it was written, or
// still being written elsewhere) needs nothing now and is asked again next time.
func (l locationBackups) Derive(ctx context.Context, backup string) ([]imagecopy.ImageRefs, bool, error) {
	rc, err := l.store.BackupContents(ctx, backup)
	if errors.Is(err, imagecopy.ErrNoContents) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	refs, err := refsFromTarball(rc)
	if err != nil {
		return nil, false, fmt.Errorf("backup %s: %w", backup, err)
	}
	return refs, true, nil
}

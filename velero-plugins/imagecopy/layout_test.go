package imagecopy

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/persistence"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
)

// dirObjectStore is a read-only velero.ObjectStore over a directory (<base>/<bucket>/<key>): what
// Velero's backup store validation needs to look at a filesystem location.
type dirObjectStore struct{ base string }

var errReadOnly = errors.New("dirObjectStore: not implemented")

func (d dirObjectStore) Init(map[string]string) error              { return nil }
func (d dirObjectStore) PutObject(string, string, io.Reader) error { return errReadOnly }
func (d dirObjectStore) ObjectExists(string, string) (bool, error) { return false, errReadOnly }
func (d dirObjectStore) GetObject(string, string) (io.ReadCloser, error) {
	return nil, errReadOnly
}
func (d dirObjectStore) ListObjects(string, string) ([]string, error) { return nil, errReadOnly }
func (d dirObjectStore) DeleteObject(string, string) error            { return errReadOnly }
func (d dirObjectStore) CreateSignedURL(string, string, time.Duration) (string, error) {
	return "", errReadOnly
}

// ListCommonPrefixes lists, like an object store, the distinct "<prefix><segment><delimiter>" of
// the keys under prefix.
func (d dirObjectStore) ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error) {
	root := filepath.Join(d.base, bucket)
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rest, ok := strings.CutPrefix(filepath.ToSlash(rel), prefix); ok {
			if i := strings.Index(rest, delimiter); i >= 0 {
				seen[prefix+rest[:i+len(delimiter)]] = true
			}
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, err
}

type dirObjectStoreGetter struct{ dirObjectStore }

func (g dirObjectStoreGetter) GetObjectStore(string) (velero.ObjectStore, error) {
	return g.dirObjectStore, nil
}

// An image store must leave its location valid in Velero's eyes: Velero marks a location whose
// prefix holds a top-level folder of its own layout's list Unavailable, then refuses backups to
// it and syncs no backup from it. Checked with Velero's own validation.
func TestStoreLeavesTheLocationValidForVelero(t *testing.T) {
	ctx := context.Background()
	for _, prefix := range []string{"", "cluster-a/velero"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			base := t.TempDir()
			bsl := bslFor(ProviderFilesystem, "bucket", prefix, map[string]string{"path": base})
			store, err := OpenStore(ctx, bsl, StoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			named, err := reference.WithName("ns/app")
			if err != nil {
				t.Fatal(err)
			}
			repo, err := store.ns.Repository(ctx, named)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.Blobs(ctx).Put(ctx, "application/octet-stream", []byte("a layer")); err != nil {
				t.Fatal(err)
			}
			getter := dirObjectStoreGetter{dirObjectStore{base: base}}
			root := prefix
			if root != "" {
				root += "/"
			}
			top, err := getter.ListCommonPrefixes("bucket", root, "/")
			if err != nil || len(top) == 0 {
				t.Fatalf("the store wrote nothing under the prefix (%v, %v)", top, err)
			}
			bs, err := persistence.NewObjectBackupStoreGetter(nil).Get(bsl, getter, logrus.New())
			if err != nil {
				t.Fatal(err)
			}
			if err := bs.IsValid(); err != nil {
				t.Errorf("Velero's validation of the location after an image was stored (top-level %v): %v", top, err)
			}
		})
	}
}

//go:build integration

package imagestream

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/test/testregistry"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// Backups lists the fake's backups (all Completed).
func (f *fakeCluster) Backups(_ context.Context, ns string) ([]BackupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []BackupInfo
	for k, loc := range f.backups {
		if n, name, ok := cut2(k); ok && n == ns {
			out = append(out, BackupInfo{Name: name, Location: loc, Phase: velerov1.BackupPhaseCompleted})
		}
	}
	return out, nil
}

func cut2(k string) (string, string, bool) {
	for i := range k {
		if k[i] == '/' {
			return k[:i], k[i+1:], true
		}
	}
	return "", "", false
}

// writeTarball writes a Velero backup tarball holding the stream into the location, as Velero
// does at the end of a backup.
func writeTarball(t *testing.T, bsl *velerov1.BackupStorageLocation, backup string, streams ...*unstructured.Unstructured) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, s := range streams {
		data, err := json.Marshal(s.Object)
		if err != nil {
			t.Fatal(err)
		}
		for _, dir := range []string{"namespaces", "v1-preferredversion/namespaces"} {
			name := fmt.Sprintf("resources/%s/%s/%s/%s.json", Resource, dir, s.GetNamespace(), s.GetName())
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(bsl.Spec.Config["path"], bsl.Spec.ObjectStorage.Bucket, bsl.Spec.ObjectStorage.Prefix, "backups", backup)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, backup+".tar.gz"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// imageBackups: backup-1 holds generations 1 and 2 of app/web, backup-2 generation 2 and v1,
// both taken by the backup action into a filesystem location (records and tarballs written).
type imageBackups struct {
	cluster        *fakeCluster
	bsl            *velerov1.BackupStorageLocation
	env            action.Env
	store          *imagecopy.Store
	gen1, gen2, v1 digest.Digest
	item1, item2   *unstructured.Unstructured
	bk1, bk2       *velerov1.Backup
	stored         func(digest.Digest) bool
}

func newImageBackups(t *testing.T) *imageBackups {
	p := newPKI(t)
	token := "sa-token-" + fmt.Sprint(time.Now().UnixNano())
	srcReg := testregistry.Start(t, p, token)
	useCredentials(t, token, p.CAPEM)
	gen1 := pushImage(t, srcReg, "app/web", "latest", 1)
	gen2 := pushImage(t, srcReg, "app/web", "latest", 2)
	v1d := pushImage(t, srcReg, "app/web", "v1", 3)
	refOf := func(d digest.Digest) string { return srcReg.Host + "/app/web@" + d.String() }
	stream := func(tags map[string][]digest.Digest) *unstructured.Unstructured {
		var st []any
		for _, tag := range []string{"latest", "v1"} {
			var items []any
			for i, d := range tags[tag] {
				items = append(items, item(refOf(d), d.String(), int64(len(tags[tag])-i)))
			}
			if items != nil {
				st = append(st, map[string]any{"tag": tag, "items": items})
			}
		}
		return actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"status": map[string]any{"tags": st}})
	}
	bsl := filesystemBSL(t, "default", nil)
	cluster := &fakeCluster{locations: map[string]*velerov1.BackupStorageLocation{"velero/default": bsl}, backups: map[string]string{}}
	logger := logrus.New()
	logger.SetOutput(&testWriter{t})
	env := registryEnv(srcReg.Host, logger)
	ctx := context.Background()

	backup := func(name string, is *unstructured.Unstructured) (*unstructured.Unstructured, *velerov1.Backup) {
		b := NewBackup(env)
		b.Enabled = func() bool { return true }
		b.Cluster = cluster
		bk := actiontest.Backup()
		bk.Name, bk.UID, bk.Spec.StorageLocation = name, types.UID("uid-"+name), "default"
		out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, is, bk)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out.GetAnnotations()[keys.ImageCopyLocation] != "default" {
			t.Fatalf("%s: images not copied", name)
		}
		cluster.backups["velero/"+name] = "default"
		writeTarball(t, bsl, name, out)
		return out, bk
	}
	item1, bk1 := backup("backup-1", stream(map[string][]digest.Digest{"latest": {gen2, gen1}}))
	item2, bk2 := backup("backup-2", stream(map[string][]digest.Digest{"latest": {gen2}, "v1": {v1d}}))
	store, err := imagecopy.OpenStore(ctx, bsl, imagecopy.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"backup-1", "backup-2"} {
		if ok, err := store.HasRecords(ctx, b); err != nil || !ok {
			t.Fatalf("%s wrote no reference record (%v)", b, err)
		}
	}
	f := &imageBackups{cluster: cluster, bsl: bsl, env: env, store: store, gen1: gen1, gen2: gen2, v1: v1d,
		item1: item1, item2: item2, bk1: bk1, bk2: bk2}
	f.stored = func(d digest.Digest) bool {
		img, _ := store.Image("app/web", d.String())
		_, err := store.Resolve(ctx, img)
		return err == nil
	}
	return f
}

// TestDeleteFreesOnlyTheDeletedBackupsImages: backup-1 holds generations 1 and 2 of app/web,
// backup-2 (taken before reference records existed: it has only its tarball) generation 2 and
// v1. Deleting backup-1 through the delete action frees generation 1 only, once for all its
// streams, and remembers backup-2's derived references; deleting backup-2 then frees the rest.
func TestDeleteFreesOnlyTheDeletedBackupsImages(t *testing.T) {
	f := newImageBackups(t)
	cluster, bsl, env, store, ctx := f.cluster, f.bsl, f.env, f.store, context.Background()
	gen1, gen2, v1d, stored := f.gen1, f.gen2, f.v1, f.stored
	item1, bk1, item2, bk2 := f.item1, f.bk1, f.item2, f.bk2
	// backup-2 as if taken before records existed.
	if err := os.RemoveAll(filepath.Join(bsl.Spec.Config["path"], "b", "p", imagecopy.ImagesDir, "backups", "backup-2")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)

	del := NewDelete(env)
	del.Cluster, del.Backups, del.Grace = cluster, cluster, time.Millisecond
	reg := actiontest.Registration(DeleteName, action.KindDelete, del)
	run := func(it *unstructured.Unstructured, bk *velerov1.Backup) {
		t.Helper()
		a, err := action.Wrap(reg, env)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.(velero.DeleteItemAction).Execute(&velero.DeleteItemActionExecuteInput{Item: it.DeepCopy(), Backup: bk}); err != nil {
			t.Fatalf("delete %s: %v", bk.Name, err)
		}
	}
	run(item1, bk1)
	if stored(gen1) || !stored(gen2) || !stored(v1d) {
		t.Fatalf("after deleting backup-1: gen1 %v gen2 %v v1 %v; want only gen1 freed", stored(gen1), stored(gen2), stored(v1d))
	}
	if ok, _ := store.HasRecords(ctx, "backup-2"); !ok {
		t.Error("backup-2's references derived from its tarball were not remembered")
	}
	// A second stream of the same backup: nothing more to do (no sweep: the tried map says done).
	run(item1, bk1)
	if del.tried[string(bk1.UID)] != -1 {
		t.Errorf("sweep state of backup-1: %v", del.tried)
	}

	// Velero removes backup-1 (its Backup and its folder in the location); deleting backup-2
	// frees everything.
	delete(cluster.backups, "velero/backup-1")
	if err := os.RemoveAll(filepath.Join(bsl.Spec.Config["path"], "b", "p", "backups", "backup-1")); err != nil {
		t.Fatal(err)
	}
	run(item2, bk2)
	for _, d := range []digest.Digest{gen1, gen2, v1d} {
		if stored(d) {
			t.Errorf("%s still stored after deleting every backup", d)
		}
	}
	blobs := filepath.Join(bsl.Spec.Config["path"], "b", "p", imagecopy.ImagesDir, "docker", "registry", "v2", "blobs")
	var left []string
	_ = filepath.Walk(blobs, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("blobs left: %v", left)
	}
}

// TestReclaimImagesOfBackupsDeletedWithoutThePlugin: backup-1 is deleted while the plugin was
// not installed (its Backup and its folder gone, its images and records left in the store).
// reclaim-images without --apply prints what it would free and changes nothing; with --apply it
// frees exactly generation 1 (backup-2's images stay), and a rerun finds nothing left to free.
func TestReclaimImagesOfBackupsDeletedWithoutThePlugin(t *testing.T) {
	f := newImageBackups(t)
	delete(f.cluster.backups, "velero/backup-1")
	if err := os.RemoveAll(filepath.Join(f.bsl.Spec.Config["path"], "b", "p", "backups", "backup-1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // past the grace period given below
	// What the process's standard logger prints (the command runs as its own process).
	std := logrus.StandardLogger()
	defer std.SetOutput(std.Out)
	reclaim := func(args ...string) (objects, bytes int64, out string) {
		t.Helper()
		var stdout, stderr strings.Builder
		processLog := &lockedBuffer{}
		std.SetOutput(processLog)
		cmd := reclaimCommand(&stdout, &stderr, func() (Cluster, BackupLister) { return f.cluster, f.cluster }, DefaultEngine())
		args = append([]string{"--location", "default", "--namespace", "velero", "--grace", "1ms"}, args...)
		if code := cmd.Run(args); code != 0 {
			t.Fatalf("reclaim-images %v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout.String(), stderr.String())
		}
		if all := stderr.String() + processLog.String(); strings.Contains(all, "level=info") {
			t.Errorf("reclaim-images %v printed the sweep helpers' info lines: %s", args, all)
		}
		m := regexp.MustCompile(`(would free|freed) (\d+) objects, (\d+) bytes`).FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("reclaim-images %v printed no count of objects and bytes: %q", args, stdout.String())
		}
		objects, _ = strconv.ParseInt(m[2], 10, 64)
		bytes, _ = strconv.ParseInt(m[3], 10, 64)
		return objects, bytes, stdout.String()
	}
	wouldObjects, wouldBytes, out := reclaim()
	if !strings.Contains(out, "would free") || wouldObjects == 0 || wouldBytes == 0 {
		t.Errorf("dry run: %q; want a non-zero count of what it would free", out)
	}
	if !f.stored(f.gen1) || !f.stored(f.gen2) || !f.stored(f.v1) {
		t.Fatal("the dry run freed images")
	}
	objects, bytes, out := reclaim("--apply")
	if !strings.Contains(out, "freed") || objects != wouldObjects || bytes != wouldBytes {
		t.Errorf("--apply: %q; want %d objects, %d bytes freed as the dry run said", out, wouldObjects, wouldBytes)
	}
	if f.stored(f.gen1) || !f.stored(f.gen2) || !f.stored(f.v1) {
		t.Errorf("after --apply: gen1 %v gen2 %v v1 %v; want only gen1 (backup-1's own) freed", f.stored(f.gen1), f.stored(f.gen2), f.stored(f.v1))
	}
	if objects, _, out := reclaim(); objects != 0 {
		t.Errorf("rerun: %q; want nothing left to free", out)
	}
}

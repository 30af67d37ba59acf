//go:build integration

package imagecopy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/s3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testregistry"
)

// fakeBackups is the sweep's view of the location's backups; hook (if set) runs on each
// InProgress call with its number, before the answer is read.
type fakeBackups struct {
	mu         sync.Mutex
	existing   map[string]bool
	inProgress string
	derived    map[string][]ImageRefs
	deriveErr  error
	calls      int
	hook       func(call int)
}

func (f *fakeBackups) InProgress(context.Context) (string, error) {
	f.mu.Lock()
	f.calls++
	call, hook := f.calls, f.hook
	f.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inProgress, nil
}

func (f *fakeBackups) Existing(context.Context) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for k, v := range f.existing {
		out[k] = v
	}
	return out, nil
}

func (f *fakeBackups) Derive(_ context.Context, b string) ([]ImageRefs, bool, error) {
	if f.deriveErr != nil {
		return nil, false, f.deriveErr
	}
	return f.derived[b], true, nil
}

// gcFixture: a source registry with three images sharing layers, backed up by named backups
// into an S3 store as the ImageStream backup does (by digest, one record per repository).
type gcFixture struct {
	src, dst *testregistry.Registry
	s3       *testS3
	images   map[string]*testimage.Image // name -> image
	repoOf   map[string]string           // name -> repository
}

const gcPrefix = "cluster-a/velero"

func newGCFixture(t *testing.T) *gcFixture {
	t.Helper()
	f := &gcFixture{
		src: startRegistry(t, "src-"+randomHex(8)), dst: startRegistry(t, "dst-"+randomHex(8)),
		s3: startS3(t), images: map[string]*testimage.Image{}, repoOf: map[string]string{},
	}
	add := func(name, repo string, img *testimage.Image) {
		f.src.Push(t, repo, img, name)
		f.images[name], f.repoOf[name] = img, repo
	}
	// A and B share layers 2 and 3 (same repository); C shares layer 3 (another repository).
	add("A", "ns/app", testimage.New(t, testimage.Spec{}, testimage.Layer{Seed: 101, Size: 96 * kib}, testimage.Layer{Seed: 102, Size: 64 * kib}, testimage.Layer{Seed: 103, Size: 32 * kib}))
	add("B", "ns/app", testimage.New(t, testimage.Spec{Cmd: "b"}, testimage.Layer{Seed: 102, Size: 64 * kib}, testimage.Layer{Seed: 103, Size: 32 * kib}, testimage.Layer{Seed: 104, Size: 80 * kib}))
	add("C", "ns/other", testimage.New(t, testimage.Spec{Cmd: "c"}, testimage.Layer{Seed: 103, Size: 32 * kib}, testimage.Layer{Seed: 105, Size: 48 * kib}))
	// An index in its own repository, sharing layer 2.
	add("I", "ns/multi", testimage.Index(t,
		testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 102, Size: 64 * kib}),
		testimage.New(t, testimage.Spec{Arch: "arm64"}, testimage.Layer{Seed: 106, Size: 40 * kib})))
	return f
}

func (f *gcFixture) open(t *testing.T, wrap func(storagedriver.StorageDriver) storagedriver.StorageDriver) *Store {
	t.Helper()
	log, _ := newTestLog(t)
	st, err := OpenStore(context.Background(), f.s3.bsl("default", gcPrefix), StoreOptions{
		Credentials: f.s3.credentials(f.s3.secretKey), Log: log, WrapDriver: wrap})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// backup copies the named images into the store by digest and writes the backup's records.
func (f *gcFixture) backup(t *testing.T, st *Store, backup string, names ...string) {
	t.Helper()
	ctx := context.Background()
	reg := endpoint(t, f.src)
	byRepo := map[string][]digest.Digest{}
	var jobs []Job
	for _, n := range names {
		img, repo := f.images[n], f.repoOf[n]
		src, err := reg.Image(repo, img.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		dst, err := st.Image(repo, img.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, Job{Src: src, Dst: dst})
		byRepo[repo] = append(byRepo[repo], img.Digest)
	}
	for _, r := range (&Copier{Log: st.log}).CopyAll(ctx, jobs) {
		if r.Err != nil {
			t.Fatalf("backup %s: %v", backup, r.Err)
		}
	}
	for repo, ds := range byRepo {
		if err := st.WriteRecord(ctx, backup, repo, ds); err != nil {
			t.Fatal(err)
		}
	}
}

// restore copies the named images out of the store into the destination registry and checks
// their digests.
func (f *gcFixture) restore(t *testing.T, st *Store, names ...string) {
	t.Helper()
	reg := endpoint(t, f.dst)
	for _, n := range names {
		img, repo := f.images[n], f.repoOf[n]
		src, err := st.Image(repo, img.Digest.String())
		if err != nil {
			t.Fatal(err)
		}
		dst, err := reg.Image("restored-"+randomHex(4)+"/"+strings.ReplaceAll(repo, "/", "-"), "v1")
		if err != nil {
			t.Fatal(err)
		}
		res, err := (&Copier{Log: st.log}).Copy(context.Background(), src, dst)
		if err != nil {
			t.Fatalf("restoring %s (%s@%s): %v", n, repo, img.Digest, err)
		}
		if res.Digest != img.Digest {
			t.Fatalf("restored %s as %s, want %s", n, res.Digest, img.Digest)
		}
	}
}

// storeKeys lists the objects of the image store (relative to it).
func (f *gcFixture) storeKeys(t *testing.T) []string {
	t.Helper()
	root := gcPrefix + "/" + ImagesDir + "/"
	var out []string
	for _, k := range listKeys(t, f.s3) {
		if rel, ok := strings.CutPrefix(k, root); ok {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out
}

// blobsOf is every blob of the named images, manifests included (index children too).
func (f *gcFixture) blobsOf(names ...string) map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for _, n := range names {
		img := f.images[n]
		out[img.Digest] = true
		for _, c := range img.Children {
			out[c.Digest] = true
		}
		for _, d := range img.BlobDigests() {
			out[d] = true
		}
	}
	return out
}

func dataKey(d digest.Digest) string {
	return "docker/registry/v2/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
}

func diffKeys(before, after []string) (removed, added []string) {
	for _, k := range before {
		if !slices.Contains(after, k) {
			removed = append(removed, k)
		}
	}
	for _, k := range after {
		if !slices.Contains(before, k) {
			added = append(added, k)
		}
	}
	return removed, added
}

var later = func() time.Time { return time.Now().Add(3 * DefaultSweepGrace) }

// TestSweepFreesOnlyWhatDeletedBackupsNeeded: two backups sharing layers; a dry run changes
// nothing; deleting the first frees exactly the blobs only it referenced (its manifests, their
// links and its records), the second still restores; deleting the second empties the store.
func TestSweepFreesOnlyWhatDeletedBackupsNeeded(t *testing.T) {
	f := newGCFixture(t)
	ctx := context.Background()
	st := f.open(t, nil)
	f.backup(t, st, "b1", "A", "C", "I")
	f.backup(t, st, "b2", "B", "C")
	bk := &fakeBackups{existing: map[string]bool{"b1": true, "b2": true}}

	before := f.storeKeys(t)
	t.Logf("store before: %d objects", len(before))

	// Dry run of a full sweep with b1 gone (deleted without the plugin): reports, changes nothing.
	bk.existing = map[string]bool{"b2": true}
	dry, err := st.Sweep(ctx, SweepOptions{Backups: bk, Full: true, DryRun: true, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if after := f.storeKeys(t); !slices.Equal(before, after) {
		removed, added := diffKeys(before, after)
		t.Fatalf("dry run changed the store: removed %v, added %v", removed, added)
	}
	if dry.Blobs == 0 || dry.Bytes == 0 || dry.Manifests == 0 {
		t.Errorf("dry run reports nothing to free: %s", dry)
	}
	t.Logf("dry run: %s", dry)

	// Delete b1 as the delete action does: retire its records, sweep. b1's folder is still in
	// the location (Velero deletes it after the delete actions): it must not count.
	bk.existing = map[string]bool{"b1": true, "b2": true}
	if n, err := st.RetireBackup(ctx, "b1", nil); err != nil || n != 3 {
		t.Fatalf("retiring b1: %d records, %v", n, err)
	}
	rep, err := st.Sweep(ctx, SweepOptions{Backups: bk, Deleting: "b1", Now: later})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deleting b1: %s", rep)
	after := f.storeKeys(t)
	removed, added := diffKeys(before, after)
	if len(added) > 0 {
		t.Errorf("sweep added objects: %v", added)
	}
	only := f.blobsOf("A", "I")
	for d := range f.blobsOf("B", "C") {
		delete(only, d)
	}
	if dry.Blobs != len(only) {
		t.Errorf("dry run would free %d blobs, b1 alone referenced %d", dry.Blobs, len(only))
	}
	var freedBlobs int
	for _, k := range removed {
		switch {
		case strings.HasPrefix(k, "backups/b1/"):
		case strings.HasPrefix(k, "docker/registry/v2/blobs/"):
			freedBlobs++
			found := false
			for d := range only {
				if k == dataKey(d) {
					found = true
				}
			}
			if !found {
				t.Errorf("freed blob %s that b2 needs", k)
			}
		case strings.HasPrefix(k, "docker/registry/v2/repositories/ns/multi/"):
			// b2 has no image in this repository.
		case strings.HasPrefix(k, "docker/registry/v2/repositories/"):
			found := false
			for d := range only {
				found = found || strings.Contains(k, "/"+d.Encoded()+"/")
			}
			if !found {
				t.Errorf("removed link %s that b2 needs", k)
			}
		default:
			t.Errorf("removed unexpected object %s", k)
		}
	}
	if freedBlobs != len(only) || rep.Blobs != len(only) {
		t.Errorf("freed %d blobs (reported %d), b1 alone referenced %d", freedBlobs, rep.Blobs, len(only))
	}
	for _, k := range after {
		if strings.HasPrefix(k, "deleted/") || strings.HasPrefix(k, "backups/b1/") {
			t.Errorf("b1's record %s left", k)
		}
	}
	// b2 still restores, from a freshly opened store (another process).
	f.restore(t, f.open(t, nil), "B", "C")

	// Delete b2: the store is empty.
	bk.existing = map[string]bool{"b2": true}
	if _, err := st.RetireBackup(ctx, "b2", nil); err != nil {
		t.Fatal(err)
	}
	rep, err = st.Sweep(ctx, SweepOptions{Backups: bk, Deleting: "b2", Now: later})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deleting b2: %s", rep)
	if left := f.storeKeys(t); len(left) > 0 {
		t.Errorf("store not empty after deleting every backup: %v", left)
	}
}

// TestSweepKeepsWhatLiveBackupsNeed: the safety rules one by one, each a sweep that must free
// nothing of A.
func TestSweepKeepsWhatLiveBackupsNeed(t *testing.T) {
	f := newGCFixture(t)
	ctx := context.Background()
	st := f.open(t, nil)
	f.backup(t, st, "b1", "A")
	aData := dataKey(f.images["A"].Digest)
	for _, tc := range []struct {
		name string
		bk   *fakeBackups
		opts SweepOptions
		// wantErr, wantSkip: the sweep stops (nothing freed).
		wantErr, wantSkip bool
		check             func(t *testing.T)
	}{
		{name: "a backup to the location is in progress", bk: &fakeBackups{inProgress: "b9"}, opts: SweepOptions{Deleting: "b1", Now: later}, wantSkip: true},
		{name: "written within the grace period", bk: &fakeBackups{}, opts: SweepOptions{Deleting: "b1"}},
		{name: "a legacy backup's references cannot be determined", bk: &fakeBackups{existing: map[string]bool{"old": true}, deriveErr: errors.New("tarball unreadable")},
			opts: SweepOptions{Deleting: "b1", Now: later}, wantErr: true},
		{name: "a legacy backup's derived references name it", bk: &fakeBackups{existing: map[string]bool{"old": true},
			derived: map[string][]ImageRefs{"old": {{Repository: "ns/app", Manifests: []digest.Digest{f.images["A"].Digest}}}}}, opts: SweepOptions{Deleting: "b1", Now: later},
			check: func(t *testing.T) {
				// The derived references were remembered as a record of the legacy backup.
				if ok, err := st.HasRecords(ctx, "old"); err != nil || !ok {
					t.Errorf("no derived record for the legacy backup (%v)", err)
				}
			}},
		{name: "full sweep: the backup exists", bk: &fakeBackups{existing: map[string]bool{"b1": true}}, opts: SweepOptions{Full: true, Now: later}},
		{name: "not the backup being deleted, not full", bk: &fakeBackups{}, opts: SweepOptions{Deleting: "b7", Now: later}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// b1's record as the backup wrote it (a sweep deleting b1 removes it).
			if err := st.WriteRecord(ctx, "b1", "ns/app", []digest.Digest{f.images["A"].Digest}); err != nil {
				t.Fatal(err)
			}
			before := f.storeKeys(t)
			tc.opts.Backups = tc.bk
			rep, err := st.Sweep(ctx, tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if (rep.Skipped != "") != tc.wantSkip {
				t.Errorf("skipped %q, want skipped %v", rep.Skipped, tc.wantSkip)
			}
			after := f.storeKeys(t)
			if !slices.Contains(after, aData) {
				t.Fatalf("A's manifest was deleted (%s)", rep)
			}
			removed, _ := diffKeys(before, after)
			for _, k := range removed {
				// Records of backups that no longer exist may go; nothing else.
				if !strings.HasPrefix(k, "backups/old/") && !(strings.HasPrefix(k, "backups/b1/") && !tc.bk.existing["b1"]) {
					t.Errorf("removed %s", k)
				}
			}
			if tc.check != nil {
				tc.check(t)
			}
			f.restore(t, st, "A")
		})
	}
}

// TestSweepWhileBackupLinksOldBlobs: a backup that starts after the sweep checked for backups in
// progress links blobs the sweep is about to free (the store has them from a deleted backup);
// whether the second check sees it in progress or not (another cluster), nothing it needs is
// lost, and it restores afterwards. Also through the sweep's own Store (its cache of known
// blobs).
func TestSweepWhileBackupLinksOldBlobs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reportIt   bool // the second check sees the new backup in progress
		sameStore  bool
		afterSweep bool // the backup runs after the sweep, through the same Store
	}{
		{name: "seen in progress at the second check", reportIt: true},
		{name: "not seen (another cluster): links listed again", reportIt: false},
		{name: "after the sweep, through the sweeping Store", sameStore: true, afterSweep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGCFixture(t)
			ctx := context.Background()
			st := f.open(t, nil)
			f.backup(t, st, "b1", "A", "C")
			if _, err := st.RetireBackup(ctx, "b1", nil); err != nil {
				t.Fatal(err)
			}
			bk := &fakeBackups{}
			other := f.open(t, nil)
			if tc.sameStore {
				other = st
			}
			var ran atomic.Bool
			if !tc.afterSweep {
				bk.hook = func(call int) {
					if call != 2 || ran.Swap(true) {
						return
					}
					// Between the manifest phase and the blob data: b3 backs up A again.
					f.backup(t, other, "b3", "A")
					bk.mu.Lock()
					bk.existing = map[string]bool{"b3": true}
					if tc.reportIt {
						bk.inProgress = "b3"
					}
					bk.mu.Unlock()
				}
			}
			rep, err := st.Sweep(ctx, SweepOptions{Backups: bk, Deleting: "b1", Now: later})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("sweep: %s", rep)
			if !tc.afterSweep && !ran.Load() {
				t.Fatal("the concurrent backup did not run")
			}
			if tc.afterSweep {
				f.backup(t, st, "b3", "A")
			}
			f.restore(t, f.open(t, nil), "A")
			if n := checkStoreIntegrity(t, f.open(t, nil)); n == 0 {
				t.Error("no manifest left")
			}
		})
	}
}

// stopAfter cancels the sweep's context after n deletes.
type stopAfter struct {
	storagedriver.StorageDriver
	n      int64
	count  atomic.Int64
	cancel context.CancelFunc
}

func (d *stopAfter) Delete(ctx context.Context, path string) error {
	if d.count.Add(1) > d.n && d.cancel != nil {
		d.cancel()
		return context.Canceled
	}
	return d.StorageDriver.Delete(ctx, path)
}

// TestSweepInterruptedConverges: a sweep killed after n deletes leaves a store the remaining
// backup restores from; run again, it ends where an uninterrupted sweep ends.
func TestSweepInterruptedConverges(t *testing.T) {
	f := newGCFixture(t)
	ctx := context.Background()
	var wrapped *stopAfter
	st := f.open(t, func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
		wrapped = &stopAfter{StorageDriver: d, n: 1 << 30}
		return wrapped
	})
	f.backup(t, st, "b2", "B", "C")
	want := f.storeKeys(t) // what an uninterrupted sweep of b1 leaves
	f.backup(t, st, "b1", "A", "C", "I")
	bk := &fakeBackups{existing: map[string]bool{"b2": true}}
	if _, err := st.RetireBackup(ctx, "b1", nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1, 4, 9, 15} {
		sctx, cancel := context.WithCancel(ctx)
		wrapped.count.Store(0)
		wrapped.n, wrapped.cancel = n, cancel
		_, err := st.Sweep(sctx, SweepOptions{Backups: bk, Deleting: "b1", Now: later})
		cancel()
		if err == nil {
			t.Logf("sweep finished within %d deletes", n)
			break
		}
		t.Logf("sweep stopped after %d deletes: %v", n, err)
		f.restore(t, f.open(t, nil), "B", "C")
	}
	wrapped.n, wrapped.cancel = 1<<30, nil
	if _, err := st.Sweep(ctx, SweepOptions{Backups: bk, Deleting: "b1", Now: later}); err != nil {
		t.Fatal(err)
	}
	got := f.storeKeys(t)
	if removed, added := diffKeys(want, got); len(removed) > 0 || len(added) > 0 {
		t.Errorf("after the rerun the store differs from an uninterrupted sweep's: missing %v, extra %v", removed, added)
	}
	f.restore(t, f.open(t, nil), "B", "C")
}

// TestSweepCleansLeftoversOfFailedCopies: upload folders older than a day and unfinished
// multipart uploads under the store older than a day are removed by the sweep (a dry run only
// counts them); younger ones, multipart uploads outside the store, and the stored images stay.
func TestSweepCleansLeftoversOfFailedCopies(t *testing.T) {
	f := newGCFixture(t)
	ctx := context.Background()
	st := f.open(t, nil)
	f.backup(t, st, "b1", "A")
	now := time.Now()
	uploadDir := func(id string) string { return repositoriesRoot + "/ns/app/_uploads/" + id }
	leftover := func(id string, started time.Time) {
		t.Helper()
		for name, content := range map[string]string{"startedat": started.UTC().Format(time.RFC3339), "data": "half a layer"} {
			if err := st.driver.PutContent(ctx, uploadDir(id)+"/"+name, []byte(content)); err != nil {
				t.Fatal(err)
			}
		}
	}
	const oldID, youngID = "0b7d4d3a-6f3e-4a4e-9a57-3f6f0c1f7a11", "5c2e9a80-1d44-4b8f-a0a2-7e1b8d9c4e22"
	leftover(oldID, now.Add(-50*time.Hour))
	leftover(youngID, now.Add(-time.Hour))
	client := f.s3.client(f.s3.secretKey)
	startMultipart := func(key string) {
		t.Helper()
		out, err := client.CreateMultipartUpload(&s3.CreateMultipartUploadInput{Bucket: &f.s3.bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.UploadPart(&s3.UploadPartInput{Bucket: &f.s3.bucket, Key: &key, UploadId: out.UploadId,
			PartNumber: aws.Int64(1), Body: strings.NewReader("part of a blob")}); err != nil {
			t.Fatal(err)
		}
	}
	inStore := gcPrefix + "/" + ImagesDir + "/docker/registry/v2/blobs/sha256/ab/abandoned/data"
	outside := "someone-else/big-file"
	startMultipart(inStore)
	startMultipart(outside)
	keysBefore := f.storeKeys(t)
	bk := &fakeBackups{existing: map[string]bool{"b1": true}}

	// The multipart uploads were started now: a day later they are leftovers.
	dayLater := func() time.Time { return now.Add(25 * time.Hour) }
	rep, err := st.Sweep(ctx, SweepOptions{Backups: bk, Full: true, DryRun: true, Now: dayLater})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploads != 2 || rep.MultipartUploads != 1 || len(rep.Warnings) > 0 {
		t.Errorf("dry run a day later: %s, warnings %v; want 2 upload folders and 1 multipart upload counted", rep, rep.Warnings)
	}
	if removed, added := diffKeys(keysBefore, f.storeKeys(t)); len(removed)+len(added) > 0 {
		t.Errorf("the dry run changed the store: removed %v, added %v", removed, added)
	}
	if got := multipartUploads(t, f.s3); len(got) != 2 {
		t.Errorf("the dry run changed the multipart uploads: %v", got)
	}

	// Now: only the upload folder started 50 hours ago is old enough.
	rep, err = st.Sweep(ctx, SweepOptions{Backups: bk, Full: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploads != 1 || rep.MultipartUploads != 0 || rep.Manifests+rep.Blobs != 0 || len(rep.Warnings) > 0 {
		t.Errorf("sweep now: %s, warnings %v; want only the old upload folder removed", rep, rep.Warnings)
	}
	removed, added := diffKeys(keysBefore, f.storeKeys(t))
	for _, k := range removed {
		if !strings.Contains(k, "/_uploads/"+oldID+"/") {
			t.Errorf("sweep now removed %s", k)
		}
	}
	if len(removed) != 2 || len(added) > 0 {
		t.Errorf("sweep now: removed %v, added %v; want the old upload folder's 2 objects removed", removed, added)
	}

	rep, err = st.Sweep(ctx, SweepOptions{Backups: bk, Full: true, Now: dayLater})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploads != 1 || rep.MultipartUploads != 1 || len(rep.Warnings) > 0 {
		t.Errorf("sweep a day later: %s, warnings %v; want the young upload folder and the store's multipart upload removed", rep, rep.Warnings)
	}
	if got := multipartUploads(t, f.s3); !slices.Equal(got, []string{outside}) {
		t.Errorf("multipart uploads after the sweep: %v; want only %s (outside the store)", got, outside)
	}
	for _, k := range f.storeKeys(t) {
		if strings.Contains(k, "/_uploads/") {
			t.Errorf("upload folder left: %s", k)
		}
	}
	f.restore(t, f.open(t, nil), "A")
}

// TestSweepReportsLeftoversItMayNotClean: where the credentials may not list or abort multipart
// uploads (an S3 proxy answers AccessDenied to those requests), the sweep still frees what it
// may and reports what it could not do, naming the permission, instead of failing.
func TestSweepReportsLeftoversItMayNotClean(t *testing.T) {
	for _, tc := range []struct {
		name   string
		denied func(*http.Request) bool
		want   string
	}{
		{"list denied", func(r *http.Request) bool { return r.Method == http.MethodGet && r.URL.Query().Has("uploads") },
			"needs s3:ListBucketMultipartUploads and s3:AbortMultipartUpload"},
		{"abort denied", func(r *http.Request) bool { return r.Method == http.MethodDelete && r.URL.Query().Has("uploadId") },
			"not aborted (needs s3:AbortMultipartUpload)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newGCFixture(t)
			ctx := context.Background()
			st := f.open(t, nil)
			f.backup(t, st, "b1", "A")
			f.backup(t, st, "b2", "C")
			key := gcPrefix + "/" + ImagesDir + "/docker/registry/v2/blobs/sha256/ab/abandoned/data"
			client := f.s3.client(f.s3.secretKey)
			if _, err := client.CreateMultipartUpload(&s3.CreateMultipartUploadInput{Bucket: &f.s3.bucket, Key: &key}); err != nil {
				t.Fatal(err)
			}
			target, _ := url.Parse(f.s3.url())
			upstream := httputil.NewSingleHostReverseProxy(target)
			upstream.Transport = &http.Transport{TLSClientConfig: loopbackPKI(t).ClientTLS()}
			var deniedCalls atomic.Int32
			proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.denied(r) {
					deniedCalls.Add(1)
					w.WriteHeader(http.StatusForbidden)
					fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
					return
				}
				upstream.ServeHTTP(w, r)
			}))
			proxy.TLS = loopbackPKI(t).ServerTLS()
			proxy.StartTLS()
			t.Cleanup(proxy.Close)
			bsl := f.s3.bsl("default", gcPrefix)
			bsl.Spec.Config["s3Url"] = proxy.URL
			log, _ := newTestLog(t)
			limited, err := OpenStore(ctx, bsl, StoreOptions{Credentials: f.s3.credentials(f.s3.secretKey), Log: log})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := limited.RetireBackup(ctx, "b1", nil); err != nil {
				t.Fatal(err)
			}
			rep, err := limited.Sweep(ctx, SweepOptions{Backups: &fakeBackups{existing: map[string]bool{"b2": true}}, Deleting: "b1",
				Now: func() time.Time { return time.Now().Add(25 * time.Hour) }})
			if err != nil {
				t.Fatalf("sweep failed instead of reporting the cleanup it may not do: %v", err)
			}
			if deniedCalls.Load() == 0 {
				t.Fatal("the sweep never made the denied request")
			}
			if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], tc.want) {
				t.Errorf("warnings %q; want one naming %q", rep.Warnings, tc.want)
			}
			if rep.Manifests == 0 || rep.Blobs == 0 {
				t.Errorf("sweep: %s; want b1's own manifests and blobs freed all the same", rep)
			}
			if got := multipartUploads(t, f.s3); len(got) != 1 {
				t.Errorf("multipart uploads %v; want the one the sweep could not abort", got)
			}
			f.restore(t, f.open(t, nil), "C")
		})
	}
}

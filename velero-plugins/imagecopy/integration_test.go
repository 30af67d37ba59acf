//go:build integration

package imagecopy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go/service/s3"
	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"go.podman.io/image/v5/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testregistry"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// fixture: a source registry holding a multi-layer image, an image sharing two of its layers,
// and a two-platform index; an empty restore registry.
type fixture struct {
	src, dst *testregistry.Registry
	images   map[string]*testimage.Image // repository -> image, tagged v1
	repos    []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		src:    startRegistry(t, "src-token-"+randomHex(8)),
		dst:    startRegistry(t, "dst-token-"+randomHex(8)),
		images: map[string]*testimage.Image{},
	}
	f.add(t, "team-a/one", testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 1, Size: 3 * mib}, testimage.Layer{Seed: 2, Size: mib}, testimage.Layer{Seed: 3, Size: 512 * kib}))
	f.add(t, "team-a/two", testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 2, Size: mib}, testimage.Layer{Seed: 3, Size: 512 * kib}, testimage.Layer{Seed: 4, Size: 2 * mib}))
	f.add(t, "team-b/multi", testimage.Index(t,
		testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 5, Size: mib}, testimage.Layer{Seed: 6, Size: 256 * kib}),
		testimage.New(t, testimage.Spec{Arch: "arm64"}, testimage.Layer{Seed: 7, Size: mib}, testimage.Layer{Seed: 6, Size: 256 * kib})))
	// Docker schema 2: an image and a manifest list.
	f.add(t, "team-c/docker", testimage.New(t, testimage.Spec{Docker: true, Arch: "amd64"}, testimage.Layer{Seed: 8, Size: 768 * kib}, testimage.Layer{Seed: 9, Size: 128 * kib}))
	f.add(t, "team-c/dockerlist", testimage.Index(t,
		testimage.New(t, testimage.Spec{Docker: true, Arch: "amd64"}, testimage.Layer{Seed: 10, Size: 512 * kib}),
		testimage.New(t, testimage.Spec{Docker: true, Arch: "ppc64le"}, testimage.Layer{Seed: 11, Size: 512 * kib})))
	return f
}

func (f *fixture) add(t *testing.T, repo string, img *testimage.Image) {
	f.src.Push(t, repo, img, "v1")
	f.images[repo] = img
	f.repos = append(f.repos, repo)
}

// ref is how the jobs name repo's image: team-a/one by digest (as the ImageStream backup does for
// history entries), the others by tag v1.
func (f *fixture) ref(repo string) string {
	if repo == "team-a/one" {
		return f.images[repo].Digest.String()
	}
	return "v1"
}

// backupJobs copies every image from the source registry into the store: team-a/one by digest
// (as the ImageStream backup does for history entries), the others by tag.
func (f *fixture) backupJobs(t *testing.T, store *Store) []Job {
	t.Helper()
	reg := endpoint(t, f.src)
	var jobs []Job
	for _, repo := range f.repos {
		ref := f.ref(repo)
		src, err := reg.Image(repo, ref)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := store.Image(repo, ref)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, Job{Src: src, Dst: dst})
	}
	return jobs
}

func (f *fixture) restoreJobs(t *testing.T, store *Store, into *testregistry.Registry) []Job {
	t.Helper()
	reg := endpoint(t, into)
	var jobs []Job
	for _, repo := range f.repos {
		ref := f.ref(repo)
		src, err := store.Image(repo, ref)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := reg.Image("restored-"+repo, "v1")
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, Job{Src: src, Dst: dst})
	}
	return jobs
}

func requireOK(t *testing.T, f *fixture, results []Result) {
	t.Helper()
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("%v", r.Err)
		}
		repo := strings.TrimPrefix(strings.SplitN(strings.SplitN(r.Job.Src.Name(), "@", 2)[0], ":", 2)[0], "restored-")
		if want := f.images[repo].Digest; r.Digest != want {
			t.Errorf("%s: copied digest %s, pushed %s", r.Job.Src, r.Digest, want)
		}
	}
}

// checkRestored compares the restore registry with what was pushed: same manifest bytes, same
// digest, every blob present.
func (f *fixture) checkRestored(t *testing.T, into *testregistry.Registry) {
	t.Helper()
	for _, repo := range f.repos {
		img := f.images[repo]
		m, found, err := into.Client.Manifest("restored-"+repo, "v1")
		if err != nil || !found {
			t.Fatalf("restored %s:v1: found %v, %v", repo, found, err)
		}
		if m.Digest != img.Digest {
			t.Errorf("restored %s: digest %s, pushed %s", repo, m.Digest, img.Digest)
		}
		for _, c := range img.Children {
			if got, found, err := into.Client.Manifest("restored-"+repo, c.Digest.String()); err != nil || !found || got.Digest != c.Digest {
				t.Errorf("restored %s: instance %s: found %v, %v", repo, c.Digest, found, err)
			}
		}
		for _, b := range img.Blobs {
			if ok, err := into.Client.HasBlob("restored-"+repo, b.Digest); err != nil || !ok {
				t.Errorf("restored %s: blob %s missing (%v)", repo, b.Digest, err)
			}
		}
	}
}

// checkStoreIntegrity reads every manifest of every repository in the store and checks that all
// it references is there, blobs with the right content.
func checkStoreIntegrity(t *testing.T, store *Store) (manifests int) {
	t.Helper()
	ctx := context.Background()
	enum, ok := store.ns.(distribution.RepositoryEnumerator)
	if !ok {
		t.Fatal("store cannot enumerate repositories")
	}
	err := enum.Enumerate(ctx, func(name string) error {
		named, err := reference.WithName(name)
		if err != nil {
			return err
		}
		repo, err := store.ns.Repository(ctx, named)
		if err != nil {
			return err
		}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		return ms.(distribution.ManifestEnumerator).Enumerate(ctx, func(d digest.Digest) error {
			manifests++
			m, err := ms.Get(ctx, d)
			if err != nil {
				t.Errorf("%s@%s: %v", name, d, err)
				return nil
			}
			for _, ref := range m.References() {
				if ref.MediaType == v1.MediaTypeImageManifest || ref.MediaType == testimage.DockerManifest {
					if ok, err := ms.Exists(ctx, ref.Digest); !ok || err != nil {
						t.Errorf("%s@%s: instance %s missing (%v)", name, d, ref.Digest, err)
					}
					continue
				}
				rc, err := repo.Blobs(ctx).Open(ctx, ref.Digest)
				if err != nil {
					t.Errorf("%s@%s: blob %s missing: %v", name, d, ref.Digest, err)
					continue
				}
				v := ref.Digest.Verifier()
				n, err := io.Copy(v, rc)
				rc.Close()
				if err != nil || !v.Verified() || n != ref.Size {
					t.Errorf("%s@%s: blob %s corrupt (%d bytes, %v)", name, d, ref.Digest, n, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("walking the store: %v", err)
	}
	return manifests
}

// TestBackupRestoreThroughS3 is the main path: registry -> S3 store -> another registry, digests
// equal end to end; a second backup of the same images writes no blob bytes.
func TestBackupRestoreThroughS3(t *testing.T) {
	f := newFixture(t)
	s3 := startS3(t)
	log, logs := newTestLog(t)
	ctx := context.Background()
	bsl := s3.bsl("default", "cluster-a/velero")
	creds := s3.credentials(s3.secretKey)

	open := func() (*Store, *countingDriver) {
		var counter *countingDriver
		store, err := OpenStore(ctx, bsl, StoreOptions{Credentials: creds, Log: log,
			WrapDriver: func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
				counter = &countingDriver{StorageDriver: d}
				return counter
			}})
		if err != nil {
			t.Fatal(err)
		}
		return store, counter
	}

	// Backup.
	store, counter := open()
	copier := &Copier{Concurrency: 3, MaxBlobs: 2, Log: log}
	start := time.Now()
	first := copier.CopyAll(ctx, f.backupJobs(t, store))
	firstTime := time.Since(start)
	requireOK(t, f, first)
	var total int64
	for _, img := range f.images {
		total += img.TotalSize()
	}
	t.Logf("first backup: %d blob bytes written to S3 (images total %d, some layers shared) in %v", counter.written.Load(), total, firstTime)
	if m := counter.maxActive.Load(); m > 2 {
		t.Errorf("%d blob uploads ran at once, MaxBlobs is 2", m)
	}
	if n := checkStoreIntegrity(t, store); n != 9 { // one, two, multi + 2 instances, docker, dockerlist + 2
		t.Errorf("store holds %d manifests, want 9", n)
	}

	// The objects are under <prefix>/<ImagesDir>/ of the bucket, nothing else was written.
	// Blobs went straight to their final paths: no upload folders, no unfinished uploads.
	keys := listKeys(t, s3)
	for _, k := range keys {
		if !strings.HasPrefix(k, "cluster-a/velero/"+ImagesDir+"/docker/registry/v2/") {
			t.Errorf("object %q outside <prefix>/%s/", k, ImagesDir)
		}
		if strings.Contains(k, "/_uploads/") {
			t.Errorf("object %q: an upload folder was written", k)
		}
	}
	if u := multipartUploads(t, s3); len(u) > 0 {
		t.Errorf("unfinished multipart uploads left: %v", u)
	}
	if n := counter.uploads.Load(); n > 0 {
		t.Errorf("%d objects written under _uploads/ (blobs with known digests go to their final path)", n)
	}

	// Restore into another registry from a freshly opened store (as a restore would).
	store2, _ := open()
	requireOK(t, f, (&Copier{Log: log}).CopyAll(ctx, f.restoreJobs(t, store2, f.dst)))
	f.checkRestored(t, f.dst)

	// Second backup of the unchanged images: no blob bytes.
	store3, counter3 := open()
	start = time.Now()
	second := copier.CopyAll(ctx, f.backupJobs(t, store3))
	secondTime := time.Since(start)
	requireOK(t, f, second)
	var bytes int64
	for _, r := range second {
		bytes += r.Bytes
		if r.BlobsCopied != 0 {
			t.Errorf("second backup of %s copied %d blobs", r.Job.Src, r.BlobsCopied)
		}
	}
	t.Logf("second backup: %d blob bytes, %d small objects written, %v (first: %v)", counter3.written.Load(), counter3.puts.Load(), secondTime, firstTime)
	if bytes != 0 || store3.BytesWritten() != 0 {
		t.Errorf("second backup transferred %d bytes, wrote %d blob bytes; want 0", bytes, store3.BytesWritten())
	}
	if w := counter3.written.Load(); w > 16*kib {
		t.Errorf("second backup wrote %d bytes to the store, want only tags/links", w)
	}

	// Never log credentials.
	for _, secret := range []string{s3.secretKey, f.src.Token, f.dst.Token} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a credential appears in the log")
		}
	}
	if !strings.Contains(logs.String(), "image copied") || !strings.Contains(logs.String(), "bytes=") {
		t.Errorf("no per-image progress in the log:\n%s", logs.String())
	}
}

func listKeys(t *testing.T, s *testS3) []string {
	t.Helper()
	var keys []string
	var token *string
	for {
		out, err := s.client(s.secretKey).ListObjectsV2(&s3.ListObjectsV2Input{Bucket: &s.bucket, ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, *o.Key)
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return keys
		}
		token = out.NextContinuationToken
	}
}

func multipartUploads(t *testing.T, s *testS3) []string {
	t.Helper()
	out, err := s.client(s.secretKey).ListMultipartUploads(&s3.ListMultipartUploadsInput{Bucket: &s.bucket})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, *u.Key)
	}
	return keys
}

// TestPutBlobDirectRejects: on S3 a blob with a known digest streams straight to its final path;
// bytes that do not match the claimed digest or size, or a stream that fails, leave nothing
// there (the multipart upload is aborted), no link in the repository and no upload folder, and
// do not disturb the same blob already stored.
func TestPutBlobDirectRejects(t *testing.T) {
	s3 := startS3(t)
	ctx := context.Background()
	store, err := OpenStore(ctx, s3.bsl("default", "p"), StoreOptions{Credentials: s3.credentials(s3.secretKey)})
	if err != nil {
		t.Fatal(err)
	}
	if !store.direct {
		t.Fatal("the S3 store does not write blobs directly")
	}
	img, _ := store.Image("direct/app", "v1")
	dst, err := img.ref.NewImageDestination(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := img.ref.(storeRef).repository(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// More than one 5 MiB part, so parts are uploaded before the verdict.
	good := make([]byte, 7*mib)
	_, _ = rand.Read(good)
	bad := bytes.Clone(good)
	bad[6*mib] ^= 1
	want := digest.FromBytes(good)

	dataKey := func(d digest.Digest) string {
		return "p/" + ImagesDir + "/docker/registry/v2/blobs/sha256/" + d.Encoded()[:2] + "/" + d.Encoded() + "/data"
	}
	present := func(d digest.Digest) bool {
		return slices.Contains(listKeys(t, s3), dataKey(d))
	}
	checkNothingLeft := func(name string) {
		t.Helper()
		if present(want) {
			t.Errorf("%s: blob data at its final path", name)
		}
		if _, err := repo.Blobs(ctx).Stat(ctx, want); !errors.Is(err, distribution.ErrBlobUnknown) {
			t.Errorf("%s: blob linked into the repository (%v)", name, err)
		}
		if u := multipartUploads(t, s3); len(u) > 0 {
			t.Errorf("%s: unfinished multipart uploads: %v", name, u)
		}
		for _, k := range listKeys(t, s3) {
			if strings.Contains(k, "/_uploads/") {
				t.Errorf("%s: upload folder object %s", name, k)
			}
		}
	}

	for _, tc := range []struct {
		name   string
		stream io.Reader
		size   int64
		errIs  error
	}{
		{"bytes not matching the digest", bytes.NewReader(bad), int64(len(bad)), nil},
		{"bytes not matching the digest, size unknown", bytes.NewReader(bad), -1, nil},
		{"more bytes than the size", bytes.NewReader(append(bytes.Clone(good), 0)), int64(len(good)), nil},
		{"fewer bytes than the size", bytes.NewReader(good[:6*mib]), int64(len(good)), nil},
		{"stream fails", io.MultiReader(bytes.NewReader(good[:6*mib]), iotest.ErrReader(io.ErrUnexpectedEOF)), int64(len(good)), io.ErrUnexpectedEOF},
	} {
		_, err := dst.PutBlob(ctx, tc.stream, types.BlobInfo{Digest: want, Size: tc.size}, nil, false)
		t.Logf("%s: %v", tc.name, err)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if tc.errIs != nil && !errors.Is(err, tc.errIs) {
			t.Errorf("%s: error %v is not %v", tc.name, err, tc.errIs)
		}
		checkNothingLeft(tc.name)
	}
	if store.BytesWritten() != 0 {
		t.Errorf("rejected blobs counted as written: %d bytes", store.BytesWritten())
	}

	// The right bytes are stored and linked; then a wrong upload of the same digest (as a
	// concurrent or later copy could attempt) is refused without touching the stored blob.
	info, err := dst.PutBlob(ctx, bytes.NewReader(good), types.BlobInfo{Digest: want, Size: int64(len(good))}, nil, false)
	if err != nil || info.Digest != want || info.Size != int64(len(good)) {
		t.Fatalf("storing the blob: %+v %v", info, err)
	}
	if !present(want) {
		t.Fatalf("stored blob not at %s: the absence checks above looked at the wrong key", dataKey(want))
	}
	if _, err := dst.PutBlob(ctx, bytes.NewReader(bad), types.BlobInfo{Digest: want, Size: int64(len(bad))}, nil, false); err == nil {
		t.Error("a blob with the wrong content was accepted over a stored one")
	}
	rc, err := repo.Blobs(ctx).Open(ctx, want)
	if err != nil {
		t.Fatalf("stored blob: %v", err)
	}
	v := want.Verifier()
	n, err := io.Copy(v, rc)
	rc.Close()
	if err != nil || n != int64(len(good)) || !v.Verified() {
		t.Errorf("stored blob damaged by the refused upload: %d bytes, verified %v, %v", n, v.Verified(), err)
	}
	if u := multipartUploads(t, s3); len(u) > 0 {
		t.Errorf("unfinished multipart uploads: %v", u)
	}
}

// TestSharedLayersUploadedOnce: an image sharing two layers with one already in the store
// uploads only its own layer and config, whether the store learnt of the shared layers in this
// process (cross-repository mount) or they come from an earlier backup (link to the stored
// blob); the same image under another repository uploads nothing.
func TestSharedLayersUploadedOnce(t *testing.T) {
	f := newFixture(t)
	s3 := startS3(t)
	s3.checksumAlgorithm = "CRC32" // Content-MD5 on every part, as Velero's default
	log, _ := newTestLog(t)
	ctx := context.Background()
	open := func() *Store {
		store, err := OpenStore(ctx, s3.bsl("default", ""), StoreOptions{Credentials: s3.credentials(s3.secretKey), Log: log})
		if err != nil {
			t.Fatal(err)
		}
		return store
	}
	reg := endpoint(t, f.src)
	c := &Copier{Log: log}
	one, two := f.images["team-a/one"], f.images["team-a/two"]
	var store *Store
	for _, step := range []struct {
		store    *Store
		from, to string
		want     int64 // bytes uploaded
		reused   int
	}{
		{open(), "team-a/one", "team-a/one", one.TotalSize(), 0},
		{open(), "team-a/two", "team-a/two", two.Blobs[0].Size + two.Blobs[3].Size, 2}, // earlier backup's blobs
		{nil, "team-a/two", "team-c/two", 0, 3},                                        // same process: mount (config too)
		{nil, "team-a/one", "team-d/one", 0, 3},
	} {
		if step.store != nil {
			store = step.store
		}
		before := store.BytesWritten()
		src, _ := reg.Image(step.from, "v1")
		dst, _ := store.Image(step.to, "v1")
		res, err := c.Copy(ctx, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		written := store.BytesWritten() - before
		t.Logf("%s -> %s: %d bytes written, %d blobs copied, %d reused", step.from, step.to, written, res.BlobsCopied, res.BlobsReused)
		if written != step.want || res.BlobsReused != step.reused {
			t.Errorf("%s -> %s wrote %d bytes, reused %d layers; want %d bytes, %d reused", step.from, step.to, written, res.BlobsReused, step.want, step.reused)
		}
	}
	checkStoreIntegrity(t, open())
}

// TestStoreErrors: wrong credentials and an unreachable endpoint fail clearly, naming the
// location, without leaking the secret.
func TestStoreErrors(t *testing.T) {
	s3 := startS3(t)
	ctx := context.Background()

	wrong := "wrong-" + randomHex(8)
	_, err := OpenStore(ctx, s3.bsl("wrong-creds", "p"), StoreOptions{Credentials: s3.credentials(wrong)})
	t.Logf("wrong credentials: %v", err)
	if err == nil || !strings.Contains(err.Error(), "backup storage location velero/wrong-creds") ||
		!strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), wrong) {
		t.Errorf("wrong credentials: got %v", err)
	}

	bsl := s3.bsl("unreachable", "p")
	bsl.Spec.Config["s3Url"] = "https://127.0.0.1:" + strconv.Itoa(freePort(t))
	start := time.Now()
	_, err = OpenStore(ctx, bsl, StoreOptions{Credentials: s3.credentials(s3.secretKey)})
	t.Logf("unreachable endpoint (%v): %v", time.Since(start), err)
	if err == nil || !strings.Contains(err.Error(), "backup storage location velero/unreachable") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Errorf("unreachable endpoint: got %v", err)
	}

	bsl = s3.bsl("untrusted", "p")
	bsl.Spec.ObjectStorage.CACert = nil
	_, err = OpenStore(ctx, bsl, StoreOptions{Credentials: s3.credentials(s3.secretKey)})
	t.Logf("no CA bundle: %v", err)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server certificate from an unknown CA was accepted: %v", err)
	}
	bsl.Spec.Config["insecureSkipTLSVerify"] = "true"
	if _, err = OpenStore(ctx, bsl, StoreOptions{Credentials: s3.credentials(s3.secretKey)}); err != nil {
		t.Errorf("insecureSkipTLSVerify: %v", err)
	}
}

// TestRegistryErrors: a wrong token and a missing image are not retried and name the registry.
func TestRegistryErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	store := filesystemStore(t, t.TempDir())
	c := &Copier{Attempts: 3, Backoff: 10 * time.Millisecond}

	bad, _ := NewRegistry(RegistryOptions{Host: f.src.Host, Token: "not-the-token", CA: loopbackPKI(t).CAPEM})
	src, _ := bad.Image("team-a/one", "v1")
	dst, _ := store.Image("team-a/one", "v1")
	res, err := c.Copy(ctx, src, dst)
	t.Logf("wrong token: %v", err)
	if err == nil || res.Attempts != 1 || !strings.Contains(err.Error(), "registry "+f.src.Host+" image team-a/one:v1") {
		t.Errorf("wrong token: attempts %d, %v", res.Attempts, err)
	}

	src, _ = endpoint(t, f.src).Image("team-a/missing", "v1")
	res, err = c.Copy(ctx, src, dst)
	t.Logf("missing image: %v", err)
	if err == nil || res.Attempts != 1 {
		t.Errorf("missing image: attempts %d, %v", res.Attempts, err)
	}

	noCA, _ := NewRegistry(RegistryOptions{Host: f.src.Host, Token: f.src.Token})
	src, _ = noCA.Image("team-a/one", "v1")
	res, err = c.Copy(ctx, src, dst)
	t.Logf("no CA: %v", err)
	if err == nil || res.Attempts != 1 || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("no CA: attempts %d, %v", res.Attempts, err)
	}

	// Only when configured: the same registry without its CA, certificate not verified.
	insecure, _ := NewRegistry(RegistryOptions{Host: f.src.Host, Token: f.src.Token, InsecureSkipTLSVerify: true})
	src, _ = insecure.Image("team-a/one", "v1")
	if _, err := c.Copy(ctx, src, dst); err != nil {
		t.Errorf("no CA, verification off: %v", err)
	}
}

func filesystemStore(t *testing.T, dir string) *Store {
	t.Helper()
	store, err := OpenStore(context.Background(), &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "local"},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider:    ProviderFilesystem,
			Config:      map[string]string{"path": dir},
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "b", Prefix: "p"}},
		},
	}, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestS3KilledMidCopy: the S3 server dies while a layer streams into it. With the server back
// after a while, a retry completes the copy; without it, the copy fails naming the location and
// the image. Either way the store never holds a manifest whose blobs are missing.
func TestS3KilledMidCopy(t *testing.T) {
	src := startRegistry(t, "src-token-"+randomHex(8))
	big := testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 11, Size: 12 * mib}, testimage.Layer{Seed: 12, Size: 12 * mib}, testimage.Layer{Seed: 13, Size: 12 * mib})
	src.Push(t, "big/app", big, "v1")
	reg := endpoint(t, src)
	ctx := context.Background()

	for _, restart := range []bool{true, false} {
		name := map[bool]string{true: "server back after 2s", false: "server stays down"}[restart]
		t.Run(name, func(t *testing.T) {
			s3 := startS3(t)
			log, _ := newTestLog(t)
			killed := make(chan struct{})
			var store *Store
			store, err := OpenStore(ctx, s3.bsl("default", ""), StoreOptions{Credentials: s3.credentials(s3.secretKey), Log: log,
				WrapDriver: func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
					return &countingDriver{StorageDriver: d, hookAt: 15 * mib, hook: func() {
						t.Log("killing the S3 server")
						s3.kill()
						close(killed)
						if restart {
							go func() {
								time.Sleep(2 * time.Second)
								if err := s3.startErr(); err != nil {
									t.Error(err)
								}
							}()
						}
					}}
				}})
			if err != nil {
				t.Fatal(err)
			}
			c := &Copier{Attempts: 4, Backoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Second, Log: log}
			srcImg, _ := reg.Image("big/app", "v1")
			dstImg, _ := store.Image("big/app", "v1")
			res, err := c.Copy(ctx, srcImg, dstImg)
			select {
			case <-killed:
			default:
				t.Fatal("the server was never killed")
			}
			if restart {
				if err != nil {
					t.Fatalf("copy did not recover: %v", err)
				}
				if res.Attempts < 2 || res.Digest != big.Digest {
					t.Errorf("attempts %d digest %s, want a retry and %s", res.Attempts, res.Digest, big.Digest)
				}
				if d, err := store.Resolve(ctx, dstImg); err != nil || d != big.Digest {
					t.Errorf("stored: %s %v", d, err)
				}
			} else {
				t.Logf("error: %v", err)
				if err == nil || res.Attempts != 4 ||
					!strings.Contains(err.Error(), "backup storage location velero/default") ||
					!strings.Contains(err.Error(), "image big/app:v1") ||
					!strings.Contains(err.Error(), "connection refused") {
					t.Fatalf("want a clear error after 4 attempts, got attempts %d: %v", res.Attempts, err)
				}
				if err := s3.startErr(); err != nil { // to inspect what was left
					t.Fatal(err)
				}
				if _, err := store.Resolve(ctx, dstImg); err == nil {
					t.Error("a manifest was stored although the copy failed")
				}
			}
			checkStoreIntegrity(t, store)
		})
	}
}

// TestCancelCleansUp: cancelling mid-layer returns promptly with the context's error and
// removes the partial upload (cleanup runs on a context that is not cancelled).
func TestCancelCleansUp(t *testing.T) {
	src := startRegistry(t, "src-token-"+randomHex(8))
	big := testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 21, Size: 16 * mib}, testimage.Layer{Seed: 22, Size: 16 * mib})
	src.Push(t, "big/app", big, "v1")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := OpenStore(context.Background(), &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "local"},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: ProviderFilesystem, Config: map[string]string{"path": dir},
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "b"}},
		},
	}, StoreOptions{WrapDriver: func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
		return &countingDriver{StorageDriver: d, hookAt: 4 * mib, hook: cancel}
	}})
	if err != nil {
		t.Fatal(err)
	}
	srcImg, _ := endpoint(t, src).Image("big/app", "v1")
	dstImg, _ := store.Image("big/app", "v1")
	start := time.Now()
	_, err = (&Copier{}).Copy(ctx, srcImg, dstImg)
	t.Logf("cancelled after %v: %v", time.Since(start), err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	time.Sleep(200 * time.Millisecond) // layer goroutines finish their cleanup
	var leftovers []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, "_uploads") {
			leftovers = append(leftovers, p)
		}
		return nil
	})
	if len(leftovers) > 0 {
		t.Errorf("partial uploads left behind: %v", leftovers)
	}
	checkStoreIntegrity(t, store)
}

// TestFilesystemStoreAndOrdering: the filesystem provider round trip, and CopyAll writing one
// destination tag in job order (the last job wins, as restore needs).
func TestFilesystemStoreAndOrdering(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	log, _ := newTestLog(t)
	store := filesystemStore(t, t.TempDir())
	c := &Copier{Concurrency: 3, Log: log}
	requireOK(t, f, c.CopyAll(ctx, f.backupJobs(t, store)))
	checkStoreIntegrity(t, store)
	requireOK(t, f, c.CopyAll(ctx, f.restoreJobs(t, store, f.dst)))
	f.checkRestored(t, f.dst)

	// Three images into one tag: it ends on the last.
	reg := endpoint(t, f.dst)
	var jobs []Job
	for _, repo := range []string{"team-a/one", "team-b/multi", "team-a/two"} {
		ref := f.ref(repo)
		s, _ := store.Image(repo, ref)
		d, _ := reg.Image("history/app", "latest")
		jobs = append(jobs, Job{Src: s, Dst: d})
	}
	for _, r := range c.CopyAll(ctx, jobs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if m, _, err := f.dst.Client.Manifest("history/app", "latest"); err != nil || m.Digest != f.images["team-a/two"].Digest {
		t.Errorf("history/app:latest is %s (%v), want the last job's %s", m.Digest, err, f.images["team-a/two"].Digest)
	}
}

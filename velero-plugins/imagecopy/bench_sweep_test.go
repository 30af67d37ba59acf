package imagecopy

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"
)

// callCounter counts the storage driver calls of a sweep; walked counts the entries Walk
// visited (on S3 a listing returns up to 1,000 keys per request).
type callCounter struct {
	storagedriver.StorageDriver
	calls, gets, puts, stats, lists, deletes, walks, walked atomic.Int64
}

func (c *callCounter) GetContent(ctx context.Context, p string) ([]byte, error) {
	c.calls.Add(1)
	c.gets.Add(1)
	return c.StorageDriver.GetContent(ctx, p)
}

func (c *callCounter) PutContent(ctx context.Context, p string, b []byte) error {
	c.calls.Add(1)
	c.puts.Add(1)
	return c.StorageDriver.PutContent(ctx, p, b)
}

func (c *callCounter) Stat(ctx context.Context, p string) (storagedriver.FileInfo, error) {
	c.calls.Add(1)
	c.stats.Add(1)
	return c.StorageDriver.Stat(ctx, p)
}

func (c *callCounter) List(ctx context.Context, p string) ([]string, error) {
	c.calls.Add(1)
	c.lists.Add(1)
	return c.StorageDriver.List(ctx, p)
}

func (c *callCounter) Delete(ctx context.Context, p string) error {
	c.calls.Add(1)
	c.deletes.Add(1)
	return c.StorageDriver.Delete(ctx, p)
}

func (c *callCounter) Walk(ctx context.Context, p string, fn storagedriver.WalkFn, opts ...func(*storagedriver.WalkOptions)) error {
	c.calls.Add(1)
	c.walks.Add(1)
	return c.StorageDriver.Walk(ctx, p, func(fi storagedriver.FileInfo) error {
		c.walked.Add(1)
		return fn(fi)
	}, opts...)
}

func (c *callCounter) reset() {
	for _, n := range []*atomic.Int64{&c.calls, &c.gets, &c.puts, &c.stats, &c.lists, &c.deletes, &c.walks, &c.walked} {
		n.Store(0)
	}
}

type benchBackups struct{ existing map[string]bool }

func (benchBackups) InProgress(context.Context) (string, error) { return "", nil }
func (b benchBackups) Existing(context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for k := range b.existing {
		out[k] = true
	}
	return out, nil
}
func (benchBackups) Derive(context.Context, string) ([]ImageRefs, bool, error) { return nil, true, nil }

// populateSweepStore writes, at distribution's paths, repos repositories of 10 manifests, each
// manifest with a config and 9 layers of its own (10 blobs), and 10 backups' records, backup
// b<k> naming the manifests of the k-th tenth of the repositories. Repositories are written
// concurrently: this is set-up, not measured.
func populateSweepStore(b *testing.B, drv storagedriver.StorageDriver, st *Store, repos int) {
	ctx := context.Background()
	var g errgroup.Group
	g.SetLimit(16)
	for r := 0; r < repos; r++ {
		g.Go(func() error {
			repo := fmt.Sprintf("ns%03d/app", r)
			refs := []digest.Digest{}
			for m := 0; m < 10; m++ {
				var blobs []string
				for l := 0; l < 10; l++ {
					data := []byte(fmt.Sprintf("blob %d/%d/%d", r, m, l))
					d := digest.FromBytes(data)
					p, _ := blobDataPath(d)
					if err := drv.PutContent(ctx, p, data); err != nil {
						return err
					}
					if err := drv.PutContent(ctx, path.Join(repositoriesRoot, repo, "_layers", "sha256", d.Encoded(), "link"), []byte(d)); err != nil {
						return err
					}
					blobs = append(blobs, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}`, d, len(data)))
				}
				manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}`,
					blobs[0], strings.Join(blobs[1:], ",")))
				d := digest.FromBytes(manifest)
				p, _ := blobDataPath(d)
				if err := drv.PutContent(ctx, p, manifest); err != nil {
					return err
				}
				if err := drv.PutContent(ctx, path.Join(repositoriesRoot, repo, "_manifests", "revisions", "sha256", d.Encoded(), "link"), []byte(d)); err != nil {
					return err
				}
				refs = append(refs, d)
			}
			return st.WriteRecord(ctx, fmt.Sprintf("b%d", r*10/repos), repo, refs)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSweep measures sweeps of stores of 100 manifests / 1,000 blobs and 1,000 manifests /
// 10,000 blobs (10 backups) on the filesystem driver, with the storage driver calls each makes
// (the cost on an object store: each call is a request, a Walk one listing request per 1,000
// entries walked). list-store is the baseline, one Walk over the whole store (the least any
// sweep must do); delete-one-of-10-backups is what `velero backup delete` of one backup runs (a
// tenth of the manifests and blobs freed); full-dry-run is reclaim-images without --apply while
// every backup still exists.
//
//	go test -tags containers_image_openpgp -run '^$' -bench BenchmarkSweep -benchtime 1x -count 3 ./velero-plugins/imagecopy/
func BenchmarkSweep(b *testing.B) {
	// distribution's Vacuum and PurgeUploads log every path through logrus' standard logger.
	out := logrus.StandardLogger().Out
	logrus.SetOutput(io.Discard)
	b.Cleanup(func() { logrus.SetOutput(out) })
	for _, repos := range []int{10, 100} {
		for _, mode := range []struct {
			name string
			opts *SweepOptions // nil: the baseline listing
		}{
			{"list-store", nil},
			{"delete-one-of-10-backups", &SweepOptions{Deleting: "b0"}},
			{"full-dry-run", &SweepOptions{Full: true, DryRun: true}},
		} {
			b.Run(fmt.Sprintf("manifests=%d/%s", repos*10, mode.name), func(b *testing.B) {
				ctx := context.Background()
				var rep SweepReport
				var counter *callCounter
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					drv := filesystem.New(filesystem.DriverParameters{RootDirectory: b.TempDir(), MaxThreads: 100})
					counter = &callCounter{StorageDriver: drv}
					st, err := NewStore(ctx, "bench", counter, nil)
					if err != nil {
						b.Fatal(err)
					}
					populateSweepStore(b, drv, st, repos)
					if mode.opts == nil {
						counter.reset()
						b.StartTimer()
						if err := counter.Walk(ctx, "/", func(storagedriver.FileInfo) error { return nil }); err != nil {
							b.Fatal(err)
						}
						continue
					}
					existing := map[string]bool{}
					for k := 0; k < 10; k++ {
						existing[fmt.Sprintf("b%d", k)] = true
					}
					opts := *mode.opts
					if opts.Deleting != "" {
						if _, err := st.RetireBackup(ctx, opts.Deleting, nil); err != nil {
							b.Fatal(err)
						}
					}
					opts.Backups = benchBackups{existing: existing}
					opts.Now = func() time.Time { return time.Now().Add(3 * DefaultSweepGrace) }
					counter.reset()
					b.StartTimer()
					rep, err = st.Sweep(ctx, opts)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if mode.opts != nil && mode.opts.Deleting != "" && (rep.Manifests != repos || rep.Blobs != repos*11) {
					b.Fatalf("freed %s; want %d manifests, %d blobs (their contents included)", rep, repos, repos*11)
				}
				if mode.opts != nil && mode.opts.DryRun && rep.Objects != 0 {
					b.Fatalf("dry run with every backup existing would free %s", rep)
				}
				b.ReportMetric(float64(counter.calls.Load()), "driver-calls/op")
				b.ReportMetric(float64(counter.gets.Load()), "gets/op")
				b.ReportMetric(float64(counter.stats.Load()), "stats/op")
				b.ReportMetric(float64(counter.deletes.Load()), "deletes/op")
				b.ReportMetric(float64(counter.walks.Load()), "walks/op")
				b.ReportMetric(float64(counter.walked.Load()), "walked-entries/op")
			})
		}
	}
}

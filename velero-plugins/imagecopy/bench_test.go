//go:build integration

package imagecopy

// Benchmarks against the same real components as the integration tests (the -imagecopy.* flags
// go after the package: go test stops reading its own flags at one it does not know):
//
//	go test -tags containers_image_openpgp,integration -run '^$' -bench . -benchtime 3x ./velero-plugins/imagecopy/
//	go test -tags containers_image_openpgp,integration -run '^$' -bench . -benchtime 1x ./velero-plugins/imagecopy/ -imagecopy.size 1GiB
//
// BenchmarkBackupToS3: registry -> S3 store copy of one image, and in the same iteration a raw
// PutObject of the same blob files (read from the source registry's disk) to the same server,
// one request per layer, all layers in parallel. Reports copy and raw MiB/s and their ratio.
// BenchmarkRebackupUnchanged: the same image backed up again into the same location by a freshly
// opened store (as the next backup would): time and bytes written, against the first backup.
// BenchmarkBackupPeakRSS: the copy runs in a child process (this test binary re-executed), whose
// peak RSS (getrusage maxrss) is reported.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/s3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testregistry"
)

var (
	benchSize   = sizeFlag("imagecopy.size", 64*mib, "image size for benchmarks (e.g. 64MiB, 1GiB)")
	benchLayers = flag.Int("imagecopy.layers", 4, "layers of the benchmark image (the size is split evenly)")
	benchParams = flag.String("imagecopy.driverparams", "", "extra storage driver parameters, k=v,k=v (e.g. chunksize=5242880)")
	benchCksum  = flag.String("imagecopy.checksumalgorithm", "", `the location's config checksumAlgorithm: "" turns off Content-MD5 (both for the copy and the raw PUT)`)
	benchConc   = flag.Int("imagecopy.maxblobs", 0, "blobs copied at once (0: the engine's default)")
)

func benchDriverParams() map[string]any {
	p := map[string]any{}
	for kv := range strings.SplitSeq(*benchParams, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			p[k] = v
		}
	}
	return p
}

func benchStoreOptions() StoreOptions {
	return StoreOptions{DriverParameters: benchDriverParams()}
}

type byteSize int64

func sizeFlag(name string, def int64, usage string) *byteSize {
	v := byteSize(def)
	flag.Var(&v, name, usage)
	return &v
}

func (s *byteSize) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *byteSize) Set(v string) error {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": kib, "MiB": mib, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSuffix(v, suf), m
		}
	}
	n, err := strconv.ParseFloat(v, 64)
	*s = byteSize(n * float64(mult))
	return err
}

// benchEnv: a source registry holding one image of -imagecopy.size bytes and an S3 server.
type benchEnv struct {
	src  *testregistry.Registry
	s3   *testS3
	img  *testimage.Image
	repo string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	e := &benchEnv{src: startRegistry(b, "bench-"+randomHex(8)), s3: startS3(b), repo: "bench/app"}
	e.s3.checksumAlgorithm = *benchCksum
	n := max(*benchLayers, 1)
	var layers []testimage.Layer
	for i := range n {
		layers = append(layers, testimage.Layer{Seed: uint64(1000 + i), Size: int64(*benchSize) / int64(n)})
	}
	start := time.Now()
	e.img = testimage.New(b, testimage.Spec{Arch: "amd64"}, layers...)
	e.src.Push(b, e.repo, e.img, "v1")
	b.Logf("image: %d layers, %.1f MiB, pushed in %v", n, float64(e.img.TotalSize())/mib, time.Since(start))
	return e
}

func (e *benchEnv) store(b *testing.B, prefix string, wrap func(storagedriver.StorageDriver) storagedriver.StorageDriver) *Store {
	b.Helper()
	o := benchStoreOptions()
	o.Credentials, o.WrapDriver = e.s3.credentials(e.s3.secretKey), wrap
	s, err := OpenStore(context.Background(), e.s3.bsl("default", prefix), o)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func (e *benchEnv) backup(b *testing.B, store *Store) Result {
	b.Helper()
	src, _ := endpoint(b, e.src).Image(e.repo, "v1")
	dst, _ := store.Image(e.repo, "v1")
	res, err := (&Copier{MaxBlobs: *benchConc}).Copy(context.Background(), src, dst)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// blobFile is where the source registry keeps a blob on disk (distribution's layout).
func (e *benchEnv) blobFile(d string) string {
	hex := strings.TrimPrefix(d, "sha256:")
	return filepath.Join(e.src.Dir, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// rawPut uploads every blob file of the image with one PutObject each, in parallel.
func (e *benchEnv) rawPut(b *testing.B, prefix string) {
	b.Helper()
	client := e.s3.client(e.s3.secretKey)
	var wg sync.WaitGroup
	errs := make(chan error, len(e.img.Blobs))
	for _, bl := range e.img.Blobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Open(e.blobFile(bl.Digest.String()))
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			_, err = client.PutObject(&s3.PutObjectInput{
				Bucket: aws.String(e.s3.bucket), Key: aws.String(prefix + "/" + bl.Digest.Encoded()), Body: f,
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

// drop deletes a prefix from the S3 server's disk (posix backend: one file per object).
func (e *benchEnv) drop(prefix string) {
	_ = os.RemoveAll(filepath.Join(e.s3.dataDir, e.s3.bucket, prefix))
	_ = os.RemoveAll(filepath.Join(e.s3.metaDir, e.s3.bucket, prefix))
}

// cpuSeconds is the CPU time (user+system) this process and the S3 server have used so far.
func (e *benchEnv) cpuSeconds() (self, server float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	e.s3.mu.Lock()
	cmd := e.s3.cmd
	e.s3.mu.Unlock()
	if cmd != nil {
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)); err == nil {
			f := strings.Fields(string(raw)[strings.LastIndex(string(raw), ")")+2:])
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				server = (ut + st) / 100 // USER_HZ
			}
		}
	}
	return self, server
}

func BenchmarkBackupToS3(b *testing.B) {
	e := newBenchEnv(b)
	total := e.img.TotalSize()
	var copyTime, rawTime time.Duration
	var copyCPU, copySrvCPU, rawCPU, rawSrvCPU float64
	b.ResetTimer()
	for i := range b.N {
		prefix := fmt.Sprintf("copy-%d", i)
		store := e.store(b, prefix, nil)
		c0, s0 := e.cpuSeconds()
		start := time.Now()
		res := e.backup(b, store)
		copyTime += time.Since(start)
		c1, s1 := e.cpuSeconds()
		copyCPU, copySrvCPU = copyCPU+c1-c0, copySrvCPU+s1-s0
		if res.Bytes < total || res.Digest != e.img.Digest {
			b.Fatalf("copied %d of %d bytes, digest %s", res.Bytes, total, res.Digest)
		}
		b.StopTimer()
		e.drop(prefix)
		c0, s0 = e.cpuSeconds()
		start = time.Now()
		e.rawPut(b, fmt.Sprintf("raw-%d", i))
		rawTime += time.Since(start)
		c1, s1 = e.cpuSeconds()
		rawCPU, rawSrvCPU = rawCPU+c1-c0, rawSrvCPU+s1-s0
		e.drop(fmt.Sprintf("raw-%d", i))
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	copyRate := float64(total) * n / mib / copyTime.Seconds()
	rawRate := float64(total) * n / mib / rawTime.Seconds()
	b.ReportMetric(copyRate, "copy-MiB/s")
	b.ReportMetric(rawRate, "rawput-MiB/s")
	b.ReportMetric(copyRate/rawRate, "copy/raw")
	b.ReportMetric(float64(total)/mib, "image-MiB")
	// CPU seconds per run: this process (the source registry server + the engine, or the raw
	// client) and the S3 server.
	b.ReportMetric(copyCPU/n, "copy-cpu-s")
	b.ReportMetric(copySrvCPU/n, "copy-s3cpu-s")
	b.ReportMetric(rawCPU/n, "raw-cpu-s")
	b.ReportMetric(rawSrvCPU/n, "raw-s3cpu-s")
}

func BenchmarkRebackupUnchanged(b *testing.B) {
	e := newBenchEnv(b)
	start := time.Now()
	first := e.backup(b, e.store(b, "rebackup", nil))
	firstTime := time.Since(start)
	var written, bytes int64
	var again time.Duration
	b.ResetTimer()
	for range b.N {
		var counter *countingDriver
		store := e.store(b, "rebackup", func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
			counter = &countingDriver{StorageDriver: d}
			return counter
		})
		start := time.Now()
		res := e.backup(b, store)
		again += time.Since(start)
		written += counter.written.Load()
		bytes += res.Bytes
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(first.Bytes)/mib, "first-MiB")
	b.ReportMetric(firstTime.Seconds()*1000, "first-ms")
	b.ReportMetric(again.Seconds()*1000/n, "again-ms")
	b.ReportMetric(float64(written)/n, "again-bytes-written")
	b.ReportMetric(float64(bytes)/n, "again-bytes-copied")
	b.ReportMetric(100*(again.Seconds()/n)/firstTime.Seconds(), "time-%")
	b.ReportMetric(100*(float64(written)/n)/float64(e.img.TotalSize()), "bytes-%")
}

// childJob is what BenchmarkBackupPeakRSS hands to the child process.
type childJob struct {
	Host, Token, Repo, Ref string
	CA, Credentials        []byte
	BSL                    *velerov1.BackupStorageLocation
	Params                 map[string]any
	MaxBlobs               int
}

type childResult struct {
	Digest  string
	Bytes   int64
	Seconds float64
	PeakRSS int64 // VmHWM of the child, bytes
	Err     string
}

// peakRSS is this process's VmHWM. (getrusage of a child is no good here: a child started with
// vfork+exec inherits the parent's high-water mark.)
func peakRSS() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

const childEnv = "IMAGECOPY_BENCH_CHILD"

// runChild is the child process: one backup copy, result as JSON on stdout.
func runChild(spec string) int {
	var job childJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Println(`{"Err":"bad job"}`)
		return 2
	}
	out := childResult{}
	err := func() error {
		ctx := context.Background()
		o := StoreOptions{Credentials: job.Credentials, DriverParameters: job.Params}
		store, err := OpenStore(ctx, job.BSL, o)
		if err != nil {
			return err
		}
		reg, err := NewRegistry(RegistryOptions{Host: job.Host, Token: job.Token, CA: job.CA})
		if err != nil {
			return err
		}
		if job.Repo == "" { // baseline: everything but the copy
			return nil
		}
		src, _ := reg.Image(job.Repo, job.Ref)
		dst, _ := store.Image(job.Repo, job.Ref)
		start := time.Now()
		res, err := (&Copier{MaxBlobs: job.MaxBlobs}).Copy(ctx, src, dst)
		out.Seconds, out.Bytes, out.Digest = time.Since(start).Seconds(), res.Bytes, res.Digest.String()
		return err
	}()
	if err != nil {
		out.Err = err.Error()
	}
	out.PeakRSS = peakRSS()
	_ = json.NewEncoder(os.Stdout).Encode(out)
	if err != nil {
		return 1
	}
	return 0
}

// runChildCopy runs one child process; it returns its peak RSS in bytes and its result.
func runChildCopy(b *testing.B, job childJob) (int64, childResult) {
	b.Helper()
	spec, _ := json.Marshal(job)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var res childResult
	_ = json.Unmarshal(out, &res)
	if err != nil || res.Err != "" {
		b.Fatalf("child: %v %s %s", err, res.Err, out)
	}
	return res.PeakRSS, res
}

func BenchmarkBackupPeakRSS(b *testing.B) {
	e := newBenchEnv(b)
	job := func(prefix string) childJob {
		return childJob{
			Host: e.src.Host, Token: e.src.Token, Repo: e.repo, Ref: "v1",
			CA: loopbackPKI(b).CAPEM, Credentials: e.s3.credentials(e.s3.secretKey), BSL: e.s3.bsl("default", prefix),
			Params: benchDriverParams(), MaxBlobs: *benchConc,
		}
	}
	base := job("baseline")
	base.Repo = ""
	baseline, _ := runChildCopy(b, base)
	var maxRSS int64
	var secs float64
	b.ResetTimer()
	for i := range b.N {
		prefix := fmt.Sprintf("rss-%d", i)
		rss, res := runChildCopy(b, job(prefix))
		if res.Digest != e.img.Digest.String() {
			b.Fatalf("child copied %s, want %s", res.Digest, e.img.Digest)
		}
		maxRSS = max(maxRSS, rss)
		secs += res.Seconds
		e.drop(prefix)
	}
	b.StopTimer()
	b.ReportMetric(float64(maxRSS)/mib, "peak-RSS-MiB")
	b.ReportMetric(float64(baseline)/mib, "baseline-RSS-MiB")
	b.ReportMetric(float64(e.img.TotalSize())/mib, "image-MiB")
	b.ReportMetric(float64(e.img.TotalSize())*float64(b.N)/mib/secs, "copy-MiB/s")
}

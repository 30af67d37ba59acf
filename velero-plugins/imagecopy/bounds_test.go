package imagecopy

// Faults the engine must survive, each in this process on loopback: a real distribution registry
// (test/testregistry: TLS, bearer token) with a fault handler in front of it, and filesystem
// stores whose storage driver can be made to panic. The copy of each image must end, in time,
// as that image's result: a panic is an "internal error" for the image, a registry that stops
// sending data fails the copy within the idle bound, a copy that takes too long fails at the
// time limit, and a registry that fails its first requests costs a retry, logged once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"go.podman.io/image/v5/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testpki"
	"github.com/velero-openshift/plugins/test/testregistry"
)

// faultEnv is a registry holding app/web:v1 (a config and two 1 MiB layers) behind a fault
// handler: while fault is set, every request goes to it, with the registry as next.
type faultEnv struct {
	pki   *testpki.PKI
	reg   *testregistry.Registry
	empty *testregistry.Registry // another registry, no faults, holding nothing
	img   *testimage.Image
	// ended is closed when the test ends, before the registry stops (which waits for its
	// requests): stalled requests end with it.
	ended chan struct{}
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler)]
}

const faultLayerSize = 1 << 20

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	p, err := testpki.New("imagecopy fault test CA")
	if err != nil {
		t.Fatal(err)
	}
	e := &faultEnv{pki: p, ended: make(chan struct{})}
	e.reg = testregistry.StartWith(t, testregistry.Options{PKI: p, Token: "fault-token", Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f := e.fault.Load(); f != nil {
				(*f)(w, r, h)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	t.Cleanup(func() { close(e.ended) })
	e.empty = testregistry.Start(t, p, "fault-token")
	e.img = testimage.New(t, testimage.Spec{Arch: "amd64"},
		testimage.Layer{Seed: 81, Size: faultLayerSize}, testimage.Layer{Seed: 82, Size: faultLayerSize})
	e.reg.Push(t, "app/web", e.img, "v1")
	return e
}

func (e *faultEnv) setFault(f func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	e.fault.Store(&f)
}

// image is repo:ref in the registry, reached as the engine reaches an internal registry.
func (e *faultEnv) image(t *testing.T, repo, ref string) Image {
	t.Helper()
	return e.imageIn(t, e.reg, repo, ref)
}

func (e *faultEnv) imageIn(t *testing.T, r *testregistry.Registry, repo, ref string) Image {
	t.Helper()
	reg, err := NewRegistry(RegistryOptions{Host: r.Host, Token: r.Token, CA: e.pki.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	img, err := reg.Image(repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// stall waits until the request is cancelled or the test ends.
func (e *faultEnv) stall(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-e.ended:
	}
}

// isLayerGet reports a GET of one of the image's layers.
func (e *faultEnv) isLayerGet(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
		return false
	}
	for _, l := range e.img.Layers {
		if strings.HasSuffix(r.URL.Path, l.String()) {
			return true
		}
	}
	return false
}

// faultStore is a filesystem store (a fresh directory unless dir is given) whose driver wrap
// replaces.
func faultStore(t *testing.T, dir string, wrap func(storagedriver.StorageDriver) storagedriver.StorageDriver) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	store, err := OpenStore(context.Background(), &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "local"},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider:    ProviderFilesystem,
			Config:      map[string]string{"path": dir},
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "b"}},
		},
	}, StoreOptions{WrapDriver: wrap})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func storeImage(t *testing.T, s *Store, repo, ref string) Image {
	t.Helper()
	img, err := s.Image(repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// logLines is a logger's output, kept to check what was logged.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func captureLog(level logrus.Level) (*logrus.Logger, *logLines) {
	out := &logLines{}
	l := logrus.New()
	l.SetOutput(out)
	l.SetLevel(level)
	return l, out
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// matching returns the lines containing any of subs.
func (l *logLines) matching(subs ...string) []string {
	var out []string
	for line := range strings.SplitSeq(l.String(), "\n") {
		for _, s := range subs {
			if strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// within runs copy and fails the test if it has not returned after limit: a hung copy is a
// failure of its own, not a test binary killed by go test's timeout.
func within[T any](t *testing.T, limit time.Duration, copy func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- copy() }()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("the copy has not returned after %v: it hangs", limit)
		panic("unreachable")
	}
}

// ---------------------------------------------------------------- panics

// panickingDriver panics in the operations named in ops ("Reader", "Writer", "GetContent",
// "PutContent") on paths containing under.
type panickingDriver struct {
	storagedriver.StorageDriver
	ops   map[string]bool
	under string
}

func (d panickingDriver) check(op, path string) {
	if d.ops[op] && strings.Contains(path, d.under) {
		panic(fmt.Sprintf("injected panic in %s %s", op, path))
	}
}

func (d panickingDriver) GetContent(ctx context.Context, path string) ([]byte, error) {
	d.check("GetContent", path)
	return d.StorageDriver.GetContent(ctx, path)
}

func (d panickingDriver) PutContent(ctx context.Context, path string, content []byte) error {
	d.check("PutContent", path)
	return d.StorageDriver.PutContent(ctx, path, content)
}

func (d panickingDriver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	d.check("Reader", path)
	return d.StorageDriver.Reader(ctx, path, offset)
}

func (d panickingDriver) Writer(ctx context.Context, path string, appendMode bool) (storagedriver.FileWriter, error) {
	d.check("Writer", path)
	return d.StorageDriver.Writer(ctx, path, appendMode)
}

// panickingRef is an image reference whose source and destination cannot even be opened: a
// transport that panics in the goroutine copy.Image runs in.
type panickingRef struct{ types.ImageReference }

func (panickingRef) NewImageSource(context.Context, *types.SystemContext) (types.ImageSource, error) {
	panic("injected panic opening the source")
}

// TestPanicInTransportIsAnItemError: a panic anywhere in a copy -- in the goroutine copy.Image
// runs in, or in the layer goroutines containers/image starts and that call into the store --
// fails that image's copy with an "internal error" naming the image and the panic, once (a
// panic is a bug, not a transient failure), the stack in the debug log; the other images of
// the same CopyAll copy, and the process lives on.
func TestPanicInTransportIsAnItemError(t *testing.T) {
	e := newFaultEnv(t)
	// A store holding app/web:v1, for the rows that copy from a store.
	held := t.TempDir()
	if _, err := (&Copier{}).Copy(context.Background(), e.image(t, "app/web", "v1"), storeImage(t, faultStore(t, held, nil), "app/web", "v1")); err != nil {
		t.Fatal(err)
	}
	panicking := func(under string, ops ...string) func(storagedriver.StorageDriver) storagedriver.StorageDriver {
		set := map[string]bool{}
		for _, op := range ops {
			set[op] = true
		}
		return func(d storagedriver.StorageDriver) storagedriver.StorageDriver {
			return panickingDriver{StorageDriver: d, ops: set, under: under}
		}
	}
	for _, tc := range []struct {
		name string
		// job is the copy that panics; ok is a healthy copy run beside it.
		job, ok func(t *testing.T) Job
		panic   string
	}{
		{
			name: "destination store panics writing a layer (layer goroutine)",
			job: func(t *testing.T) Job {
				return Job{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", panicking("", "Writer")), "app/web", "v1")}
			},
			ok: func(t *testing.T) Job {
				return Job{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", nil), "app/web", "v1")}
			},
			panic: "injected panic in Writer",
		},
		{
			name: "destination store panics storing the manifest",
			job: func(t *testing.T) Job {
				return Job{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", panicking("/_manifests/revisions/", "PutContent")), "app/web", "v1")}
			},
			ok: func(t *testing.T) Job {
				return Job{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", nil), "app/web", "v1")}
			},
			panic: "injected panic in PutContent",
		},
		{
			name: "source store panics reading a layer (read by the registry upload)",
			job: func(t *testing.T) Job {
				return Job{Src: storeImage(t, faultStore(t, held, panicking(e.img.Layers[0].Encoded(), "Reader")), "app/web", "v1"), Dst: e.imageIn(t, e.empty, "restored/one", "v1")}
			},
			ok: func(t *testing.T) Job {
				return Job{Src: storeImage(t, faultStore(t, held, nil), "app/web", "v1"), Dst: e.imageIn(t, e.empty, "restored/two", "v1")}
			},
			panic: "injected panic in Reader",
		},
		{
			name: "source store panics reading the manifest",
			job: func(t *testing.T) Job {
				return Job{Src: storeImage(t, faultStore(t, held, panicking(e.img.Digest.Encoded(), "Reader")), "app/web", "v1"), Dst: e.image(t, "restored/three", "v1")}
			},
			ok: func(t *testing.T) Job {
				return Job{Src: storeImage(t, faultStore(t, held, nil), "app/web", "v1"), Dst: e.image(t, "restored/four", "v1")}
			},
			panic: "injected panic in Reader",
		},
		{
			name: "transport panics opening the source",
			job: func(t *testing.T) Job {
				src := e.image(t, "app/web", "v1")
				src.ref = panickingRef{src.ref}
				return Job{Src: src, Dst: storeImage(t, faultStore(t, "", nil), "app/web", "v1")}
			},
			ok: func(t *testing.T) Job {
				return Job{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", nil), "app/web", "v1")}
			},
			panic: "injected panic opening the source",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := captureLog(logrus.DebugLevel)
			c := &Copier{Attempts: 3, Backoff: 10 * time.Millisecond, Log: log}
			bad, good := tc.job(t), tc.ok(t)
			results := within(t, time.Minute, func() []Result { return c.CopyAll(context.Background(), []Job{bad, good}) })
			err := results[0].Err
			t.Logf("error: %v", err)
			if err == nil {
				t.Fatal("the panicking copy succeeded")
			}
			for _, want := range []string{bad.Src.String(), "internal error", tc.panic} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not name %q: %v", want, err)
				}
			}
			if results[0].Attempts != 1 {
				t.Errorf("a panic was retried: %d attempts", results[0].Attempts)
			}
			if Transient(err) {
				t.Error("a panic counts as transient")
			}
			if results[1].Err != nil || results[1].Digest != e.img.Digest {
				t.Errorf("the healthy copy beside it: %s %v", results[1].Digest, results[1].Err)
			}
			if stacks := logs.matching("goroutine ", "bounds_test.go"); len(stacks) == 0 || !strings.Contains(logs.String(), "level=debug") {
				t.Errorf("no stack in the debug log:\n%s", logs)
			}
		})
	}
}

// ---------------------------------------------------------------- time bounds

// stallAfter lets n bytes of the response through, then sends nothing more until the client
// goes away.
type stallAfter struct {
	http.ResponseWriter
	e    *faultEnv
	ctx  context.Context
	left int
}

func (s *stallAfter) Write(p []byte) (int, error) {
	if len(p) <= s.left {
		s.left -= len(p)
		return s.ResponseWriter.Write(p)
	}
	n, _ := s.ResponseWriter.Write(p[:s.left])
	s.left = 0
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	s.e.stall(s.ctx)
	return n, errors.New("stalled")
}

// dripping sends the response in chunks of size, one every pause.
type dripping struct {
	http.ResponseWriter
	size  int
	pause time.Duration
}

func (d *dripping) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(d.size, len(p))
		m, err := d.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		d.ResponseWriter.(http.Flusher).Flush()
		p = p[n:]
		time.Sleep(d.pause)
	}
	return written, nil
}

// TestStalledRegistryFailsWithinIdleBound: a registry that stops sending data -- in the middle of
// a layer, or before answering a request at all -- fails the copy within the idle bound, as a
// transient failure (retried, and stalled again), with an error naming the image, the bound and
// its setting.
func TestStalledRegistryFailsWithinIdleBound(t *testing.T) {
	const idle = time.Second
	for _, tc := range []struct {
		name string
		// stalls reports whether the request is one to stall; stall serves it, stalling.
		stalls func(e *faultEnv, r *http.Request) bool
		stall  func(e *faultEnv, w http.ResponseWriter, r *http.Request, next http.Handler)
	}{
		{
			"headers and part of a layer, then nothing",
			func(e *faultEnv, r *http.Request) bool { return e.isLayerGet(r) },
			func(e *faultEnv, w http.ResponseWriter, r *http.Request, next http.Handler) {
				next.ServeHTTP(&stallAfter{ResponseWriter: w, e: e, ctx: r.Context(), left: 64 << 10}, r)
			},
		},
		{
			"no answer to the manifest request",
			func(_ *faultEnv, r *http.Request) bool { return strings.Contains(r.URL.Path, "/manifests/") },
			func(e *faultEnv, _ http.ResponseWriter, r *http.Request, _ http.Handler) { e.stall(r.Context()) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t)
			var stalls atomic.Int32
			e.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				if !tc.stalls(e, r) {
					next.ServeHTTP(w, r)
					return
				}
				stalls.Add(1)
				tc.stall(e, w, r, next)
			})
			log, _ := captureLog(logrus.InfoLevel)
			c := &Copier{Attempts: 2, Backoff: 10 * time.Millisecond, IdleTimeout: idle, Timeout: time.Minute,
				IdleTimeoutSetting: "imageCopyIdleTimeout", TimeoutSetting: "imageCopyTimeout", Log: log}
			start := time.Now()
			res := within(t, 30*time.Second, func() Result {
				r, _ := c.Copy(context.Background(), e.image(t, "app/web", "v1"), storeImage(t, faultStore(t, "", nil), "app/web", "v1"))
				return r
			})
			took := time.Since(start)
			t.Logf("after %v: %v", took, res.Err)
			if res.Err == nil {
				t.Fatal("the copy from a stalled registry succeeded")
			}
			if res.Attempts != 2 || stalls.Load() < 2 {
				t.Errorf("attempts %d, stalls %d: an idle copy is transient, retried (and stalled again)", res.Attempts, stalls.Load())
			}
			if limit := 2*idle + 3*time.Second; took > limit {
				t.Errorf("two stalled attempts took %v, over %v", took, limit)
			}
			for _, want := range []string{"image app/web:v1", "no data moved for 1s", "(setting imageCopyIdleTimeout)"} {
				if !strings.Contains(res.Err.Error(), want) {
					t.Errorf("the error does not say %q: %v", want, res.Err)
				}
			}
		})
	}
}

// TestSlowCopyIsNotIdleAndStopsAtTimeLimit: a registry that sends its layers slowly but steadily
// (32 KiB every 40 ms) is never idle: the copy completes with an idle bound far shorter than
// it takes. The time limit bounds it all the same: the copy fails once it is reached, naming the
// image, the limit and its setting, and is not tried again (a retry could only take as long).
func TestSlowCopyIsNotIdleAndStopsAtTimeLimit(t *testing.T) {
	e := newFaultEnv(t)
	e.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if e.isLayerGet(r) {
			w = &dripping{ResponseWriter: w, size: 32 << 10, pause: 40 * time.Millisecond}
		}
		next.ServeHTTP(w, r)
	})
	log, _ := captureLog(logrus.InfoLevel)

	start := time.Now()
	const idle = time.Second // a layer takes 1.3 s
	slow := &Copier{IdleTimeout: idle, Timeout: time.Minute, Log: log}
	res := within(t, 30*time.Second, func() Result {
		r, _ := slow.Copy(context.Background(), e.image(t, "app/web", "v1"), storeImage(t, faultStore(t, "", nil), "app/web", "v1"))
		return r
	})
	t.Logf("slow copy: %v, %d attempts, %v", time.Since(start), res.Attempts, res.Err)
	if res.Err != nil || res.Attempts != 1 || time.Since(start) < idle {
		t.Errorf("a slow copy that never stops moving data: attempts %d after %v, %v", res.Attempts, time.Since(start), res.Err)
	}

	start = time.Now()
	limited := &Copier{Timeout: 500 * time.Millisecond, TimeoutSetting: "imageCopyTimeout", Backoff: 10 * time.Millisecond, Log: log}
	res = within(t, 30*time.Second, func() Result {
		r, _ := limited.Copy(context.Background(), e.image(t, "app/web", "v1"), storeImage(t, faultStore(t, "", nil), "app/web", "v1"))
		return r
	})
	took := time.Since(start)
	t.Logf("limited copy: %v, %v", took, res.Err)
	if res.Err == nil {
		t.Fatal("the copy over its time limit succeeded")
	}
	if took > 3*time.Second || res.Attempts != 1 || Transient(res.Err) {
		t.Errorf("took %v, %d attempts, transient %v: want a stop at the limit, not retried", took, res.Attempts, Transient(res.Err))
	}
	for _, want := range []string{"image app/web:v1", "exceeded its time limit of 500ms", "(setting imageCopyTimeout)"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, res.Err)
		}
	}
}

// TestCopyWaitingForABlobSlotIsNotIdle: with one blob copied at a time, images wait for the blob
// slot while another image's layer drips in for longer than the idle bound; waiting is not idle,
// so every image copies at its first attempt.
func TestCopyWaitingForABlobSlotIsNotIdle(t *testing.T) {
	e := newFaultEnv(t)
	e.reg.Push(t, "app/other", e.img, "v1")
	e.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if e.isLayerGet(r) {
			w = &dripping{ResponseWriter: w, size: 32 << 10, pause: 40 * time.Millisecond}
		}
		next.ServeHTTP(w, r)
	})
	log, _ := captureLog(logrus.InfoLevel)
	c := &Copier{MaxBlobs: 1, IdleTimeout: time.Second, Log: log}
	jobs := []Job{
		{Src: e.image(t, "app/web", "v1"), Dst: storeImage(t, faultStore(t, "", nil), "app/web", "v1")},
		{Src: e.image(t, "app/other", "v1"), Dst: storeImage(t, faultStore(t, "", nil), "app/other", "v1")},
	}
	start := time.Now()
	results := within(t, time.Minute, func() []Result { return c.CopyAll(context.Background(), jobs) })
	t.Logf("four dripping layers one at a time: %v", time.Since(start))
	for _, r := range results {
		if r.Err != nil || r.Attempts != 1 {
			t.Errorf("%s: %d attempts, %v", r.Job.Src, r.Attempts, r.Err)
		}
	}
}

// ---------------------------------------------------------------- transient failures

// resetConnection closes the request's connection with a TCP reset.
func resetConnection(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = nc.NetConn()
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// TestFlakyRegistryCopiesAndLogsRetriesOnce: a registry that fails its first requests (503, or a
// connection reset) and then answers costs retries, not the copy, in both directions (registry
// to store, store to registry); the log says once, in the line of the copied image, what was
// retried and why, and warns of nothing.
func TestFlakyRegistryCopiesAndLogsRetriesOnce(t *testing.T) {
	unavailable := func(_ *testing.T, w http.ResponseWriter) {
		http.Error(w, "registry restarting", http.StatusServiceUnavailable)
	}
	attempt := regexp.MustCompile(`attempt [0-9]+: `)
	for _, tc := range []struct {
		name   string
		fails  []func(*testing.T, http.ResponseWriter)
		causes []string // what the log names as the cause of a failed attempt: one of these
	}{
		{"503 twice", []func(*testing.T, http.ResponseWriter){unavailable, unavailable}, []string{"503 Service Unavailable"}},
		{"connection reset twice", []func(*testing.T, http.ResponseWriter){resetConnection, resetConnection}, []string{"connection reset by peer"}},
		{"503 then connection reset", []func(*testing.T, http.ResponseWriter){unavailable, resetConnection}, []string{"503 Service Unavailable", "connection reset by peer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t)
			held := faultStore(t, "", nil)
			for _, dir := range []struct {
				name     string
				src, dst func() Image
			}{
				{"registry to store", func() Image { return e.image(t, "app/web", "v1") }, func() Image { return storeImage(t, held, "app/web", "v1") }},
				// Into the faulty registry from the store: the layers' requests run in parallel,
				// so both failed requests may fall into one attempt.
				{"store to registry", func() Image { return storeImage(t, held, "app/web", "v1") }, func() Image { return e.image(t, "restored/web", "v1") }},
			} {
				var calls atomic.Int32
				e.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					if n := int(calls.Add(1)); n <= len(tc.fails) {
						tc.fails[n-1](t, w)
						return
					}
					next.ServeHTTP(w, r)
				})
				log, logs := captureLog(logrus.InfoLevel)
				c := &Copier{Backoff: 10 * time.Millisecond, Log: log}
				res := within(t, time.Minute, func() Result {
					r, _ := c.Copy(context.Background(), dir.src(), dir.dst())
					return r
				})
				e.fault.Store(nil)
				if res.Err != nil || res.Digest != e.img.Digest {
					t.Fatalf("%s: %s %v", dir.name, res.Digest, res.Err)
				}
				t.Logf("%s: %d attempts; log:\n%s", dir.name, res.Attempts, logs)
				if res.Attempts < 2 || res.Attempts > 1+len(tc.fails) {
					t.Errorf("%s: %d attempts, want a retry for each failed attempt", dir.name, res.Attempts)
				}
				retried := logs.matching("retr")
				if len(retried) != 1 {
					t.Fatalf("%s: %d log lines about retries, want one:\n%s", dir.name, len(retried), logs)
				}
				line := retried[0]
				if !strings.Contains(line, "image copied") || !strings.Contains(line, "level=info") {
					t.Errorf("%s: the retries are not told in the copied image's line: %s", dir.name, line)
				}
				// One entry per failed attempt, each with its cause.
				_, told, _ := strings.Cut(line, "retried=")
				entries := attempt.Split(told, -1)[1:]
				if len(entries) != res.Attempts-1 {
					t.Errorf("%s: %d failed attempts told, want %d: %s", dir.name, len(entries), res.Attempts-1, told)
				}
				for _, entry := range entries {
					if !slices.ContainsFunc(tc.causes, func(c string) bool { return strings.Contains(entry, c) }) {
						t.Errorf("%s: a retry is told without its cause (one of %q): %s", dir.name, tc.causes, entry)
					}
				}
				if warned := logs.matching("level=warn", "level=error"); len(warned) > 0 {
					t.Errorf("%s: a copy that succeeded warned: %v", dir.name, warned)
				}
			}
		})
	}
}

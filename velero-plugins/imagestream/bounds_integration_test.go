//go:build integration

package imagestream

// The image copy engine's failure handling as the backup action sees it, against a real
// registry with faults in front of it: a registry that fails its first requests costs retries,
// not the item, and the log says once what was retried; a registry that stalls fails the item
// within the bounds the plugin config sets, naming them.

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/test/testregistry"
)

// faultyBackup is an image stream app/web whose two history images live in a registry behind
// fault (nil: none), and the backup action set up to copy them into a filesystem location, with
// the plugin config cfg and a log kept in logs.
type faultyBackup struct {
	reg    *testregistry.Registry
	fault  atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler)]
	is     *unstructured.Unstructured
	images []digest.Digest
	run    func() (*unstructured.Unstructured, error)
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newFaultyBackup(t *testing.T, cfg config.Config) *faultyBackup {
	t.Helper()
	p := newPKI(t)
	token := "sa-token-" + fmt.Sprint(time.Now().UnixNano())
	f := &faultyBackup{logs: &lockedBuffer{}}
	f.reg = testregistry.StartWith(t, testregistry.Options{PKI: p, Token: token, Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if fault := f.fault.Load(); fault != nil {
				(*fault)(w, r, h)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	useCredentials(t, token, p.CAPEM)
	older, newer := pushImage(t, f.reg, "app/web", "latest", 1), pushImage(t, f.reg, "app/web", "latest", 2)
	f.images = []digest.Digest{older, newer}
	refOf := func(d digest.Digest) string { return f.reg.Host + "/app/web@" + d.String() }
	f.is = actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"status": map[string]any{"tags": []any{
			map[string]any{"tag": "latest", "items": []any{item(refOf(newer), newer.String(), 2), item(refOf(older), older.String(), 1)}},
		}},
	})
	cluster := &fakeCluster{locations: map[string]*velerov1.BackupStorageLocation{"velero/default": filesystemBSL(t, "default", nil)}}
	log := logrus.New()
	log.SetOutput(f.logs)
	env := registryEnv(f.reg.Host, log)
	cfg.ImageStreamBackup = true
	env.Config = config.Static(cfg)
	b := NewBackup(env)
	b.Cluster = cluster
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	f.run = func() (*unstructured.Unstructured, error) {
		out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, f.is, bk)
		return out, err
	}
	return f
}

func (f *faultyBackup) setFault(fault func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	f.fault.Store(&fault)
}

// TestBackupFromFlakyRegistry: the registry answers its first two requests with 503 and then
// serves: the item is backed up with every image, and each failed attempt is told once, with its
// cause, in the info line of the image it delayed; nothing is warned about.
func TestBackupFromFlakyRegistry(t *testing.T) {
	f := newFaultyBackup(t, config.Default())
	const failures = 2
	var calls atomic.Int32
	f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if calls.Add(1) <= failures {
			http.Error(w, "registry restarting", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	out, err := f.run()
	t.Logf("log:\n%s", f.logs)
	if err != nil {
		t.Fatalf("the item failed: %v", err)
	}
	if out.GetAnnotations()["openshift.io/image-copy-location"] != "default" {
		t.Errorf("not recorded as copied: %v", out.GetAnnotations())
	}
	attempt := regexp.MustCompile(`attempt [0-9]+: `)
	told := 0
	for line := range strings.SplitSeq(f.logs.String(), "\n") {
		if !strings.Contains(line, "retr") {
			continue
		}
		if !strings.Contains(line, "level=info") || !strings.Contains(line, `msg="image copied"`) {
			t.Errorf("retries told outside the copied image's line: %s", line)
		}
		_, retried, _ := strings.Cut(line, "retried=")
		for _, entry := range attempt.Split(retried, -1)[1:] {
			told++
			if !strings.Contains(entry, "503 Service Unavailable") {
				t.Errorf("a retry told without its cause: %s", entry)
			}
		}
	}
	if told != failures {
		t.Errorf("%d failed attempts told, want %d (one per failed request, once)", told, failures)
	}
	if strings.Contains(f.logs.String(), "level=warn") || strings.Contains(f.logs.String(), "level=error") {
		t.Error("a backup that succeeded warned")
	}
}

// TestBackupFromStalledRegistryFailsWithinConfiguredBounds: the registry sends the headers of
// every layer and then nothing. With imageCopyIdleTimeout 1s and imageCopyTimeout 4s in the
// plugin config, the item fails after about 4s (the stalled attempts retried until then), its
// error naming the image and imageCopyTimeout, the log the idle attempts and imageCopyIdleTimeout.
func TestBackupFromStalledRegistryFailsWithinConfiguredBounds(t *testing.T) {
	cfg := config.Default()
	cfg.ImageCopyIdleTimeout, cfg.ImageCopyTimeout = time.Second, 4*time.Second
	f := newFaultyBackup(t, cfg)
	ended := make(chan struct{})
	t.Cleanup(func() { close(ended) }) // before the registry stops, which waits for its requests
	f.setFault(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", "4096")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-ended:
			}
			return
		}
		next.ServeHTTP(w, r)
	})
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := f.run()
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the backup of the item has not returned after a minute: it hangs")
	}
	took := time.Since(start)
	t.Logf("after %v: %v\nlog:\n%s", took, err, f.logs)
	if err == nil {
		t.Fatal("the backup from a stalled registry succeeded")
	}
	if took > 10*time.Second {
		t.Errorf("took %v with a 4s time limit", took)
	}
	for _, want := range []string{"app/web@" + f.images[0].String(), "exceeded its time limit of 4s", "(setting " + config.KeyImageCopyTimeout + ")"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the item's error does not say %q", want)
		}
	}
	if !strings.Contains(f.logs.String(), "no data moved for 1s (setting "+config.KeyImageCopyIdleTimeout+")") {
		t.Error("the log does not tell the idle attempts and their setting")
	}
}

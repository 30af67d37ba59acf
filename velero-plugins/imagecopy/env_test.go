//go:build integration

package imagecopy

// The real components the integration tests and benchmarks run against, all on loopback:
//   - a distribution v3 registry (its registry/handlers app over the filesystem driver), served
//     over HTTPS by net/http with a bearer-token check in front, standing in for a cluster's
//     internal registry;
//   - versitygw (an S3 gateway with a posix backend that verifies SigV4 signatures), started as a
//     child process over HTTPS, standing in for the backup storage location.

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/velero-openshift/plugins/test/testpki"
	"github.com/velero-openshift/plugins/test/testregistry"
)

var versitygwFlag = flag.String("imagecopy.versitygw", "", "versitygw binary (default: $VERSITYGW or <repo>/bin/stack/versitygw)")

func TestMain(m *testing.M) {
	flag.Parse()
	// distribution's registry app and storage layer log through the standard logrus logger
	// (every 404 blob probe at ERROR); the engine under test logs through its own logger.
	if os.Getenv("IMAGECOPY_LIBRARY_LOGS") == "" {
		logrus.SetOutput(io.Discard)
	}
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec)) // BenchmarkBackupPeakRSS's child process
	}
	code := m.Run()
	if pki != nil {
		_ = os.RemoveAll(filepath.Dir(pki.certF))
	}
	os.Exit(code)
}

// ---------------------------------------------------------------- TLS and registry

// testPKI is the process's CA and loopback serving certificate, with the certificate and key
// also as files for the S3 server child process.
type testPKI struct {
	*testpki.PKI
	certF, keyF string
}

var (
	pkiOnce sync.Once
	pki     *testPKI
	pkiErr  error
)

// loopbackPKI is one CA and a serving certificate for 127.0.0.1/localhost, shared by every
// server of the test process.
func loopbackPKI(t testing.TB) *testPKI {
	pkiOnce.Do(func() { pki, pkiErr = newPKI() })
	if pkiErr != nil {
		t.Fatalf("test PKI: %v", pkiErr)
	}
	return pki
}

func newPKI() (*testPKI, error) {
	p, err := testpki.New("imagecopy test CA")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "imagecopy-pki-")
	if err != nil {
		return nil, err
	}
	certF, keyF, err := p.WriteFiles(dir)
	if err != nil {
		return nil, err
	}
	return &testPKI{PKI: p, certF: certF, keyF: keyF}, nil
}

// startRegistry runs a real distribution registry in this process over HTTPS, wanting a bearer
// token like OpenShift's internal registry does.
func startRegistry(t testing.TB, token string) *testregistry.Registry {
	t.Helper()
	return testregistry.Start(t, loopbackPKI(t).PKI, token)
}

// endpoint is the engine's view of a test registry: its host, token and CA.
func endpoint(t testing.TB, r *testregistry.Registry) *Registry {
	t.Helper()
	reg, err := NewRegistry(RegistryOptions{Host: r.Host, Token: r.Token, CA: loopbackPKI(t).CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// ---------------------------------------------------------------- S3 (versitygw)

type testS3 struct {
	t         testing.TB
	bin       string
	port      int
	dataDir   string
	metaDir   string
	accessKey string
	secretKey string
	bucket    string
	region    string // the server's region; it refuses requests signed for another
	// checksumAlgorithm is the locations' config value: "" (as hack/stack.sh configures it) turns
	// off Content-MD5, which the raw-PUT client in the benchmarks then skips as well.
	checksumAlgorithm string

	mu  sync.Mutex
	cmd *exec.Cmd
}

func versitygwBinary(t testing.TB) string {
	t.Helper()
	bin := *versitygwFlag
	if bin == "" {
		bin = os.Getenv("VERSITYGW")
	}
	if bin == "" {
		// go test runs in the package's directory; the path is relative to it (a source path
		// from runtime.Caller would not be a file path under -trimpath).
		bin = filepath.Join("..", "..", "bin", "stack", "versitygw")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("the S3 server binary %s is missing (%v): build it with `hack/build-stack.sh s3` "+
			"(from the repository root; it pins versitygw in build/s3), or point -imagecopy.versitygw / $VERSITYGW at one", bin, err)
	}
	return bin
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startS3 starts versitygw over HTTPS on a loopback port with a bucket "velero", in us-east-1.
func startS3(t testing.TB) *testS3 { return startS3In(t, "us-east-1") }

// startS3In starts versitygw in region.
func startS3In(t testing.TB, region string) *testS3 {
	t.Helper()
	dir := t.TempDir()
	s := &testS3{
		t: t, bin: versitygwBinary(t), port: freePort(t),
		dataDir: filepath.Join(dir, "data"), metaDir: filepath.Join(dir, "meta"),
		accessKey: "imagecopy-test", secretKey: "imagecopy-secret-" + randomHex(8), bucket: "velero", region: region,
	}
	for _, d := range []string{s.dataDir, s.metaDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.start()
	t.Cleanup(s.kill)
	if _, err := s.client(s.secretKey).CreateBucket(&s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

func (s *testS3) url() string { return fmt.Sprintf("https://127.0.0.1:%d", s.port) }

func (s *testS3) start() {
	s.t.Helper()
	if err := s.startErr(); err != nil {
		s.t.Fatal(err)
	}
}

// startErr starts the server on its port (again, after kill: same data) and waits until it
// listens. Safe to call from any goroutine.
func (s *testS3) startErr() error {
	p := loopbackPKI(s.t)
	cmd := exec.Command(s.bin, "--port", fmt.Sprintf("127.0.0.1:%d", s.port), "--region", s.region,
		"--cert", p.certF, "--key", p.keyF, "posix", "--sidecar", s.metaDir, s.dataDir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.accessKey, "ROOT_SECRET_KEY="+s.secretKey)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited during start-up: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("versitygw not listening after 20s\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	go func() { <-exited }() // reap it when it is killed
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// kill stops the server (SIGKILL, as a crash would) and waits until the port is closed.
func (s *testS3) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	for range 100 {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// client is an S3 client for the server (path style, trusting the test CA).
func (s *testS3) client(secret string) *s3.S3 {
	cfg := aws.NewConfig().WithEndpoint(s.url()).WithRegion(s.region).WithS3ForcePathStyle(true).
		WithCredentials(credentials.NewStaticCredentials(s.accessKey, secret, "")).
		WithS3DisableContentMD5Validation(s.checksumAlgorithm == "")
	// CustomCABundle also keeps a host's AWS_CA_BUNDLE from replacing the trusted roots.
	sess := session.Must(session.NewSessionWithOptions(session.Options{
		Config: *cfg, CustomCABundle: bytes.NewReader(loopbackPKI(s.t).CAPEM),
	}))
	return s3.New(sess)
}

// bsl is a BackupStorageLocation for the server as Velero's AWS plugin would be configured,
// with the CA bundle and a credentials profile; credentials returns the secret's content.
func (s *testS3) bsl(name, prefix string) *velerov1.BackupStorageLocation {
	return &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: name},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: "aws",
			Config: map[string]string{
				"region": s.region, "s3Url": s.url(), "s3ForcePathStyle": "true", "profile": "backup",
				"checksumAlgorithm": s.checksumAlgorithm,
			},
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{
				Bucket: s.bucket, Prefix: prefix, CACert: loopbackPKI(s.t).CAPEM,
			}},
		},
	}
}

func (s *testS3) credentials(secret string) []byte {
	return fmt.Appendf(nil, "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n"+
		"[backup]\naws_access_key_id = %s\naws_secret_access_key = %s\n", s.accessKey, secret)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// ---------------------------------------------------------------- counting driver

// countingDriver counts the bytes written through a storage driver (blob uploads and small
// files) and can run a hook once a number of bytes has been written.
type countingDriver struct {
	storagedriver.StorageDriver
	written atomic.Int64
	puts    atomic.Int64 // PutContent calls (links, manifests, tags)
	uploads atomic.Int64 // Writer and PutContent calls under a repository's _uploads/

	hookAt   int64
	hookOnce sync.Once
	hook     func()

	active, maxActive atomic.Int64 // blob uploads in progress
}

func (d *countingDriver) add(n int) {
	if d.written.Add(int64(n)) >= d.hookAt && d.hook != nil {
		d.hookOnce.Do(d.hook)
	}
}

func (d *countingDriver) notePath(path string) {
	if strings.Contains(path, "/_uploads/") {
		d.uploads.Add(1)
	}
}

func (d *countingDriver) PutContent(ctx context.Context, path string, content []byte) error {
	d.puts.Add(1)
	d.notePath(path)
	d.add(len(content))
	return d.StorageDriver.PutContent(ctx, path, content)
}

func (d *countingDriver) Writer(ctx context.Context, path string, appendMode bool) (storagedriver.FileWriter, error) {
	d.notePath(path)
	w, err := d.StorageDriver.Writer(ctx, path, appendMode)
	if err != nil {
		return nil, err
	}
	n := d.active.Add(1)
	for {
		m := d.maxActive.Load()
		if n <= m || d.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	return &countingWriter{FileWriter: w, d: d}, nil
}

type countingWriter struct {
	storagedriver.FileWriter
	d    *countingDriver
	done sync.Once
}

func (w *countingWriter) finish() { w.done.Do(func() { w.d.active.Add(-1) }) }

func (w *countingWriter) Commit(ctx context.Context) error {
	defer w.finish()
	return w.FileWriter.Commit(ctx)
}

func (w *countingWriter) Cancel(ctx context.Context) error {
	defer w.finish()
	return w.FileWriter.Cancel(ctx)
}

func (w *countingWriter) Close() error {
	defer w.finish()
	return w.FileWriter.Close()
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.FileWriter.Write(p)
	w.d.add(n)
	return n, err
}

// ---------------------------------------------------------------- logs

// testLog is a logger that keeps every line (to check what was logged) and echoes to t.Log.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   testing.TB
}

func newTestLog(t testing.TB) (*logrus.Logger, *testLog) {
	tl := &testLog{t: t}
	l := logrus.New()
	l.Out = tl
	l.Level = logrus.InfoLevel
	return l, tl
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

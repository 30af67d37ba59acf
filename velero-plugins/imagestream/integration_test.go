//go:build integration

package imagestream

// The ImageStream actions end to end against real components on loopback, as the image copy
// engine's integration tests run: two distribution v3 registries in this process over HTTPS,
// each requiring the bearer token (the plugin's service-account token, read from a file as in a
// pod), and a filesystem-provider backup storage location. The backup action copies a stream's
// history into the location; the restore action pushes it into the second registry under a
// mapped namespace.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

func TestMain(m *testing.M) {
	// distribution's registry app logs every 404 probe through the standard logrus logger.
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// testPKI is a CA and a serving certificate for 127.0.0.1.
type testPKI struct {
	caPEM []byte
	cert  tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imagestream test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(err)
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	must(err)
	return &testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert: cert}
}

// testRegistry is a distribution registry over HTTPS that wants "Bearer <token>".
type testRegistry struct {
	host, token string
	client      *http.Client
}

func startRegistry(t *testing.T, p *testPKI, token string) *testRegistry {
	t.Helper()
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": t.TempDir()},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	cfg.HTTP.Secret = "imagestream-test-secret"
	cfg.Log.Level = "error"
	app := handlers.NewApp(context.Background(), cfg)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/openshift/token"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		app.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		_ = app.Shutdown()
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &testRegistry{host: strings.TrimPrefix(srv.URL, "https://"), token: token, client: &http.Client{Transport: tr}}
}

func (r *testRegistry) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	url := path
	if !strings.HasPrefix(url, "https://") {
		url = "https://" + r.host + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method == http.MethodGet {
		req.Header.Set("Accept", v1.MediaTypeImageManifest)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (r *testRegistry) pushBlob(t *testing.T, repo string, b []byte) v1.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	resp := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp = r.do(t, http.MethodPut, loc+sep+"digest="+d.String(), "application/octet-stream", b)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload %s: %s", d, resp.Status)
	}
	return v1.Descriptor{Digest: d, Size: int64(len(b))}
}

// pushImage pushes a one-layer OCI image (a gzip'd tar holding content) under tag.
func (r *testRegistry) pushImage(t *testing.T, repo, tag, content string) digest.Digest {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	_ = tw.WriteHeader(&tar.Header{Name: "data", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarBuf.Bytes())
	_ = zw.Close()
	layer := r.pushBlob(t, repo, gz.Bytes())
	layer.MediaType = v1.MediaTypeImageLayerGzip
	cfgRaw, _ := json.Marshal(v1.Image{
		Platform: v1.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarBuf.Bytes())}},
	})
	cfg := r.pushBlob(t, repo, cfgRaw)
	cfg.MediaType = v1.MediaTypeImageConfig
	raw, _ := json.Marshal(v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: cfg, Layers: []v1.Descriptor{layer}})
	resp := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, v1.MediaTypeImageManifest, raw)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("put manifest %s:%s: %s", repo, tag, resp.Status)
	}
	return digest.FromBytes(raw)
}

// digestOf returns the digest the registry serves for repo:ref ("" when absent).
func (r *testRegistry) digestOf(t *testing.T, repo, ref string) string {
	t.Helper()
	resp := r.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, "", nil)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return digest.FromBytes(raw).String()
}

func TestBackupAndRestoreImagesThroughLocation(t *testing.T) {
	p := newPKI(t)
	// One token for both registries: the plugin has one service-account token, read from a file.
	token := "sa-token-" + fmt.Sprint(time.Now().UnixNano())
	srcReg, dstReg := startRegistry(t, p, token), startRegistry(t, p, token)
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "service-ca.crt")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, p.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TokenFileEnv, tokenFile)
	t.Setenv(CAFileEnv, caFile)

	// Source: app/web:latest pushed twice (generations 1 and 2), app/web:v1, and a stale history
	// entry whose image is gone.
	gen1 := srcReg.pushImage(t, "app/web", "latest", "generation one")
	gen2 := srcReg.pushImage(t, "app/web", "latest", "generation two")
	v1d := srcReg.pushImage(t, "app/web", "v1", "version one")
	stale := digest.FromString("deleted long ago")
	refOf := func(d digest.Digest) string { return srcReg.host + "/app/web@" + d.String() }
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"spec": map[string]any{
			"lookupPolicy": map[string]any{"local": true},
			"tags": []any{
				map[string]any{"name": "v1", "from": map[string]any{"kind": "DockerImage", "name": refOf(v1d)}},
			},
		},
		"status": map[string]any{
			"dockerImageRepository": srcReg.host + "/app/web",
			"tags": []any{
				map[string]any{"tag": "latest", "items": []any{
					item(refOf(gen2), gen2.String(), 2), item(refOf(gen1), gen1.String(), 1),
				}},
				map[string]any{"tag": "v1", "items": []any{item(refOf(v1d), v1d.String(), 3), item(refOf(stale), stale.String(), 1)}},
			},
		},
	})
	is.SetLabels(map[string]string{"team": "a"})
	is.SetAnnotations(map[string]string{"note": "kept"})

	bsl := filesystemBSL(t, "default", nil)
	cluster := &fakeCluster{
		locations: map[string]*velerov1.BackupStorageLocation{"velero/default": bsl},
		backups:   map[string]string{"velero/backup-1": "default"},
	}
	logger := logrus.New()
	logger.SetOutput(&testWriter{t})

	// Backup on the source cluster.
	benv := actiontest.Env()
	benv.Log = logger
	sf := actiontest.DestinationFacts
	sf.RegistryHostname = srcReg.host
	benv.Facts = clusterfacts.Static(sf)
	b := NewBackup(benv)
	b.Enabled = func() bool { return true }
	b.Cluster = cluster
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	backedUp, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), benv, is, bk)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if a := backedUp.GetAnnotations(); a[keys.ImageCopyLocation] != "default" || a[keys.ImageCopyMissing] != stale.String() {
		t.Fatalf("backed-up annotations %v", a)
	}
	store, err := imagecopy.OpenStore(context.Background(), bsl, imagecopy.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{gen1, gen2, v1d} {
		img, _ := store.Image("app/web", d.String())
		if got, err := store.Resolve(context.Background(), img); err != nil || got != d {
			t.Errorf("store app/web@%s: %s, %v", d, got, err)
		}
	}

	// Restore on the destination cluster into namespace app2, from the item as backed up (the
	// backup action recorded the source registry on it).
	renv := actiontest.Env()
	renv.Log = logger
	df := actiontest.DestinationFacts
	df.RegistryHostname = dstReg.host
	renv.Facts = clusterfacts.Static(df)
	r := NewRestore(renv)
	r.Cluster = cluster
	r.Streams = &fakeStreams{live: map[string]*unstructured.Unstructured{}} // no API server here
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), renv, backedUp, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	for ref, want := range map[string]digest.Digest{"latest": gen2, "v1": v1d, gen1.String(): gen1, gen2.String(): gen2} {
		if got := dstReg.digestOf(t, "app2/web", ref); got != want.String() {
			t.Errorf("destination app2/web %s = %q, want %s", ref, got, want)
		}
	}
	if got := dstReg.digestOf(t, "app/web", "latest"); got != "" {
		t.Errorf("pushed into the unmapped namespace too: %s", got)
	}
	obj := out.UpdatedItem.(*unstructured.Unstructured)
	tags, _, _ := unstructured.NestedSlice(obj.Object, "spec", "tags")
	if got := tags[0].(map[string]any)["from"].(map[string]any)["name"]; got != dstReg.host+"/app2/web@"+v1d.String() {
		t.Errorf("spec.tags[0].from.name = %v", got)
	}
	if obj.GetLabels()["team"] != "a" || obj.GetAnnotations()["note"] != "kept" || obj.GetAnnotations()[keys.ImageCopyLocation] != "" {
		t.Errorf("labels %v annotations %v", obj.GetLabels(), obj.GetAnnotations())
	}
	if lp, _, _ := unstructured.NestedMap(obj.Object, "spec", "lookupPolicy"); lp["local"] != true {
		t.Errorf("lookupPolicy %v", lp)
	}
}

// TestBackupWrongTokenIsAnError: a token the registry refuses fails the item with an error
// naming the registry, the location and the image; the token itself is never in it.
func TestBackupWrongTokenIsAnError(t *testing.T) {
	p := newPKI(t)
	srcReg := startRegistry(t, p, "the-right-token")
	d := srcReg.pushImage(t, "app/web", "latest", "content")
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca")
	_ = os.WriteFile(tokenFile, []byte("a-wrong-token"), 0o600)
	_ = os.WriteFile(caFile, p.caPEM, 0o600)
	t.Setenv(TokenFileEnv, tokenFile)
	t.Setenv(CAFileEnv, caFile)
	env := actiontest.Env()
	sf := actiontest.DestinationFacts
	sf.RegistryHostname = srcReg.host
	env.Facts = clusterfacts.Static(sf)
	b := NewBackup(env)
	b.Enabled = func() bool { return true }
	b.Cluster = &fakeCluster{locations: map[string]*velerov1.BackupStorageLocation{"velero/default": filesystemBSL(t, "default", nil)}}
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"status": map[string]any{
		"tags": []any{map[string]any{"tag": "latest", "items": []any{item(srcReg.host+"/app/web@"+d.String(), d.String(), 1)}}},
	}})
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	_, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, is, bk)
	t.Logf("wrong token: %v", err)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"registry " + srcReg.host, "backup storage location velero/default", "tag latest image " + d.String()} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q", s)
		}
	}
	if strings.Contains(err.Error(), "a-wrong-token") {
		t.Error("token in the error")
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

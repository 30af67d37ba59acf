//go:build e2e

package e2e

// The tests' own access to a cluster's registry (the stack's stand-in for OpenShift's internal
// registry): the Docker registry HTTP API over HTTPS, trusting only that cluster's registry CA,
// with the tests' basic-auth credentials. Images are built here from image-spec types: small
// random gzip'd tar layers, a config, and a Docker schema 2 or OCI manifest.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker schema 2 media types (what most images in an OpenShift registry are).
const (
	dockerManifestType = "application/vnd.docker.distribution.manifest.v2+json"
	dockerConfigType   = "application/vnd.docker.container.image.v1+json"
	dockerLayerType    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// manifestAccept is every single-image and index media type, for GET manifest.
var manifestAccept = strings.Join([]string{dockerManifestType, v1.MediaTypeImageManifest,
	"application/vnd.docker.distribution.manifest.list.v2+json", v1.MediaTypeImageIndex}, ", ")

// registryClient talks to one cluster's registry.
type registryClient struct {
	host           string
	user, password string
	http           *http.Client
}

// registry returns a client for c's registry. It trusts c's registry CA only (no system roots,
// no skipped verification).
func (c *Cluster) registry(t testing.TB) *registryClient {
	t.Helper()
	ca, err := os.ReadFile(c.RegistryCA)
	if err != nil {
		t.Fatalf("%s: registry CA: %v", c, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s: %s holds no PEM certificate", c, c.RegistryCA)
	}
	cred, err := os.ReadFile(c.RegistryCredentials)
	if err != nil {
		t.Fatalf("%s: registry credentials: %v", c, err)
	}
	user, password, ok := strings.Cut(strings.TrimSpace(string(cred)), ":")
	if !ok {
		t.Fatalf("%s: %s is not user:password", c, c.RegistryCredentials)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &registryClient{host: c.Registry, user: user, password: password,
		http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

func (r *registryClient) do(method, u, contentType string, body []byte, accept string) (*http.Response, []byte, error) {
	if !strings.HasPrefix(u, "https://") {
		u = "https://" + r.host + u
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(r.user, r.password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// pushBlob uploads a blob (monolithic upload) unless the repository has it.
func (r *registryClient) pushBlob(repo string, b []byte) error {
	d := digest.FromBytes(b)
	if ok, err := r.hasBlob(repo, d); err != nil || ok {
		return err
	}
	resp, _, err := r.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil, "")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("registry %s: starting an upload to %s: %s", r.host, repo, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("registry %s: upload location: %w", r.host, err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, raw, err := r.do(http.MethodPut, loc.String(), "application/octet-stream", b, "")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("registry %s: uploading blob %s to %s: %s %s", r.host, d, repo, resp.Status, raw)
	}
	return nil
}

// hasBlob reports whether the repository serves the blob.
func (r *registryClient) hasBlob(repo string, d digest.Digest) (bool, error) {
	resp, _, err := r.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), "", nil, "")
	if err != nil {
		return false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("registry %s: HEAD blob %s in %s: %s", r.host, d, repo, resp.Status)
}

// manifest fetches repo's manifest by tag or digest. found is false on 404; the digest is the
// one the registry reports (Docker-Content-Digest), checked against the bytes served.
func (r *registryClient) manifest(repo, ref string) (raw []byte, mediaType string, d digest.Digest, found bool, err error) {
	resp, raw, err := r.do(http.MethodGet, "/v2/"+repo+"/manifests/"+url.PathEscape(ref), "", nil, manifestAccept)
	if err != nil {
		return nil, "", "", false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, "", "", false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", "", false, fmt.Errorf("registry %s: GET manifest %s:%s: %s", r.host, repo, ref, resp.Status)
	}
	d = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
	if got := digest.FromBytes(raw); d != got {
		return nil, "", "", false, fmt.Errorf("registry %s: manifest %s:%s: Docker-Content-Digest %s, but the bytes served hash to %s", r.host, repo, ref, d, got)
	}
	return raw, resp.Header.Get("Content-Type"), d, true, nil
}

// push uploads an image's blobs and its manifest under each tag (or only by digest with none).
func (r *registryClient) push(t testing.TB, repo string, img *testImage, tags ...string) {
	t.Helper()
	for _, b := range append([][]byte{img.config}, img.layerData()...) {
		if err := r.pushBlob(repo, b); err != nil {
			t.Fatal(err)
		}
	}
	refs := tags
	if len(refs) == 0 {
		refs = []string{img.digest.String()}
	}
	for _, ref := range refs {
		resp, raw, err := r.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, img.mediaType, img.manifest, "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("registry %s: PUT manifest %s:%s: %s %s", r.host, repo, ref, resp.Status, raw)
		}
		if got := digest.Digest(resp.Header.Get("Docker-Content-Digest")); got != img.digest {
			t.Fatalf("registry %s: PUT manifest %s:%s stored digest %s, want %s", r.host, repo, ref, got, img.digest)
		}
	}
}

// ---------------------------------------------------------------- test images

type testLayer struct {
	data   []byte        // gzip'd tar
	digest digest.Digest // of data
	diffID digest.Digest // of the tar
}

// newLayer is a gzip'd tar holding one file of size random bytes (unique to this run).
func newLayer(t testing.TB, name string, size int) testLayer {
	t.Helper()
	content := make([]byte, size)
	if _, err := crand.Read(content); err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(content)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(tarBuf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return testLayer{data: gz.Bytes(), digest: digest.FromBytes(gz.Bytes()), diffID: digest.FromBytes(tarBuf.Bytes())}
}

type testImage struct {
	mediaType string
	manifest  []byte
	digest    digest.Digest
	config    []byte
	layers    []testLayer
}

func (img *testImage) layerData() [][]byte {
	out := make([][]byte, 0, len(img.layers))
	for _, l := range img.layers {
		out = append(out, l.data)
	}
	return out
}

// blobs are the digests of the image's config and layers.
func (img *testImage) blobs() []digest.Digest {
	out := []digest.Digest{digest.FromBytes(img.config)}
	for _, l := range img.layers {
		out = append(out, l.digest)
	}
	return out
}

// newImage builds a single-platform image: Docker schema 2 (docker) or OCI.
func newImage(t testing.TB, docker bool, cmd string, layers ...testLayer) *testImage {
	t.Helper()
	diffIDs := make([]digest.Digest, 0, len(layers))
	descs := make([]v1.Descriptor, 0, len(layers))
	layerType, configType, manifestType := v1.MediaTypeImageLayerGzip, v1.MediaTypeImageConfig, v1.MediaTypeImageManifest
	if docker {
		layerType, configType, manifestType = dockerLayerType, dockerConfigType, dockerManifestType
	}
	for _, l := range layers {
		diffIDs = append(diffIDs, l.diffID)
		descs = append(descs, v1.Descriptor{MediaType: layerType, Digest: l.digest, Size: int64(len(l.data))})
	}
	created := time.Now().UTC().Truncate(time.Second)
	config, err := json.Marshal(v1.Image{
		Created:  &created,
		Platform: v1.Platform{Architecture: "amd64", OS: "linux"},
		Config:   v1.ImageConfig{Cmd: []string{cmd}},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: manifestType,
		Config: v1.Descriptor{MediaType: configType, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers: descs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testImage{mediaType: manifestType, manifest: manifest, digest: digest.FromBytes(manifest), config: config, layers: layers}
}

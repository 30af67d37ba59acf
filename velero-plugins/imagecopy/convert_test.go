//go:build integration

package imagecopy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/manifest"

	"github.com/velero-openshift/plugins/test/testimage"
)

// schema1Registry serves one Docker schema 1 image (the format OpenShift 3.x registries still
// hold, which distribution v3 no longer stores) read-only over TLS: the registry API subset a
// pull uses. No registry software available here can still serve schema 1.
func schema1Registry(t *testing.T, repo string) (host string, manifestDigest digest.Digest, layerDiffID digest.Digest) {
	t.Helper()
	layer, diffID := testimage.LayerBlob(t, testimage.Layer{Seed: 71, Size: 64 << 10})
	var layerBytes bytes.Buffer
	rc := layer.Open()
	if _, err := io.Copy(&layerBytes, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	v1c := map[string]any{
		"id": strings.Repeat("ab", 32), "created": "2020-01-02T03:04:05Z", "os": "linux", "architecture": "amd64",
		"config":           map[string]any{"Cmd": []string{"/app"}, "Env": []string{"A=b"}},
		"container_config": map[string]any{"Cmd": []string{"/bin/sh", "-c", "#(nop) ADD file in /"}},
	}
	raw := testimage.MustJSON(t, map[string]any{
		"schemaVersion": 1, "name": repo, "tag": "v1", "architecture": "amd64",
		"fsLayers": []map[string]string{{"blobSum": layer.Digest.String()}},
		"history":  []map[string]string{{"v1Compatibility": string(testimage.MustJSON(t, v1c))}},
	})
	md := digest.FromBytes(raw)
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/v2/")
		switch {
		case p == "":
			w.WriteHeader(http.StatusOK)
		case p == repo+"/manifests/"+md.String() || p == repo+"/manifests/v1":
			w.Header().Set("Content-Type", manifest.DockerV2Schema1MediaType)
			w.Header().Set("Docker-Content-Digest", md.String())
			w.Header().Set("Content-Length", fmt.Sprint(len(raw)))
			if r.Method != http.MethodHead {
				_, _ = w.Write(raw)
			}
		case p == repo+"/blobs/"+layer.Digest.String():
			w.Header().Set("Content-Length", fmt.Sprint(layerBytes.Len()))
			if r.Method != http.MethodHead {
				_, _ = w.Write(layerBytes.Bytes())
			}
		default:
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{loopbackPKI(t).Cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), md, diffID
}

// TestSchema1IsStoredConverted: a manifest the store cannot keep as it is gets stored converted
// under a new digest, reported as such; nothing is written under the source digest.
func TestSchema1IsStoredConverted(t *testing.T) {
	ctx := context.Background()
	host, srcDigest, diffID := schema1Registry(t, "legacy/app")
	reg, err := NewRegistry(RegistryOptions{Host: host, Token: "t", CA: loopbackPKI(t).CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	store := filesystemStore(t, t.TempDir())
	src, _ := reg.Image("legacy/app", srcDigest.String())
	dst, _ := store.Image("legacy/app", srcDigest.String())
	res, err := (&Copier{Attempts: 1}).Copy(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converted || res.Digest == srcDigest || res.Digest == "" {
		t.Fatalf("converted %v, digest %s (source %s): want a conversion to a new digest", res.Converted, res.Digest, srcDigest)
	}
	stored, err := store.Image("legacy/app", res.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := store.Resolve(ctx, stored); err != nil || got != res.Digest {
		t.Fatalf("store has %s, %v; want the converted %s", got, err, res.Digest)
	}
	if _, err := store.Resolve(ctx, dst); err == nil {
		t.Errorf("the store has an image under the source digest %s", srcDigest)
	}
	// The converted image is complete: it copies out of the store into a real registry, and its
	// config names the layer by the diff ID computed from the layer's content.
	target := startRegistry(t, "tok")
	out, _ := endpoint(t, target).Image("legacy/app", "v1")
	res2, err := (&Copier{Attempts: 1}).Copy(ctx, stored, out)
	if err != nil || res2.Digest != res.Digest || res2.Converted {
		t.Fatalf("store -> registry: digest %s converted %v err %v; want %s unchanged", res2.Digest, res2.Converted, err, res.Digest)
	}
	got, _, err := target.Client.Manifest("legacy/app", res.Digest.String())
	if err != nil || got.Digest != res.Digest {
		t.Fatalf("registry manifest %s: digest %s, %v", res.Digest, got.Digest, err)
	}
	raw := got.Raw
	var m struct {
		SchemaVersion int                            `json:"schemaVersion"`
		Config        struct{ Digest digest.Digest } `json:"config"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.SchemaVersion != 2 || m.Config.Digest == "" {
		t.Fatalf("converted manifest is not schema 2 with a config (%v): %s", err, raw)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+target.Host+"/v2/legacy/app/blobs/"+m.Config.Digest.String(), nil)
	resp, err := target.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cfg, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("config blob: %s, %v", resp.Status, err)
	}
	if !bytes.Contains(cfg, []byte(diffID.String())) {
		t.Errorf("converted config does not name the layer's diff ID %s: %s", diffID, cfg)
	}
}

//go:build integration

package imagecopy

// Test images built in Go from image-spec types: random tar+gzip layers (streamed, never held
// whole in memory, so a large image does not inflate the test's own RSS), a config, an OCI
// manifest, and an OCI index for multi-platform images.

import (
	"archive/tar"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

type blob struct {
	digest    digest.Digest
	size      int64
	mediaType string
	open      func() io.ReadCloser
}

type manifestBlob struct {
	mediaType string
	raw       []byte
	digest    digest.Digest
}

type testImage struct {
	manifestBlob
	blobs    []blob         // configs and layers, each once
	children []manifestBlob // the instances of an index
	layers   []digest.Digest
}

type layerSpec struct {
	seed uint64
	size int64 // bytes of file content in the layer
}

// writeLayer writes a gzip'd tar holding one file of size pseudo-random bytes derived from seed
// and returns the tar's digest (the diff ID). gzip stores without compressing: random data does
// not compress, and this keeps generation fast.
func writeLayer(w io.Writer, l layerSpec) (digest.Digest, error) {
	gz, _ := gzip.NewWriterLevel(w, gzip.NoCompression)
	diff := digest.Canonical.Digester()
	tw := tar.NewWriter(io.MultiWriter(gz, diff.Hash()))
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%d", l.seed), Mode: 0o644, Size: l.size, Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], l.seed)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for left := l.size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		_, _ = src.Read(buf[:n])
		if _, err := tw.Write(buf[:n]); err != nil {
			return "", err
		}
		left -= n
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return diff.Digest(), gz.Close()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// layerBlob computes a layer's digest and size by generating it once; open generates it again.
func layerBlob(t testing.TB, l layerSpec) (blob, digest.Digest) {
	t.Helper()
	d := digest.Canonical.Digester()
	var c countWriter
	diffID, err := writeLayer(io.MultiWriter(d.Hash(), &c), l)
	if err != nil {
		t.Fatal(err)
	}
	return blob{
		digest: d.Digest(), size: c.n, mediaType: v1.MediaTypeImageLayerGzip,
		open: func() io.ReadCloser {
			pr, pw := io.Pipe()
			go func() {
				_, err := writeLayer(pw, l)
				pw.CloseWithError(err)
			}()
			return pr
		},
	}, diffID
}

func bytesBlob(mediaType string, b []byte) blob {
	return blob{digest: digest.FromBytes(b), size: int64(len(b)), mediaType: mediaType,
		open: func() io.ReadCloser { return io.NopCloser(bytesReader(b)) }}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Docker schema 2 media types (what most images in an OpenShift registry are).
const (
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// makeImage builds a single-platform OCI image from layers.
func makeImage(t testing.TB, arch string, layers ...layerSpec) *testImage {
	t.Helper()
	return buildImage(t, false, arch, layers...)
}

// makeDockerImage builds a single-platform Docker schema 2 image from layers.
func makeDockerImage(t testing.TB, arch string, layers ...layerSpec) *testImage {
	t.Helper()
	return buildImage(t, true, arch, layers...)
}

func buildImage(t testing.TB, docker bool, arch string, layers ...layerSpec) *testImage {
	t.Helper()
	img := &testImage{}
	var descs []v1.Descriptor
	var diffIDs []digest.Digest
	for _, l := range layers {
		b, diffID := layerBlob(t, l)
		if docker {
			b.mediaType = dockerLayer
		}
		img.blobs = append(img.blobs, b)
		img.layers = append(img.layers, b.digest)
		descs = append(descs, v1.Descriptor{MediaType: b.mediaType, Digest: b.digest, Size: b.size})
		diffIDs = append(diffIDs, diffID)
	}
	cfg := v1.Image{
		Platform: v1.Platform{Architecture: arch, OS: "linux"},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		Config:   v1.ImageConfig{Cmd: []string{"/bin/true"}},
	}
	cfgType, mType := v1.MediaTypeImageConfig, v1.MediaTypeImageManifest
	if docker {
		cfgType, mType = dockerConfig, dockerManifest
	}
	cb := bytesBlob(cfgType, mustJSON(t, cfg))
	img.blobs = append([]blob{cb}, img.blobs...)
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mType,
		Config: v1.Descriptor{MediaType: cb.mediaType, Digest: cb.digest, Size: cb.size},
		Layers: descs,
	}
	raw := mustJSON(t, m)
	img.manifestBlob = manifestBlob{mediaType: mType, raw: raw, digest: digest.FromBytes(raw)}
	return img
}

// makeIndex builds an OCI index over single-platform images.
func makeIndex(t testing.TB, images ...*testImage) *testImage {
	t.Helper()
	idx := &testImage{}
	seen := map[digest.Digest]bool{}
	var descs []v1.Descriptor
	for _, im := range images {
		var cfg v1.Image
		var m v1.Manifest
		if err := json.Unmarshal(im.raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, b := range im.blobs {
			if b.digest == m.Config.Digest {
				raw, _ := io.ReadAll(b.open())
				_ = json.Unmarshal(raw, &cfg)
			}
			if !seen[b.digest] {
				seen[b.digest] = true
				idx.blobs = append(idx.blobs, b)
			}
		}
		idx.layers = append(idx.layers, im.layers...)
		idx.children = append(idx.children, im.manifestBlob)
		descs = append(descs, v1.Descriptor{
			MediaType: im.mediaType, Digest: im.digest, Size: int64(len(im.raw)),
			Platform: &v1.Platform{Architecture: cfg.Architecture, OS: cfg.OS},
		})
	}
	mType := v1.MediaTypeImageIndex
	if images[0].mediaType == dockerManifest {
		mType = dockerList
	}
	raw := mustJSON(t, v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mType, Manifests: descs})
	idx.manifestBlob = manifestBlob{mediaType: mType, raw: raw, digest: digest.FromBytes(raw)}
	return idx
}

// totalSize is the bytes of all blobs of an image.
func (img *testImage) totalSize() int64 {
	var n int64
	for _, b := range img.blobs {
		n += b.size
	}
	return n
}

// Package testimage builds container images for tests from image-spec types and pushes them to
// a registry over the Docker registry HTTP API. Layers are pseudo-random data generated from a
// seed and streamed, never held whole in memory, so a gigabyte image does not inflate the
// test's own memory (the image copy benchmarks measure peak RSS).
package testimage

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

// Docker schema 2 media types (what most images in an OpenShift registry are).
const (
	DockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	DockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	DockerConfig   = "application/vnd.docker.container.image.v1+json"
	DockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// Layer is a gzip'd tar holding one file of Size pseudo-random bytes derived from Seed: the same
// Seed and Size always give the same blob, different seeds different blobs.
type Layer struct {
	Seed uint64
	Size int64
}

// Blob is a config or layer: its descriptor and a way to read its bytes (again and again).
type Blob struct {
	Digest    digest.Digest
	Size      int64
	MediaType string
	Open      func() io.ReadCloser
}

// Manifest is a manifest or index as pushed: media type, bytes and their digest.
type Manifest struct {
	MediaType string
	Raw       []byte
	Digest    digest.Digest
}

// Image is a single-platform image or an index over several.
type Image struct {
	Manifest
	Blobs    []Blob          // configs and layers, each once
	Children []Manifest      // the instances of an index
	Layers   []digest.Digest // layer digests, in manifest order (of every instance, for an index)
}

// Spec says what kind of single-platform image New builds.
type Spec struct {
	Docker bool   // Docker schema 2 media types; OCI otherwise
	Arch   string // default amd64
	Cmd    string // the config's command; images differing only in Cmd have different digests
}

// writeLayer writes l as a gzip'd tar and returns the tar's digest (the diff ID). gzip stores
// without compressing: random data does not compress, and this keeps generation fast.
func writeLayer(w io.Writer, l Layer) (digest.Digest, error) {
	gz, _ := gzip.NewWriterLevel(w, gzip.NoCompression)
	diff := digest.Canonical.Digester()
	tw := tar.NewWriter(io.MultiWriter(gz, diff.Hash()))
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data-%d", l.Seed), Mode: 0o644, Size: l.Size, Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], l.Seed)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for left := l.Size; left > 0; {
		n := min(int64(len(buf)), left)
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

// LayerBlob computes a layer's digest, size and diff ID by generating it once; Open generates
// it again.
func LayerBlob(t testing.TB, l Layer) (Blob, digest.Digest) {
	t.Helper()
	d := digest.Canonical.Digester()
	var c countWriter
	diffID, err := writeLayer(io.MultiWriter(d.Hash(), &c), l)
	if err != nil {
		t.Fatal(err)
	}
	return Blob{
		Digest: d.Digest(), Size: c.n, MediaType: v1.MediaTypeImageLayerGzip,
		Open: func() io.ReadCloser {
			pr, pw := io.Pipe()
			go func() {
				_, err := writeLayer(pw, l)
				pw.CloseWithError(err)
			}()
			return pr
		},
	}, diffID
}

// BytesBlob is a blob of the given bytes.
func BytesBlob(mediaType string, b []byte) Blob {
	return Blob{Digest: digest.FromBytes(b), Size: int64(len(b)), MediaType: mediaType,
		Open: func() io.ReadCloser { return io.NopCloser(&sliceReader{b: b}) }}
}

// sliceReader is a plain io.Reader over a byte slice: no WriterTo or Seek, so whatever reads a
// small blob treats it as the same kind of stream as a generated layer.
type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// MustJSON marshals v or fails the test.
func MustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// New builds a single-platform image from layers.
func New(t testing.TB, spec Spec, layers ...Layer) *Image {
	t.Helper()
	if spec.Arch == "" {
		spec.Arch = "amd64"
	}
	img := &Image{}
	var descs []v1.Descriptor
	var diffIDs []digest.Digest
	for _, l := range layers {
		b, diffID := LayerBlob(t, l)
		if spec.Docker {
			b.MediaType = DockerLayer
		}
		img.Blobs = append(img.Blobs, b)
		img.Layers = append(img.Layers, b.Digest)
		descs = append(descs, v1.Descriptor{MediaType: b.MediaType, Digest: b.Digest, Size: b.Size})
		diffIDs = append(diffIDs, diffID)
	}
	cmd := spec.Cmd
	if cmd == "" {
		cmd = "/bin/true"
	}
	cfg := v1.Image{
		Platform: v1.Platform{Architecture: spec.Arch, OS: "linux"},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		Config:   v1.ImageConfig{Cmd: []string{cmd}},
	}
	cfgType, mType := v1.MediaTypeImageConfig, v1.MediaTypeImageManifest
	if spec.Docker {
		cfgType, mType = DockerConfig, DockerManifest
	}
	cb := BytesBlob(cfgType, MustJSON(t, cfg))
	img.Blobs = append([]Blob{cb}, img.Blobs...)
	raw := MustJSON(t, v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mType,
		Config: v1.Descriptor{MediaType: cb.MediaType, Digest: cb.Digest, Size: cb.Size},
		Layers: descs,
	})
	img.Manifest = Manifest{MediaType: mType, Raw: raw, Digest: digest.FromBytes(raw)}
	return img
}

// Index builds an index over single-platform images: an OCI index, or a Docker manifest list
// when the first image is Docker schema 2.
func Index(t testing.TB, images ...*Image) *Image {
	t.Helper()
	idx := &Image{}
	seen := map[digest.Digest]bool{}
	var descs []v1.Descriptor
	for _, im := range images {
		var cfg v1.Image
		var m v1.Manifest
		if err := json.Unmarshal(im.Raw, &m); err != nil {
			t.Fatal(err)
		}
		for _, b := range im.Blobs {
			if b.Digest == m.Config.Digest {
				raw, _ := io.ReadAll(b.Open())
				_ = json.Unmarshal(raw, &cfg)
			}
			if !seen[b.Digest] {
				seen[b.Digest] = true
				idx.Blobs = append(idx.Blobs, b)
			}
		}
		idx.Layers = append(idx.Layers, im.Layers...)
		idx.Children = append(idx.Children, im.Manifest)
		descs = append(descs, v1.Descriptor{
			MediaType: im.MediaType, Digest: im.Digest, Size: int64(len(im.Raw)),
			Platform: &v1.Platform{Architecture: cfg.Architecture, OS: cfg.OS},
		})
	}
	mType := v1.MediaTypeImageIndex
	if images[0].MediaType == DockerManifest {
		mType = DockerList
	}
	raw := MustJSON(t, v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mType, Manifests: descs})
	idx.Manifest = Manifest{MediaType: mType, Raw: raw, Digest: digest.FromBytes(raw)}
	return idx
}

// TotalSize is the bytes of all blobs of an image.
func (img *Image) TotalSize() int64 {
	var n int64
	for _, b := range img.Blobs {
		n += b.Size
	}
	return n
}

// BlobDigests are the digests of the image's configs and layers.
func (img *Image) BlobDigests() []digest.Digest {
	out := make([]digest.Digest, 0, len(img.Blobs))
	for _, b := range img.Blobs {
		out = append(out, b.Digest)
	}
	return out
}

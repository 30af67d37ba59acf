package testimage

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The integration and end-to-end tests rely on these properties: same layers, same image; a
// different seed or command, a different image; blobs that read back as their digest says.
func TestImages(t *testing.T) {
	a := New(t, Spec{}, Layer{Seed: 1, Size: 1000}, Layer{Seed: 2, Size: 3 << 20})
	tests := []struct {
		name      string
		img       *Image
		sameAsA   bool
		mediaType string
	}{
		{"same layers and spec", New(t, Spec{}, Layer{Seed: 1, Size: 1000}, Layer{Seed: 2, Size: 3 << 20}), true, v1.MediaTypeImageManifest},
		{"other seed", New(t, Spec{}, Layer{Seed: 1, Size: 1000}, Layer{Seed: 3, Size: 3 << 20}), false, v1.MediaTypeImageManifest},
		{"other command", New(t, Spec{Cmd: "/app"}, Layer{Seed: 1, Size: 1000}, Layer{Seed: 2, Size: 3 << 20}), false, v1.MediaTypeImageManifest},
		{"docker", New(t, Spec{Docker: true}, Layer{Seed: 1, Size: 1000}), false, DockerManifest},
		{"oci index", Index(t, a, New(t, Spec{Arch: "arm64"}, Layer{Seed: 1, Size: 1000})), false, v1.MediaTypeImageIndex},
		{"docker list", Index(t, New(t, Spec{Docker: true}, Layer{Seed: 4, Size: 10})), false, DockerList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.img.Digest == a.Digest; got != tc.sameAsA {
				t.Errorf("same digest as the first image: %v, want %v", got, tc.sameAsA)
			}
			if tc.img.MediaType != tc.mediaType || tc.img.Digest != digest.FromBytes(tc.img.Raw) {
				t.Errorf("manifest %s %s does not match its bytes or media type %s", tc.img.MediaType, tc.img.Digest, tc.mediaType)
			}
			var m struct{ MediaType string }
			if err := json.Unmarshal(tc.img.Raw, &m); err != nil || m.MediaType != tc.mediaType {
				t.Errorf("manifest mediaType %q (%v)", m.MediaType, err)
			}
			for _, b := range tc.img.Blobs {
				for range 2 { // readable again and again
					d := digest.Canonical.Digester()
					n, err := io.Copy(d.Hash(), b.Open())
					if err != nil || n != b.Size || d.Digest() != b.Digest {
						t.Errorf("blob %s (%d bytes) reads back as %s (%d bytes, %v)", b.Digest, b.Size, d.Digest(), n, err)
					}
				}
			}
		})
	}
}

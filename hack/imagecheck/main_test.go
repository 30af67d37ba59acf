package main

import (
	"io"
	"strings"
	"testing"
)

func TestPlatformsWantsExactlyTheListedPlatforms(t *testing.T) {
	four := []string{"linux/amd64", "linux/arm64", "linux/ppc64le", "linux/s390x"}
	entry := func(arch string) string {
		return `{"digest":"sha256:` + arch + `","platform":{"os":"linux","architecture":"` + arch + `"}}`
	}
	list := func(entries ...string) string { return `{"manifests":[` + strings.Join(entries, ",") + `]}` }
	for _, tc := range []struct {
		name, index string
		err         string // "" when it must pass
	}{
		{"all four, any order", list(entry("s390x"), entry("amd64"), entry("ppc64le"), entry("arm64")), ""},
		{"one missing", list(entry("amd64"), entry("arm64"), entry("ppc64le")), "want [linux/amd64 linux/arm64 linux/ppc64le linux/s390x]"},
		{"one extra", list(entry("amd64"), entry("arm64"), entry("ppc64le"), entry("s390x"), entry("riscv64")), "linux/riscv64"},
		{"listed twice", list(entry("amd64"), entry("amd64"), entry("ppc64le"), entry("s390x")), "linux/amd64 listed twice"},
		{"no platform", `{"manifests":[{"digest":"sha256:x"}]}`, "names no platform"},
		{"a single image, not a list", `{"config":{},"layers":[]}`, "names []"},
		{"not JSON", `FROM scratch`, "reading the manifest list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := platforms(strings.NewReader(tc.index), io.Discard, four)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && err == nil:
				t.Fatalf("passed, want an error saying %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("error %q does not say %q", err, tc.err)
			}
		})
	}
}

//go:build integration

package imagecopy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/velero-openshift/plugins/test/testregistry"
)

// TestRegistryToRegistry: images copy from an internal registry (TLS, token) into a registry
// deployed as MTC deploys its migration registry (anonymous, plain HTTP) and from there into
// another internal registry, digests preserved, every blob and instance present; a TLS
// registry opened the same way is used over verified TLS, and refused when its certificate does
// not verify.
func TestRegistryToRegistry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := &Copier{Attempts: 2, Backoff: 10 * time.Millisecond}
	plain := testregistry.StartWith(t, testregistry.Options{})
	migration, err := NewRegistry(RegistryOptions{Host: plain.Host, AllowPlainHTTP: true, DropSignatures: true})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := endpoint(t, f.src), endpoint(t, f.dst)
	var toMigration, fromMigration []Job
	for _, repo := range f.repos {
		ref := f.ref(repo)
		s, _ := src.Image(repo, ref)
		m, _ := migration.Image(repo, f.images[repo].Digest.String()) // by digest, as the backup copies
		toMigration = append(toMigration, Job{Src: s, Dst: m})
		m2, _ := migration.Image(repo, f.images[repo].Digest.String())
		d, _ := dst.Image("restored-"+repo, "v1")
		fromMigration = append(fromMigration, Job{Src: m2, Dst: d})
	}
	for _, r := range c.CopyAll(ctx, toMigration) {
		if r.Err != nil {
			t.Fatalf("into the migration registry: %v", r.Err)
		}
	}
	if !migration.PlainHTTP() {
		t.Error("the plain HTTP registry is not used over plain HTTP")
	}
	for _, r := range c.CopyAll(ctx, fromMigration) {
		if r.Err != nil {
			t.Fatalf("out of the migration registry: %v", r.Err)
		}
	}
	f.checkRestored(t, f.dst)

	// The same kind of registry serving TLS: verified against the CA given.
	secure := testregistry.StartWith(t, testregistry.Options{PKI: loopbackPKI(t).PKI})
	img := f.images[f.repos[0]]
	s, _ := src.Image(f.repos[0], f.ref(f.repos[0]))
	for _, tc := range []struct {
		name string
		ca   []byte
		ok   bool
	}{{"CA configured", loopbackPKI(t).CAPEM, true}, {"CA not configured", nil, false}} {
		reg, err := NewRegistry(RegistryOptions{Host: secure.Host, CA: tc.ca, AllowPlainHTTP: true, VerifyHint: "configure THE CA"})
		if err != nil {
			t.Fatal(err)
		}
		d, _ := reg.Image(f.repos[0], img.Digest.String())
		res, err := c.Copy(ctx, s, d)
		t.Logf("%s: %v", tc.name, err)
		switch {
		case tc.ok && (err != nil || res.Digest != img.Digest || reg.PlainHTTP()):
			t.Errorf("%s: digest %s, plain %v, %v", tc.name, res.Digest, reg.PlainHTTP(), err)
		case !tc.ok && (err == nil || res.Attempts != 1 || !strings.Contains(err.Error(), "configure THE CA")):
			t.Errorf("%s: attempts %d, %v", tc.name, res.Attempts, err)
		}
	}
}

//go:build e2e

package e2e

// The tests' own access to a cluster's registry (the stack's stand-in for OpenShift's internal
// registry): the Docker registry HTTP API over HTTPS, trusting only that cluster's registry CA,
// with the tests' basic-auth credentials. Images are built by test/testimage.

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/velero-openshift/plugins/test/testimage"
)

// registry returns a client for c's registry. It trusts c's registry CA only (no system roots,
// no skipped verification).
func (c *Cluster) registry(t testing.TB) *testimage.Client {
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
	return &testimage.Client{Host: c.Registry, HTTP: &http.Client{Transport: tr, Timeout: time.Minute},
		Authorize: testimage.BasicAuth(user, password)}
}

// randomLayer is a layer of size bytes unique to this run: the registries keep what earlier runs
// pushed, and a test must not pass on their blobs.
func randomLayer(size int64) testimage.Layer {
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	return testimage.Layer{Seed: binary.LittleEndian.Uint64(seed[:]), Size: size}
}

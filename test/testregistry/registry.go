// Package testregistry runs a real distribution registry inside a test process, over HTTPS,
// wanting a bearer token the way OpenShift's internal registry does: the source and destination
// of the image copy engine's and the ImageStream actions' integration tests.
package testregistry

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testpki"
)

// Registry is a running registry; it stops when the test ends.
type Registry struct {
	Host  string // 127.0.0.1:port
	Token string // the bearer token it accepts
	Dir   string // its filesystem storage root
	// Client pushes and reads with the token, trusting the registry's CA.
	Client *testimage.Client
}

// Start runs a registry serving the PKI's certificate and accepting only "Bearer <token>"; other
// requests get a 401 with a bearer challenge.
func Start(t testing.TB, p *testpki.PKI, token string) *Registry {
	t.Helper()
	dir := t.TempDir()
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": dir},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	cfg.HTTP.Secret = "test-registry-secret"
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
	srv.TLS = p.ServerTLS()
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // TLS handshake noise from refused clients
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		_ = app.Shutdown()
	})
	host := strings.TrimPrefix(srv.URL, "https://")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = p.ClientTLS()
	return &Registry{Host: host, Token: token, Dir: dir,
		Client: &testimage.Client{Host: host, HTTP: &http.Client{Transport: tr}, Authorize: testimage.BearerAuth(token)}}
}

// Push uploads img under tags (see testimage.Client.Push) and fails the test on error.
func (r *Registry) Push(t testing.TB, repo string, img *testimage.Image, tags ...string) {
	t.Helper()
	if err := r.Client.Push(repo, img, tags...); err != nil {
		t.Fatal(err)
	}
}

// Package testregistry runs a real distribution registry inside a test process: over HTTPS,
// wanting a bearer token the way OpenShift's internal registry does (the source and destination
// of the image copy engine's and the ImageStream actions' integration tests), or anonymous over
// plain HTTP (or TLS) the way MTC deploys its migration registry.
package testregistry

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"

	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testpki"
)

// Registry is a running registry; it stops when the test ends (or at Stop).
type Registry struct {
	Host  string // 127.0.0.1:port
	Token string // the bearer token it accepts; "" when anonymous
	Dir   string // its filesystem storage root
	// Client pushes and reads with the token, trusting the registry's CA (or over plain HTTP).
	Client *testimage.Client

	stop func()
}

// Options of StartWith.
type Options struct {
	// PKI's serving certificate is served over TLS; nil serves plain HTTP.
	PKI *testpki.PKI
	// Token is the only bearer token accepted ("Bearer <token>"; other requests get a 401 with a
	// bearer challenge); "" serves everyone, anonymously.
	Token string
	// Dir is the storage root; "" is a fresh temporary directory. Registries started over one
	// Dir serve the same content: one registry reached under two addresses (MTC's migration
	// registry as the source and as the destination cluster reach it, over one bucket).
	Dir string
	// Wrap, when set, wraps the registry's handler (token check included): a test's faults in
	// front of a real registry (failed or stalled requests).
	Wrap func(http.Handler) http.Handler
}

// Start runs a registry serving the PKI's certificate and accepting only "Bearer <token>"; other
// requests get a 401 with a bearer challenge.
func Start(t testing.TB, p *testpki.PKI, token string) *Registry {
	t.Helper()
	return StartWith(t, Options{PKI: p, Token: token})
}

// StartWith runs a registry as o says.
func StartWith(t testing.TB, o Options) *Registry {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := &configuration.Configuration{Storage: configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": dir},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}}
	cfg.HTTP.Secret = "test-registry-secret"
	// Upload locations relative to the request, so the test client's https URLs (sent over
	// plain HTTP by plainHTTP) resolve them.
	cfg.HTTP.RelativeURLs = o.PKI == nil
	cfg.Log.Level = "error"
	app := handlers.NewApp(context.Background(), cfg)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Token != "" && r.Header.Get("Authorization") != "Bearer "+o.Token {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="https://%s/openshift/token"`, r.Host))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		app.ServeHTTP(w, r)
	})
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // TLS handshake noise from refused clients
	tr := http.DefaultTransport.(*http.Transport).Clone()
	var rt http.RoundTripper = tr
	if o.PKI != nil {
		srv.TLS = o.PKI.ServerTLS()
		srv.StartTLS()
		tr.TLSClientConfig = o.PKI.ClientTLS()
	} else {
		srv.Start()
		rt = plainHTTP{tr}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			srv.Close()
			_ = app.Shutdown()
		})
	}
	t.Cleanup(stop)
	host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
	client := &testimage.Client{Host: host, HTTP: &http.Client{Transport: rt}}
	if o.Token != "" {
		client.Authorize = testimage.BearerAuth(o.Token)
	}
	return &Registry{Host: host, Token: o.Token, Dir: dir, Client: client, stop: stop}
}

// Stop stops serving: the registry's address no longer answers. Its storage stays.
func (r *Registry) Stop() { r.stop() }

// plainHTTP sends the test client's requests (which name https URLs) over plain HTTP.
type plainHTTP struct{ base http.RoundTripper }

func (p plainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	plain := req.Clone(req.Context())
	plain.URL.Scheme = "http"
	resp, err := p.base.RoundTrip(plain)
	if resp != nil {
		resp.Request = req // relative locations resolve against the client's own URL
	}
	return resp, err
}

// Push uploads img under tags (see testimage.Client.Push) and fails the test on error.
func (r *Registry) Push(t testing.TB, repo string, img *testimage.Image, tags ...string) {
	t.Helper()
	if err := r.Client.Push(repo, img, tags...); err != nil {
		t.Fatal(err)
	}
}

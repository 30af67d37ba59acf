package imagecopy

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.podman.io/image/v5/types"
)

// v2 answers the registry API's version check, anonymously, as MTC's migration registry does.
var v2 = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

func hostOf(srv *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
}

func caOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func probed(t *testing.T, o RegistryOptions) (*Registry, error) {
	t.Helper()
	o.AllowPlainHTTP = true
	reg, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	return reg, reg.Probe(context.Background())
}

// TestProbe: a registry that may serve plain HTTP is used over plain HTTP when it speaks no
// TLS, over verified TLS when it does; a certificate that does not verify is a permanent error
// naming the registry and the way to configure it; the successful answer is kept.
func TestProbe(t *testing.T) {
	plain := httptest.NewServer(v2)
	defer plain.Close()
	secure := httptest.NewUnstartedServer(v2)
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	secure.StartTLS()
	defer secure.Close()

	reg, err := probed(t, RegistryOptions{Host: hostOf(plain)})
	if err != nil || !reg.PlainHTTP() {
		t.Fatalf("plain HTTP server: plain %v, %v", reg.PlainHTTP(), err)
	}
	sys, _ := reg.systemContext(context.Background())
	if sys.DockerInsecureSkipTLSVerify != types.OptionalBoolTrue {
		t.Error("plain HTTP registry: containers/image is not allowed to speak HTTP")
	}
	// The answer is kept: the server is gone, the registry still knows.
	plain.Close()
	if err := reg.Probe(context.Background()); err != nil || !reg.PlainHTTP() {
		t.Errorf("second probe: plain %v, %v", reg.PlainHTTP(), err)
	}

	reg, err = probed(t, RegistryOptions{Host: hostOf(secure), CA: caOf(secure)})
	if err != nil || reg.PlainHTTP() {
		t.Fatalf("TLS server with its CA: plain %v, %v", reg.PlainHTTP(), err)
	}
	sys, _ = reg.systemContext(context.Background())
	if sys.DockerInsecureSkipTLSVerify != types.OptionalBoolFalse || sys.BaseTLSConfig.RootCAs == nil {
		t.Error("TLS registry: verification off or CA missing")
	}
	img, _ := reg.Image("ns/app", "v1")
	if s, _ := img.systemContext(context.Background()); s != sys {
		t.Error("an image of the registry does not use the probed context")
	}

	reg, err = probed(t, RegistryOptions{Host: hostOf(secure), VerifyHint: "set THE_CA_FILE"})
	t.Logf("TLS server, CA not configured: %v", err)
	var ce *CertificateError
	if !errors.As(err, &ce) || ce.Registry != hostOf(secure) || Transient(err) ||
		!strings.Contains(err.Error(), "registry "+hostOf(secure)) || !strings.Contains(err.Error(), "set THE_CA_FILE") {
		t.Fatalf("TLS server, CA not configured: %v", err)
	}
	if reg.PlainHTTP() {
		t.Error("a certificate that does not verify made the registry plain HTTP")
	}

	// Verification skipped by configuration: no probe, containers/image handles both.
	reg, err = probed(t, RegistryOptions{Host: "127.0.0.1:1", InsecureSkipTLSVerify: true})
	if err != nil || reg.probe != nil {
		t.Errorf("insecure registry probed: %v", err)
	}
	// Without AllowPlainHTTP nothing is probed either.
	reg, _ = NewRegistry(RegistryOptions{Host: "127.0.0.1:1"})
	if err := reg.Probe(context.Background()); err != nil || reg.probe != nil {
		t.Errorf("HTTPS-only registry probed: %v", err)
	}
	if _, err := NewRegistry(RegistryOptions{Host: "x:5000", Token: "t", AllowPlainHTTP: true}); err == nil {
		t.Error("a token was accepted for a registry that may serve plain HTTP")
	}
}

// TestProbeFailureIsNotKept: an unreachable registry is a transient error, and the next probe
// tries again and succeeds once the registry answers.
func TestProbeFailureIsNotKept(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	reg, err := probed(t, RegistryOptions{Host: addr})
	t.Logf("unreachable: %v", err)
	if err == nil || !Transient(err) || !strings.Contains(err.Error(), "registry "+addr) {
		t.Fatalf("unreachable: %v (transient %v)", err, Transient(err))
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken again: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: v2}}
	srv.Start()
	defer srv.Close()
	if err := reg.Probe(context.Background()); err != nil || !reg.PlainHTTP() {
		t.Errorf("after the registry came up: plain %v, %v", reg.PlainHTTP(), err)
	}
}

// TestProbeIsBounded: a server that accepts but never answers costs the probe timeout, and a
// cancelled context ends the probe at once; both are transient.
func TestProbeIsBounded(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	reg, err := probed(t, RegistryOptions{Host: l.Addr().String(), ProbeTimeout: 200 * time.Millisecond})
	if err == nil || !Transient(err) || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	if err := reg.Probe(ctx); err == nil || time.Since(start) > time.Second {
		t.Errorf("cancelled: %v after %s", err, time.Since(start))
	}
}

package imagecopy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

// Image is one image in a Store or a Registry: something to copy from or to. Make one with
// Store.Image or Registry.Image.
type Image struct {
	ref   types.ImageReference
	sys   *types.SystemContext
	where string    // the store or registry, for errors and logs
	name  string    // repo:tag or repo@digest
	store *Store    // nil for registry images
	reg   *Registry // nil for store images
}

// systemContext is how the image is reached: a registry opened with AllowPlainHTTP is probed
// first (once, on the first copy that needs it).
func (i Image) systemContext(ctx context.Context) (*types.SystemContext, error) {
	if i.reg != nil {
		return i.reg.systemContext(ctx)
	}
	return i.sys, nil
}

// String names the image and where it lives, e.g. `registry 10.0.0.1:5000 image ns/app:v1`.
func (i Image) String() string { return i.where + " image " + i.name }

// Name is the image's repository and tag or digest, without the location.
func (i Image) Name() string { return i.name }

// RegistryOptions say how to reach a registry over the Docker registry HTTP API: HTTPS, or,
// with AllowPlainHTTP, plain HTTP where the registry offers no TLS.
type RegistryOptions struct {
	// Host is "host[:port]", e.g. "image-registry.openshift-image-registry.svc:5000".
	Host string
	// Token is the bearer token (the plugin's service account token). It is sent as the bearer
	// token and, to registries that ask for basic auth, as the password; it is never logged.
	// Empty means anonymous access.
	Token string
	// CA is a PEM bundle trusted for the registry's serving certificate, in addition to the
	// system roots (the cluster's service CA).
	CA []byte
	// InsecureSkipTLSVerify disables certificate verification (and allows plain HTTP). Only
	// when configured.
	InsecureSkipTLSVerify bool
	// AllowPlainHTTP is for a registry deployed as MTC deploys its migration registry:
	// cluster-internal, anonymous, plain HTTP. Before its first copy the registry is probed
	// (Probe): a server that speaks TLS is used over TLS verified against CA and the system
	// roots; one that answers with something that is not a TLS handshake is used over plain
	// HTTP. A token is never sent over plain HTTP, so it excludes Token.
	AllowPlainHTTP bool
	// ProbeTimeout bounds the probe (default DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// VerifyHint ends the error of a probe that finds a certificate that does not verify: how
	// the user configures the registry's CA or skipping verification (setting names).
	VerifyHint string
	// DropSignatures copies images into this registry without their signatures: for a registry
	// that keeps none (a migration registry), so that a signed image still copies, as it does
	// into a store.
	DropSignatures bool
	// UserAgent is sent with every request; empty means containers/image's default.
	UserAgent string
	// Log receives the probe's verdict (TLS or plain HTTP); nil discards.
	Log logrus.FieldLogger
}

// DefaultProbeTimeout bounds the TLS probe of a registry opened with AllowPlainHTTP.
const DefaultProbeTimeout = 10 * time.Second

// Registry is an image registry reached with the docker:// transport of containers/image.
type Registry struct {
	host           string
	sys            *types.SystemContext // verified HTTPS, or as configured
	dropSignatures bool
	// probe decides between sys and plain HTTP for an AllowPlainHTTP registry; nil otherwise.
	probe *prober
}

// NewRegistry prepares access to a registry; it does not connect.
func NewRegistry(o RegistryOptions) (*Registry, error) {
	if o.Host == "" || strings.ContainsAny(o.Host, "/ ") {
		return nil, fmt.Errorf("registry host %q is not host[:port]", o.Host)
	}
	if o.AllowPlainHTTP && o.Token != "" {
		return nil, fmt.Errorf("registry %s: a token is never sent to a registry that may serve plain HTTP", o.Host)
	}
	sys := *hermeticSystemContext()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(o.CA) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(o.CA) {
			return nil, fmt.Errorf("registry %s: the CA bundle holds no PEM certificate", o.Host)
		}
		tlsCfg.RootCAs = pool
	}
	sys.BaseTLSConfig = tlsCfg
	if o.InsecureSkipTLSVerify {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	} else {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolFalse
	}
	if o.Token != "" {
		sys.DockerBearerRegistryToken = o.Token
		sys.DockerAuthConfig = &types.DockerAuthConfig{Username: "serviceaccount", Password: o.Token}
	} else {
		sys.DockerAuthConfig = &types.DockerAuthConfig{} // anonymous; never read host auth files
	}
	sys.DockerRegistryUserAgent = o.UserAgent
	r := &Registry{host: o.Host, sys: &sys, dropSignatures: o.DropSignatures}
	// With verification skipped, containers/image already falls back to plain HTTP by itself.
	if o.AllowPlainHTTP && !o.InsecureSkipTLSVerify {
		plain := sys
		// containers/image speaks plain HTTP only with this flag set (it tries HTTPS without
		// verification, then HTTP). It is set only once the probe found no TLS at all, so
		// there is no certificate to verify.
		plain.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
		timeout := o.ProbeTimeout
		if timeout <= 0 {
			timeout = DefaultProbeTimeout
		}
		r.probe = &prober{host: o.Host, tls: tlsCfg, timeout: timeout, hint: o.VerifyHint, log: o.Log,
			verified: &sys, plain: &plain}
	}
	return r, nil
}

// Probe decides how a registry opened with AllowPlainHTTP is reached: over TLS verified against
// the configured CA and the system roots when it speaks TLS, else over plain HTTP. It connects
// once and keeps a successful answer for the life of the Registry; a failure is returned (and
// the next call tries again). A certificate that does not verify is an error naming the registry
// (and VerifyHint); an unreachable registry is a Transient error. Copies probe by themselves;
// calling Probe first only surfaces the answer earlier. For other registries it does nothing.
func (r *Registry) Probe(ctx context.Context) error {
	_, err := r.systemContext(ctx)
	return err
}

// PlainHTTP reports whether the registry is reached over plain HTTP; false until a probe found so.
func (r *Registry) PlainHTTP() bool {
	if r.probe == nil {
		return false
	}
	r.probe.mu.Lock()
	defer r.probe.mu.Unlock()
	return r.probe.sys == r.probe.plain
}

func (r *Registry) systemContext(ctx context.Context) (*types.SystemContext, error) {
	if r.probe == nil {
		return r.sys, nil
	}
	return r.probe.resolve(ctx)
}

// prober holds the answer of a registry's TLS probe.
type prober struct {
	host, hint      string
	tls             *tls.Config
	timeout         time.Duration
	log             logrus.FieldLogger
	verified, plain *types.SystemContext

	mu  sync.Mutex
	sys *types.SystemContext // verified or plain once a probe succeeded
}

func (p *prober) resolve(ctx context.Context) (*types.SystemContext, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sys != nil {
		return p.sys, nil
	}
	plain, err := p.servesPlainHTTP(ctx)
	if err != nil {
		return nil, err
	}
	p.sys = p.verified
	verdict := "registry %s speaks TLS; its certificate is verified"
	if plain {
		p.sys = p.plain
		verdict = "registry %s speaks plain HTTP (no TLS offered); using HTTP"
	}
	if p.log != nil {
		p.log.Infof(verdict, p.host)
	}
	return p.sys, nil
}

// servesPlainHTTP opens a TLS connection to the registry, bounded by the probe timeout and ctx.
// A handshake that completes and verifies means TLS; a reply that is not a TLS record
// (tls.RecordHeaderError: a plain HTTP server answering the ClientHello with an HTTP error)
// means plain HTTP. A host without a port is probed at 443 and, if nothing answers there, at 80,
// where containers/image sends plain HTTP.
func (p *prober) servesPlainHTTP(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	hostname, port, err := net.SplitHostPort(p.host)
	if err != nil {
		hostname, port = strings.TrimSuffix(strings.TrimPrefix(p.host, "["), "]"), ""
	}
	addr := net.JoinHostPort(hostname, port)
	if port == "" {
		addr = net.JoinHostPort(hostname, "443")
	}
	cfg := p.tls.Clone()
	cfg.ServerName = hostname
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
	if err == nil {
		_ = conn.Close()
		return false, nil
	}
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &notTLS):
		return true, nil
	case certificateError(err):
		msg := fmt.Sprintf("registry %s serves TLS but its certificate does not verify against the configured CA bundle and the system roots: %v", p.host, err)
		if p.hint != "" {
			msg += "; " + p.hint
		}
		return false, &CertificateError{Registry: p.host, msg: msg, err: err}
	case port == "":
		var d net.Dialer
		if c, err80 := d.DialContext(ctx, "tcp", net.JoinHostPort(hostname, "80")); err80 == nil {
			_ = c.Close()
			return true, nil
		}
	}
	return false, fmt.Errorf("registry %s: probing whether it speaks TLS: %w", p.host, err)
}

// CertificateError is a registry's certificate that does not verify. It is not transient.
type CertificateError struct {
	Registry string
	msg      string
	err      error
}

func (e *CertificateError) Error() string { return e.msg }
func (e *CertificateError) Unwrap() error { return e.err }

// certificateError reports whether a TLS error is a failed certificate verification.
func certificateError(err error) bool {
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// String is "registry HOST".
func (r *Registry) String() string { return "registry " + r.host }

// Image names an image in the registry: repo is "namespace/name", ref a tag or a digest
// ("sha256:..."), or "" for "latest".
func (r *Registry) Image(repo, ref string) (Image, error) {
	str := r.host + "/" + repo
	name := repo
	switch {
	case ref == "":
		name += ":latest"
		str += ":latest"
	case strings.Contains(ref, ":"):
		name += "@" + ref
		str += "@" + ref
	default:
		name += ":" + ref
		str += ":" + ref
	}
	named, err := reference.ParseNormalizedNamed(str)
	if err != nil {
		return Image{}, fmt.Errorf("%s: image %q: %w", r, name, err)
	}
	if reference.Domain(named) != r.host {
		return Image{}, fmt.Errorf("%s: image %q: the repository name is not valid here", r, name)
	}
	dref, err := docker.NewReference(named)
	if err != nil {
		return Image{}, fmt.Errorf("%s: image %q: %w", r, name, err)
	}
	return Image{ref: dref, sys: r.sys, where: r.String(), name: name, reg: r}, nil
}

var (
	hermeticOnce sync.Once
	hermeticSys  types.SystemContext
)

// hermeticSystemContext points every configuration file containers/image would read from the
// host (registries.conf, registries.d, certs.d, auth files) at an empty private directory, so the
// plugin behaves the same on any node, and keeps the blob info cache there too. The directory is
// per user and reused by later processes (its content is constant), so plugin runs leave nothing
// behind.
func hermeticSystemContext() *types.SystemContext {
	hermeticOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("velero-imagecopy-%d", os.Getuid()))
		if prepareConfigDir(dir) != nil {
			// Not ours or not writable: a fresh one. If even that fails, the paths below name
			// nothing, and containers/image reports them when it needs them.
			if tmp, err := os.MkdirTemp("", "velero-imagecopy-"); err == nil && prepareConfigDir(tmp) == nil {
				dir = tmp
			}
		}
		hermeticSys = types.SystemContext{
			SystemRegistriesConfPath:    filepath.Join(dir, "registries.conf"),
			SystemRegistriesConfDirPath: filepath.Join(dir, "registries.conf.d"),
			RegistriesDirPath:           filepath.Join(dir, "registries.d"),
			UserShortNameAliasConfPath:  filepath.Join(dir, "shortnames.conf"),
			AuthFilePath:                filepath.Join(dir, "auth.json"),
			DockerCertPath:              filepath.Join(dir, "certs"),
			BlobInfoCacheDir:            filepath.Join(dir, "cache"),
		}
	})
	sys := hermeticSys
	return &sys
}

// prepareConfigDir makes dir a private directory holding an empty registries.conf and empty
// registries.d and certs folders; it refuses a directory someone else owns.
func prepareConfigDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() || st.Mode().Perm()&0o077 != 0 || !ownedByMe(st) {
		return fmt.Errorf("%s is not a private directory of this user", dir)
	}
	conf := filepath.Join(dir, "registries.conf")
	if st, err := os.Lstat(conf); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
		_ = os.Remove(conf)
		if err := os.WriteFile(conf, nil, 0o600); err != nil {
			return err
		}
	}
	for _, sub := range []string{"registries.d", "certs", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

package imagecopy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

// Image is one image in a Store or a Registry: something to copy from or to. Make one with
// Store.Image or Registry.Image.
type Image struct {
	ref   types.ImageReference
	sys   *types.SystemContext
	where string // the store or registry, for errors and logs
	name  string // repo:tag or repo@digest
	store *Store // nil for registry images
}

// String names the image and where it lives, e.g. `registry 10.0.0.1:5000 image ns/app:v1`.
func (i Image) String() string { return i.where + " image " + i.name }

// Name is the image's repository and tag or digest, without the location.
func (i Image) Name() string { return i.name }

// RegistryOptions say how to reach a registry over the Docker registry HTTP API (HTTPS).
type RegistryOptions struct {
	// Host is "host[:port]", e.g. "image-registry.openshift-image-registry.svc:5000".
	Host string
	// Token is the bearer token (the plugin's service account token). It is sent as the bearer
	// token and, to registries that ask for basic auth, as the password; it is never logged.
	Token string
	// CA is a PEM bundle trusted for the registry's serving certificate, in addition to the
	// system roots (the cluster's service CA).
	CA []byte
	// InsecureSkipTLSVerify disables certificate verification (and allows plain HTTP). Only
	// when configured.
	InsecureSkipTLSVerify bool
	// UserAgent is sent with every request; empty means containers/image's default.
	UserAgent string
}

// Registry is an image registry reached with the docker:// transport of containers/image.
type Registry struct {
	host string
	sys  *types.SystemContext
}

// NewRegistry prepares access to a registry; it does not connect.
func NewRegistry(o RegistryOptions) (*Registry, error) {
	if o.Host == "" || strings.ContainsAny(o.Host, "/ ") {
		return nil, fmt.Errorf("registry host %q is not host[:port]", o.Host)
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
	return &Registry{host: o.Host, sys: &sys}, nil
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
	return Image{ref: dref, sys: r.sys, where: r.String(), name: name}, nil
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

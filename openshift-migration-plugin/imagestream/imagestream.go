// Package imagestream holds the migration plugin's ImageStream actions (SPEC §6): a migration
// Backup naming a migration registry copies the internal images of every stream into
// <registry>/<source namespace>/<stream> by digest, and the migration Restore pushes them from the
// registry named on the Restore into the destination's internal registry under the mapped
// namespace and restores the stream. The stream logic (which images, digests, missing images,
// pushing each tag oldest first, streams created on push) is the general plugin's
// (velero-plugins/imagestream: BackupImages, RestoreStream); this package supplies the migration
// registry as the place the images are kept, and decides when.
package imagestream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
	general "github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

// Registered names.
var (
	BackupName  = migration.Name("04-imagestream-backup")
	RestoreName = migration.Name("04-imagestream-restore")
)

// Resource is the one resource the actions handle.
const Resource = general.Resource

// CAFileEnv names a PEM bundle trusted (with the system roots) for a migration registry that
// serves TLS. Unset: the service CA (DefaultCAFile) when present. A migration registry serving
// plain HTTP, as MTC deploys it, needs none.
const CAFileEnv = "OPENSHIFT_MIGRATION_REGISTRY_CA_FILE"

// DefaultCAFile is the service CA of the plugin's pod: a cluster-internal registry serving TLS
// has its certificate signed by it.
const DefaultCAFile = general.DefaultCAFile

// Registrations returns this package's rows of the migration registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) { return NewBackup(env), nil }},
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// OpenRegistryFunc opens the migration registry at host; insecure skips the verification of its
// certificate when it serves TLS.
type OpenRegistryFunc func(host string, insecure bool, log logrus.FieldLogger) (*imagecopy.Registry, error)

// OpenRegistry opens a migration registry as MTC deploys it: anonymous, plain HTTP or TLS
// (probed on first use; TLS verified against CAFileEnv's bundle or the service CA, and the
// system roots, unless insecure). Images are copied into it without signatures (a migration
// registry keeps none; neither does the image store of SPEC §5).
func OpenRegistry(host string, insecure bool, log logrus.FieldLogger) (*imagecopy.Registry, error) {
	ca, err := registryCA()
	if err != nil {
		return nil, fmt.Errorf("migration registry %s: %w", host, err)
	}
	return imagecopy.NewRegistry(imagecopy.RegistryOptions{
		Host: host, CA: ca, AllowPlainHTTP: true, InsecureSkipTLSVerify: insecure, DropSignatures: true,
		VerifyHint: fmt.Sprintf("put the CA bundle that signed it in the file named by %s in the Velero server's environment (default %s), "+
			"or, to skip verification, set %s: \"true\" in the plugin config", CAFileEnv, DefaultCAFile, config.KeyMigrationRegistryInsecureSkipTLSVerify),
		UserAgent: "openshift-migration-plugin", Log: log,
	})
}

// registryCA reads CAFileEnv's file (which must then exist) or the service CA (when present).
// Read on each open: a registry is opened once per process.
func registryCA() ([]byte, error) {
	file := strings.TrimSpace(os.Getenv(CAFileEnv))
	if file == "" {
		ca, err := os.ReadFile(DefaultCAFile)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the service CA %s: %w", DefaultCAFile, err)
		}
		return ca, nil
	}
	ca, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle %s (%s): %w", file, CAFileEnv, err)
	}
	return ca, nil
}

// registries opens each migration registry once per process (one backup or restore), so its
// probe (TLS or plain HTTP) is answered once; a failure to open is not kept.
type registries struct {
	open OpenRegistryFunc

	mu     sync.Mutex
	opened map[string]*imagecopy.Registry
}

// get returns the registry at host, warning on every use when its certificate is not verified.
// A registry whose certificate does not verify is one error here, rather than one per image;
// other probe failures (an unreachable registry) are left to the copies, which retry them.
func (r *registries) get(ctx context.Context, host string, cfg config.Config, log logrus.FieldLogger) (*imagecopy.Registry, error) {
	reg, err := r.open1(host, cfg, log)
	if err != nil {
		return nil, err
	}
	var bad *imagecopy.CertificateError
	if err := reg.Probe(ctx); errors.As(err, &bad) {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	return reg, nil
}

func (r *registries) open1(host string, cfg config.Config, log logrus.FieldLogger) (*imagecopy.Registry, error) {
	insecure := cfg.MigrationRegistryInsecureSkipTLSVerify
	if insecure {
		log.Warnf("image copy: the certificate of migration registry %s is not verified if it serves TLS (plugin config %s)", host, config.KeyMigrationRegistryInsecureSkipTLSVerify)
	}
	key := fmt.Sprintf("%s|%t", host, insecure)
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg, ok := r.opened[key]; ok {
		return reg, nil
	}
	reg, err := r.open(host, insecure, log)
	if err != nil {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	if r.opened == nil {
		r.opened = map[string]*imagecopy.Registry{}
	}
	r.opened[key] = reg
	return reg, nil
}

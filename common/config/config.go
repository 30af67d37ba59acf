// Package config reads the plugins' runtime configuration from the plugin ConfigMap in Velero's
// namespace (Velero's convention: label velero.io/plugin-config plus a label keyed by the plugin,
// here openshift.io/velero-plugin). With no ConfigMap the defaults apply.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/velero-openshift/plugins/common/keys"
)

// Data keys of the ConfigMap.
const (
	KeyDisabledActions         = "disabledActions"         // registered names, comma or newline separated
	KeyBackupRegistryHostname  = "backupRegistryHostname"  // overrides the discovered registry at backup
	KeyRestoreRegistryHostname = "restoreRegistryHostname" // overrides the discovered registry at restore
	KeyPullSecretWait          = "pullSecretWait"          // Go duration, e.g. "30s"; "0" disables waiting
	KeyImageStreamBackup       = "imageStreamBackup"       // "true": copy ImageStream images at backup
	// KeyImageRegistryInsecureSkipTLSVerify "true": do not verify the internal registry's
	// certificate when copying ImageStream images (a registry whose certificate the service CA
	// did not sign). Off by default; each use is logged as a warning.
	KeyImageRegistryInsecureSkipTLSVerify = "imageRegistryInsecureSkipTLSVerify"
	// KeyMigrationRegistryInsecureSkipTLSVerify "true": do not verify the certificate of a
	// migration registry that serves TLS (the migration plugin's ImageStream copy). A registry
	// serving plain HTTP needs no setting. Off by default; each use is logged as a warning.
	KeyMigrationRegistryInsecureSkipTLSVerify = "migrationRegistryInsecureSkipTLSVerify"
	// KeyImageCopyTimeout bounds each ImageStream image copy, retries included (Go duration or
	// seconds, e.g. "30m"); a copy still running then fails. KeyImageCopyIdleTimeout stops a copy
	// that moved no data for that long (e.g. "2m"), retried as a transient failure. Both must be
	// positive: every copy is bounded. Defaults: the image copy engine's (30m, 2m).
	KeyImageCopyTimeout     = "imageCopyTimeout"
	KeyImageCopyIdleTimeout = "imageCopyIdleTimeout"
	// KeyImageSweepGrace: when a backup is deleted, images of the location's image store written
	// or linked more recently than this are kept (positive Go duration or seconds; default 2h,
	// longer than an image copy runs). Shorter frees sooner; backups written to the location by
	// another cluster are protected only by it.
	KeyImageSweepGrace = "imageSweepGrace"
)

// RetiredActions are the names earlier versions registered that this version no longer does,
// with what replaced each. They are listed here, not taken from the action packages, because
// nothing registers them any more; a plugin ConfigMap whose disabledActions names one gets a
// warning (Loader) instead of silently disabling nothing.
var RetiredActions = map[string]string{
	"openshift.io/01-common-backup": "no action is called for every pod and workload at backup any more: the restore reads the source registry " +
		"from what earlier versions recorded on an item, else takes OpenShift's own registry hostnames and the one backupRegistryHostname names in the restoring cluster's plugin config",
	"openshift.io/01-common-restore": "the restore action of each pod, workload, BuildConfig, ImageStream and ImageStreamTag now writes the " +
		"openshift.io/restore-* annotations itself; disabling that action stops them",
	"openshift.io/05-configmap-backup": "openshift.io/13-configmap-restore recognises build-pod ConfigMaps itself; disable it to restore them",
	"openshift.io/10-route-backup": "openshift.io/10-route-restore reads the source apps domain from the route's router status (or what " +
		"earlier versions recorded); disable it to keep every route host",
}

// DefaultPullSecretWait bounds how long a restore waits for the destination to mint a service
// account's dockercfg secret.
const DefaultPullSecretWait = 30 * time.Second

// Config is the parsed configuration.
type Config struct {
	DisabledActions         map[string]bool
	BackupRegistryHostname  string
	RestoreRegistryHostname string
	PullSecretWait          time.Duration
	ImageStreamBackup       bool
	// ImageRegistryInsecureSkipTLSVerify skips certificate verification of the internal registry.
	ImageRegistryInsecureSkipTLSVerify bool
	// MigrationRegistryInsecureSkipTLSVerify skips certificate verification of a migration
	// registry that serves TLS.
	MigrationRegistryInsecureSkipTLSVerify bool
	// ImageCopyTimeout and ImageCopyIdleTimeout bound each image copy; 0 is the engine's default.
	ImageCopyTimeout, ImageCopyIdleTimeout time.Duration
	// ImageSweepGrace is the image store sweep's grace period; 0 is the sweep's default.
	ImageSweepGrace time.Duration
}

// Default is the configuration with no ConfigMap.
func Default() Config {
	return Config{DisabledActions: map[string]bool{}, PullSecretWait: DefaultPullSecretWait}
}

// Disabled reports whether the action registered under name is switched off.
func (c Config) Disabled(name string) bool { return c.DisabledActions[name] }

// Parse builds a Config from ConfigMap data; unknown keys are ignored. A value that does not parse
// leaves that one setting at its default and is reported in the error (one line per bad key,
// naming it): the returned Config is usable either way, so a typo costs one setting, not the
// whole configuration.
func Parse(data map[string]string) (Config, error) {
	c, problems := parse(data)
	return c, errors.Join(problems...)
}

func parse(data map[string]string) (Config, []error) {
	var problems []error
	c := Default()
	for _, name := range strings.FieldsFunc(data[KeyDisabledActions], func(r rune) bool {
		return r == ',' || r == '\n' || r == ' ' || r == '\t'
	}) {
		c.DisabledActions[name] = true
	}
	c.BackupRegistryHostname = strings.TrimSpace(data[KeyBackupRegistryHostname])
	c.RestoreRegistryHostname = strings.TrimSpace(data[KeyRestoreRegistryHostname])
	for key, dst := range map[string]*bool{
		KeyImageStreamBackup:                      &c.ImageStreamBackup,
		KeyImageRegistryInsecureSkipTLSVerify:     &c.ImageRegistryInsecureSkipTLSVerify,
		KeyMigrationRegistryInsecureSkipTLSVerify: &c.MigrationRegistryInsecureSkipTLSVerify,
	} {
		if v := strings.TrimSpace(data[key]); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				problems = append(problems, fmt.Errorf("plugin config %s: %q is not true or false", key, v))
				continue
			}
			*dst = b
		}
	}
	if v, ok := data[KeyPullSecretWait]; ok && strings.TrimSpace(v) != "" {
		d, err := parseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			problems = append(problems, fmt.Errorf("plugin config %s: %q is not a non-negative duration such as \"30s\"", KeyPullSecretWait, v))
		} else {
			c.PullSecretWait = d
		}
	}
	for key, dst := range map[string]*time.Duration{KeyImageCopyTimeout: &c.ImageCopyTimeout, KeyImageCopyIdleTimeout: &c.ImageCopyIdleTimeout, KeyImageSweepGrace: &c.ImageSweepGrace} {
		if v := strings.TrimSpace(data[key]); v != "" {
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				problems = append(problems, fmt.Errorf("plugin config %s: %q is not a positive duration such as \"30m\"", key, v))
				continue
			}
			*dst = d
		}
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
	return c, problems
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil // a bare number is seconds
	}
	return time.ParseDuration(s)
}

// Source answers the configuration for a Velero namespace.
type Source interface {
	Config(ctx context.Context, veleroNamespace string) (Config, error)
}

// Static is a fixed Source.
type Static Config

// Config returns the fixed configuration.
func (s Static) Config(context.Context, string) (Config, error) { return Config(s), nil }

// LabelSelector selects the plugin ConfigMap.
var LabelSelector = keys.VeleroPluginConfigLabel + "," + keys.PluginConfigLabel

// VeleroNamespaceEnv is how Velero's own deployment tells its containers (and so the plugins it
// starts) the namespace it runs in.
const VeleroNamespaceEnv = "VELERO_NAMESPACE"

// serviceAccountNamespaceFile is where a pod finds its own namespace.
var serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// VeleroNamespace returns the namespace of the Velero server running this plugin, where its plugin
// ConfigMap lives, for the few decisions made before any Backup or Restore names it (AppliesTo):
// VELERO_NAMESPACE, else the pod's own namespace; "" when neither is known.
func VeleroNamespace() string {
	if ns := strings.TrimSpace(os.Getenv(VeleroNamespaceEnv)); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

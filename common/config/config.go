// Package config reads the plugins' runtime configuration from the plugin ConfigMap in Velero's
// namespace (Velero's convention: label velero.io/plugin-config plus a label keyed by the plugin,
// here openshift.io/velero-plugin). With no ConfigMap the defaults apply.
package config

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

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
)

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
}

// Default is the configuration with no ConfigMap.
func Default() Config {
	return Config{DisabledActions: map[string]bool{}, PullSecretWait: DefaultPullSecretWait}
}

// Disabled reports whether the action registered under name is switched off.
func (c Config) Disabled(name string) bool { return c.DisabledActions[name] }

// Parse builds a Config from ConfigMap data; unknown keys are ignored, bad values are errors
// naming the key.
func Parse(data map[string]string) (Config, error) {
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
				return Config{}, fmt.Errorf("plugin config %s: %q is not true or false", key, v)
			}
			*dst = b
		}
	}
	if v, ok := data[KeyPullSecretWait]; ok && strings.TrimSpace(v) != "" {
		d, err := parseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return Config{}, fmt.Errorf("plugin config %s: %q is not a non-negative duration such as \"30s\"", KeyPullSecretWait, v)
		}
		c.PullSecretWait = d
	}
	return c, nil
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

// Loader reads the ConfigMap once per Velero namespace and caches the answer (including an error)
// for the life of the process: a plugin process lives for one backup or restore.
type Loader struct {
	client func() (corev1client.ConfigMapsGetter, error)

	mu    sync.Mutex
	cache map[string]result
}

type result struct {
	cfg Config
	err error
}

// NewLoader returns a Loader that builds its client on first use.
func NewLoader(client func() (corev1client.ConfigMapsGetter, error)) *Loader {
	return &Loader{client: client, cache: map[string]result{}}
}

// Config returns the configuration of the given Velero namespace.
func (l *Loader) Config(ctx context.Context, ns string) (Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.cache[ns]; ok {
		return r.cfg, r.err
	}
	cfg, err := l.load(ctx, ns)
	l.cache[ns] = result{cfg, err}
	return cfg, err
}

func (l *Loader) load(ctx context.Context, ns string) (Config, error) {
	client, err := l.client()
	if err != nil {
		return Config{}, fmt.Errorf("reading plugin config: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := client.ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelSelector})
	if err != nil {
		return Config{}, fmt.Errorf("reading plugin config in namespace %s: %w", ns, err)
	}
	switch len(list.Items) {
	case 0:
		return Default(), nil
	case 1:
		cfg, err := Parse(list.Items[0].Data)
		if err != nil {
			return Config{}, fmt.Errorf("configmap %s/%s: %w", ns, list.Items[0].Name, err)
		}
		return cfg, nil
	default:
		names := make([]string, 0, len(list.Items))
		for _, cm := range list.Items {
			names = append(names, cm.Name)
		}
		return Config{}, fmt.Errorf("more than one plugin config ConfigMap in namespace %s matches %q: %v", ns, LabelSelector, names)
	}
}

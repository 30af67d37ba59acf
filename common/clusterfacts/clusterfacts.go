// Package clusterfacts discovers the facts about the cluster a plugin runs on (versions, internal
// registry hostname, apps domain, whether the registry is enabled) once per process, each lookup
// with its own short timeout. A cached answer keeps the per-item cost of an action at zero API calls,
// which is what keeps a backup of thousands of items fast.
package clusterfacts

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1 "github.com/openshift/api/operator/v1"
	configclient "github.com/openshift/client-go/config/clientset/versioned"
	imageclient "github.com/openshift/client-go/image/clientset/versioned"
	imageregistryclient "github.com/openshift/client-go/imageregistry/clientset/versioned"
	"github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/velero-openshift/plugins/common/imageref"
)

// Facts describes one cluster. Empty strings mean "unknown / not present".
type Facts struct {
	KubeVersion      string // "major.minor"
	OpenShiftVersion string // e.g. "4.16.3"; empty on plain Kubernetes
	RegistryHostname string // internal registry host[:port]
	AppsDomain       string // router domain
	RegistryEnabled  bool   // the integrated registry runs and mints pull secrets
}

// ServerVersion is the version recorded on items: OpenShift's when known, else Kubernetes'.
func (f Facts) ServerVersion() string {
	if f.OpenShiftVersion != "" {
		return f.OpenShiftVersion
	}
	return f.KubeVersion
}

// Source answers the facts of the local cluster.
type Source interface {
	Facts(ctx context.Context) Facts
}

// Static is a fixed Source (tests, and callers that already know the facts).
type Static Facts

// Facts returns the fixed facts.
func (s Static) Facts(context.Context) Facts { return Facts(s) }

// Clients are the clients discovery uses; any may be nil (that lookup is skipped).
type Clients struct {
	Kube          kubernetes.Interface
	Config        configclient.Interface
	Image         imageclient.Interface
	ImageRegistry imageregistryclient.Interface
}

// Provider discovers facts lazily, once, and caches them for the life of the process.
type Provider struct {
	clients func() (Clients, error)
	log     logrus.FieldLogger
	timeout time.Duration

	once  sync.Once
	facts Facts
}

// DefaultTimeout bounds each discovery call.
const DefaultTimeout = 5 * time.Second

// NewProvider returns a Provider that builds its clients on first use.
func NewProvider(clients func() (Clients, error), log logrus.FieldLogger) *Provider {
	return &Provider{clients: clients, log: log, timeout: DefaultTimeout}
}

// Facts returns the cached facts, discovering them on the first call. A failed lookup is logged
// once and leaves its fact empty, which the actions treat as "unknown" (no rewrite), never as an
// error per item.
func (p *Provider) Facts(ctx context.Context) Facts {
	p.once.Do(func() {
		c, err := p.clients()
		if err != nil {
			p.log.WithError(err).Warn("cluster facts unavailable: no API clients")
			return
		}
		p.facts = Discover(ctx, c, p.timeout, p.log)
		p.log.WithFields(logrus.Fields{
			"kubeVersion": p.facts.KubeVersion, "openshiftVersion": p.facts.OpenShiftVersion,
			"registryHostname": p.facts.RegistryHostname, "appsDomain": p.facts.AppsDomain,
			"registryEnabled": p.facts.RegistryEnabled,
		}).Info("discovered cluster facts")
	})
	return p.facts
}

// Discover queries the cluster for its facts now, each call bounded by timeout.
func Discover(ctx context.Context, c Clients, timeout time.Duration, log logrus.FieldLogger) Facts {
	call := func(name string, fn func(context.Context) error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := fn(cctx); err != nil && !apierrors.IsNotFound(err) {
			log.WithError(err).WithField("fact", name).Warn("cluster fact lookup failed; treating it as unknown")
		}
	}
	var f Facts
	if c.Kube != nil {
		call("kubeVersion", func(context.Context) error {
			v, err := c.Kube.Discovery().ServerVersion()
			if err != nil {
				return err
			}
			f.KubeVersion = KubeMajorMinor(v.Major, v.Minor, v.GitVersion)
			return nil
		})
	}
	var cv *configv1.ClusterVersion
	if c.Config != nil {
		call("openshiftVersion", func(ctx context.Context) error {
			v, err := c.Config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
			if err != nil {
				return ignoreMissingAPI(err)
			}
			cv = v
			f.OpenShiftVersion = v.Status.Desired.Version
			if f.OpenShiftVersion == "" {
				for _, h := range v.Status.History {
					if h.State == configv1.CompletedUpdate {
						f.OpenShiftVersion = h.Version
						break
					}
				}
			}
			return nil
		})
		call("registryHostname", func(ctx context.Context) error {
			img, err := c.Config.ConfigV1().Images().Get(ctx, "cluster", metav1.GetOptions{})
			if err != nil {
				return ignoreMissingAPI(err)
			}
			f.RegistryHostname = img.Status.InternalRegistryHostname
			return nil
		})
		call("appsDomain", func(ctx context.Context) error {
			ing, err := c.Config.ConfigV1().Ingresses().Get(ctx, "cluster", metav1.GetOptions{})
			if err != nil {
				return ignoreMissingAPI(err)
			}
			f.AppsDomain = ing.Spec.Domain
			return nil
		})
	}
	if f.RegistryHostname == "" && c.Image != nil {
		call("registryHostname(imagestreams)", func(ctx context.Context) error {
			list, err := c.Image.ImageV1().ImageStreams("openshift").List(ctx, metav1.ListOptions{Limit: 20})
			if err != nil {
				return ignoreMissingAPI(err)
			}
			for _, is := range list.Items {
				if r, err := imageref.Parse(is.Status.DockerImageRepository); err == nil {
					f.RegistryHostname = r.Host
					break
				}
			}
			return nil
		})
	}
	if f.RegistryHostname == "" && c.Kube != nil {
		call("registryHostname(service)", func(ctx context.Context) error {
			svc, err := c.Kube.CoreV1().Services("default").Get(ctx, "docker-registry", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(svc.Spec.Ports) > 0 {
				f.RegistryHostname = fmt.Sprintf("docker-registry.default.svc:%d", svc.Spec.Ports[0].Port)
			}
			return nil
		})
	}
	f.RegistryEnabled = f.RegistryHostname != "" && capabilityEnabled(cv, configv1.ClusterVersionCapabilityImageRegistry)
	if f.RegistryEnabled && c.ImageRegistry != nil {
		call("registryEnabled", func(ctx context.Context) error {
			cfg, err := c.ImageRegistry.ImageregistryV1().Configs().Get(ctx, "cluster", metav1.GetOptions{})
			if err != nil {
				return ignoreMissingAPI(err)
			}
			if cfg.Spec.ManagementState == operatorv1.Removed {
				f.RegistryEnabled = false
			}
			return nil
		})
	}
	return f
}

// capabilityEnabled: a capability is disabled only when the cluster knows it and did not enable it.
func capabilityEnabled(cv *configv1.ClusterVersion, capability configv1.ClusterVersionCapability) bool {
	if cv == nil {
		return true
	}
	known := false
	for _, c := range cv.Status.Capabilities.KnownCapabilities {
		known = known || c == capability
	}
	if !known {
		return true
	}
	for _, c := range cv.Status.Capabilities.EnabledCapabilities {
		if c == capability {
			return true
		}
	}
	return false
}

// ignoreMissingAPI treats "this API group is not served" (plain Kubernetes, 3.x) like not found.
func ignoreMissingAPI(err error) error {
	if apierrors.IsNotFound(err) || strings.Contains(err.Error(), "the server could not find the requested resource") {
		return nil
	}
	return err
}

var leadingDigits = regexp.MustCompile(`^\d+`)
var gitVersion = regexp.MustCompile(`^v?(\d+)\.(\d+)`)

// KubeMajorMinor normalises a discovery answer to "major.minor", tolerating "11+" minors and
// answers that only carry a gitVersion.
func KubeMajorMinor(major, minor, git string) string {
	ma, mi := leadingDigits.FindString(major), leadingDigits.FindString(minor)
	if ma != "" && mi != "" {
		return ma + "." + mi
	}
	if m := gitVersion.FindStringSubmatch(git); m != nil {
		return m[1] + "." + m[2]
	}
	return ""
}

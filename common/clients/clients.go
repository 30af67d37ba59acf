// Package clients builds the API clients an action needs from in-cluster configuration or
// KUBECONFIG, lazily, so that starting a plugin binary never touches a cluster and so that actions
// receive narrow client interfaces through their constructors instead of package singletons.
package clients

import (
	"fmt"
	"sync"
	"time"

	configclient "github.com/openshift/client-go/config/clientset/versioned"
	imageclient "github.com/openshift/client-go/image/clientset/versioned"
	imageregistryclient "github.com/openshift/client-go/imageregistry/clientset/versioned"
	securityclient "github.com/openshift/client-go/security/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Set is the lazily built collection of clients of one cluster. The zero value is not usable:
// build it with New or NewForConfig.
type Set struct {
	load func() (*rest.Config, error)

	once          sync.Once
	err           error
	kube          kubernetes.Interface
	dynamic       dynamic.Interface
	config        configclient.Interface
	image         imageclient.Interface
	imageRegistry imageregistryclient.Interface
	security      securityclient.Interface
}

// New returns a Set for the cluster the process runs in (in-cluster config), or the one named by
// KUBECONFIG / ~/.kube/config when not in a pod.
func New() *Set { return &Set{load: loadConfig} }

// NewForConfig returns a Set for an explicit REST config (tests, tools).
func NewForConfig(c *rest.Config) *Set {
	return &Set{load: func() (*rest.Config, error) { return rest.CopyConfig(c), nil }}
}

func loadConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster configuration (in-cluster or KUBECONFIG): %w", err)
	}
	return cfg, nil
}

func (s *Set) init() error {
	s.once.Do(func() {
		cfg, err := s.load()
		if err != nil {
			s.err = err
			return
		}
		// Per-request bound: a plugin must never hang a backup on an unresponsive apiserver.
		if cfg.Timeout == 0 {
			cfg.Timeout = 30 * time.Second
		}
		cfg.QPS, cfg.Burst = 50, 100
		cfg.UserAgent = "openshift-velero-plugins"
		if s.kube, err = kubernetes.NewForConfig(cfg); err == nil {
			if s.dynamic, err = dynamic.NewForConfig(cfg); err == nil {
				if s.config, err = configclient.NewForConfig(cfg); err == nil {
					if s.image, err = imageclient.NewForConfig(cfg); err == nil {
						if s.imageRegistry, err = imageregistryclient.NewForConfig(cfg); err == nil {
							s.security, err = securityclient.NewForConfig(cfg)
						}
					}
				}
			}
		}
		if err != nil {
			s.err = fmt.Errorf("building API clients: %w", err)
		}
	})
	return s.err
}

// built returns *client once s is initialised. init runs in its own statement first: in
// "return s.kube, s.init()" Go leaves unspecified whether s.kube is read before or after init
// fills it in.
func built[T any](s *Set, client *T) (T, error) {
	err := s.init()
	return *client, err
}

// Kube returns the Kubernetes clientset.
func (s *Set) Kube() (kubernetes.Interface, error) { return built(s, &s.kube) }

// Dynamic returns the dynamic client (for Velero's own resources and generic reads).
func (s *Set) Dynamic() (dynamic.Interface, error) { return built(s, &s.dynamic) }

// Config returns the OpenShift config.openshift.io clientset.
func (s *Set) Config() (configclient.Interface, error) { return built(s, &s.config) }

// Image returns the OpenShift image.openshift.io clientset.
func (s *Set) Image() (imageclient.Interface, error) { return built(s, &s.image) }

// ImageRegistry returns the imageregistry.operator.openshift.io clientset.
func (s *Set) ImageRegistry() (imageregistryclient.Interface, error) {
	return built(s, &s.imageRegistry)
}

// Security returns the OpenShift security.openshift.io clientset.
func (s *Set) Security() (securityclient.Interface, error) { return built(s, &s.security) }

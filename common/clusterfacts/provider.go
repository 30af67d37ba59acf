package clusterfacts

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	operatorv1 "github.com/openshift/api/operator/v1"
	configclient "github.com/openshift/client-go/config/clientset/versioned"
	imageclient "github.com/openshift/client-go/image/clientset/versioned"
	imageregistryclient "github.com/openshift/client-go/imageregistry/clientset/versioned"
	"github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"

	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/retry"
)

// Clients are the clients discovery uses; any may be nil (those lookups have no answer to give:
// the facts they feed are absent, not unknown).
type Clients struct {
	Kube          kubernetes.Interface
	Config        configclient.Interface
	Image         imageclient.Interface
	ImageRegistry imageregistryclient.Interface
}

// DefaultTimeout bounds each discovery call. Only a definite answer (found, not found, API not
// served) is cached; other failures are retried as package retry describes, and a lookup that
// timed out, or still cannot reach the server after its attempts, ends the call's lookups (the
// others would fail the same way). Facts already known are never asked again.
const DefaultTimeout = 5 * time.Second

// The lookups, in the order they run.
type lookupID int

const (
	lookupKube lookupID = iota
	lookupClusterVersion
	lookupImageConfig
	lookupIngress
	lookupImageStreams
	lookupRegistryService
	lookupRegistryConfig
	numLookups
)

var lookupNames = [numLookups]string{
	"discovery /version",
	"clusterversions.config.openshift.io/version",
	"images.config.openshift.io/cluster",
	"ingresses.config.openshift.io/cluster",
	"imagestreams in namespace openshift",
	"service default/docker-registry",
	"configs.imageregistry.operator.openshift.io/cluster",
}

// registrySources answer the registry hostname, first that answers wins (SPEC §2).
var registrySources = []lookupID{lookupImageConfig, lookupImageStreams, lookupRegistryService}

type lookupState struct {
	done     bool  // answered (the answer is in answers; none is an answer too)
	failures int   // failed attempts since the last answer
	err      error // the last failure, while not done
}

// answers are what the lookups answered.
type answers struct {
	kubeVersion     string
	cv              *configv1.ClusterVersion
	registryHost    [numLookups]string // by the source that answered it
	externalHosts   []string
	appsDomain      string
	registryRemoved bool
}

// Provider discovers facts lazily and caches each definite answer for the life of the process;
// lookups that failed are retried on later calls (see DefaultTimeout).
type Provider struct {
	clients func() (Clients, error)
	log     logrus.FieldLogger
	timeout time.Duration
	policy  retry.Policy

	mu       sync.Mutex
	built    *Clients
	state    [numLookups]lookupState
	ans      answers
	facts    Facts
	unknown  Unknowns
	tried    bool // a lookup round has run
	complete bool // every fact is known: nothing is ever looked up again
	coolDown retry.CoolDown
	warned   bool // the warning that facts are unknown was logged
}

// NewProvider returns a Provider that builds its clients on first use.
func NewProvider(clients func() (Clients, error), log logrus.FieldLogger) *Provider {
	return &Provider{clients: clients, log: log, timeout: DefaultTimeout, policy: retry.Default()}
}

// Facts returns the facts, looking up those not known yet unless a recent attempt failed (then
// they stay empty until the cool-down ends).
func (p *Provider) Facts(ctx context.Context) Facts {
	f, _ := p.Lookup(ctx)
	return f
}

// Lookup returns the facts and which of them are unknown, and why.
func (p *Provider) Lookup(ctx context.Context) (Facts, Unknowns) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.complete && (!p.tried || p.coolDown.Left(p.policy) == 0) {
		p.refresh(ctx)
	}
	f := p.facts
	f.RegistryExternalHostnames = slices.Clone(f.RegistryExternalHostnames)
	return f, slices.Clone(p.unknown)
}

// Discover queries the cluster for its facts now, each call bounded by timeout and retried as a
// Provider's first call is; facts still unknown are empty.
func Discover(ctx context.Context, c Clients, timeout time.Duration, log logrus.FieldLogger) Facts {
	p := NewProvider(func() (Clients, error) { return c, nil }, log)
	p.timeout = timeout
	return p.Facts(ctx)
}

// refresh runs one round of the lookups that have no answer yet.
func (p *Provider) refresh(ctx context.Context) {
	p.tried = true
	before := p.unknown
	if p.built == nil {
		c, err := p.clients()
		if err != nil {
			err = fmt.Errorf("no API clients: %w", err)
			p.unknown = nil
			for _, f := range []string{FactKubeVersion, FactOpenShiftVersion, FactRegistryHostname, FactRegistryExternalHostnames, FactAppsDomain, FactRegistryEnabled} {
				p.unknown = append(p.unknown, Unknown{Fact: f, Lookup: "cluster facts", Err: err})
			}
			p.failed()
			return
		}
		p.built = &c
	}
	p.round(ctx, *p.built)
	p.facts, p.unknown = p.assemble()
	if len(p.unknown) == 0 {
		p.complete = true
	} else {
		p.failed()
	}
	if before == nil || len(p.unknown) < len(before) {
		entry := p.log.WithFields(logrus.Fields{
			"kubeVersion": p.facts.KubeVersion, "openshiftVersion": p.facts.OpenShiftVersion,
			"registryHostname": p.facts.RegistryHostname, "registryExternalHostnames": p.facts.RegistryExternalHostnames,
			"appsDomain":      p.facts.AppsDomain,
			"registryEnabled": p.facts.RegistryEnabled,
		})
		if len(p.unknown) > 0 {
			entry = entry.WithField("unknown", p.unknown.names())
		}
		entry.Info("discovered cluster facts")
	}
}

// failed starts or extends the cool-down after a round that left facts unknown, and says so
// once per run of failures.
func (p *Provider) failed() {
	p.coolDown.Start(p.policy)
	msgs := make([]string, 0, len(p.unknown))
	for _, u := range p.unknown {
		msgs = append(msgs, u.Error())
	}
	if !p.warned {
		p.warned = true
		p.log.Warnf("cluster facts unknown, looked up again at most every %s (items that need them are warned): %s",
			p.policy.MaxCool, strings.Join(msgs, "; "))
		return
	}
	p.log.Debugf("cluster facts still unknown: %s", strings.Join(msgs, "; "))
}

func (us Unknowns) names() []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.Fact)
	}
	return out
}

// round runs the lookups without an answer, in order. A quick failure is retried within the
// round; a timeout, or a server still unreachable after the attempts, ends the round (the
// remaining lookups are not tried and keep that cause).
func (p *Provider) round(ctx context.Context, c Clients) {
	var down error
	try := func(id lookupID, client bool, fn func(context.Context) error) {
		s := &p.state[id]
		switch {
		case s.done:
			return
		case !client:
			s.done = true // nothing to ask: the fact is absent, not unknown
			return
		case down != nil:
			s.err = fmt.Errorf("not tried: %w", down)
			return
		}
		for attempt := 1; ; attempt++ {
			cctx, cancel := context.WithTimeout(ctx, p.timeout)
			err := fn(cctx)
			cancel()
			if err == nil || definite(err) {
				if s.failures > 0 {
					p.log.Infof("cluster fact lookup %s answered after %d failed attempts (last error: %v)", lookupNames[id], s.failures, s.err)
				}
				*s = lookupState{done: true}
				return
			}
			s.failures++
			s.err = err
			if !p.policy.Again(ctx, attempt, err) {
				if retry.Unreachable(err) {
					down = err
				}
				return
			}
		}
	}
	a := &p.ans
	hostFound := func() bool { return slices.ContainsFunc(a.registryHost[:], func(h string) bool { return h != "" }) }

	try(lookupKube, c.Kube != nil, func(ctx context.Context) error {
		v, err := serverVersion(ctx, c.Kube)
		if err == nil {
			a.kubeVersion = KubeMajorMinor(v.Major, v.Minor, v.GitVersion)
		}
		return err
	})
	try(lookupClusterVersion, c.Config != nil, func(ctx context.Context) error {
		v, err := c.Config.ConfigV1().ClusterVersions().Get(ctx, "version", metav1.GetOptions{})
		if err == nil {
			a.cv = v
		}
		return err
	})
	try(lookupImageConfig, c.Config != nil, func(ctx context.Context) error {
		img, err := c.Config.ConfigV1().Images().Get(ctx, "cluster", metav1.GetOptions{})
		if err == nil {
			a.registryHost[lookupImageConfig] = img.Status.InternalRegistryHostname
			a.externalHosts = img.Status.ExternalRegistryHostnames
		}
		return err
	})
	try(lookupIngress, c.Config != nil, func(ctx context.Context) error {
		ing, err := c.Config.ConfigV1().Ingresses().Get(ctx, "cluster", metav1.GetOptions{})
		if err == nil {
			// Route hosts are generated on appsDomain when it is set.
			a.appsDomain = ing.Spec.AppsDomain
			if a.appsDomain == "" {
				a.appsDomain = ing.Spec.Domain
			}
		}
		return err
	})
	if !hostFound() {
		try(lookupImageStreams, c.Image != nil, func(ctx context.Context) error {
			list, err := c.Image.ImageV1().ImageStreams("openshift").List(ctx, metav1.ListOptions{Limit: 20})
			if err != nil {
				return err
			}
			for _, is := range list.Items {
				if r, err := imageref.Parse(is.Status.DockerImageRepository); err == nil {
					a.registryHost[lookupImageStreams] = r.Host
					break
				}
			}
			return nil
		})
	}
	if !hostFound() {
		try(lookupRegistryService, c.Kube != nil, func(ctx context.Context) error {
			svc, err := c.Kube.CoreV1().Services("default").Get(ctx, "docker-registry", metav1.GetOptions{})
			if err == nil && len(svc.Spec.Ports) > 0 {
				a.registryHost[lookupRegistryService] = fmt.Sprintf("docker-registry.default.svc:%d", svc.Spec.Ports[0].Port)
			}
			return err
		})
	}
	if hostFound() && capabilityEnabled(a.cv, configv1.ClusterVersionCapabilityImageRegistry) {
		try(lookupRegistryConfig, c.ImageRegistry != nil, func(ctx context.Context) error {
			cfg, err := c.ImageRegistry.ImageregistryV1().Configs().Get(ctx, "cluster", metav1.GetOptions{})
			if err == nil {
				a.registryRemoved = cfg.Spec.ManagementState == operatorv1.Removed
			}
			return err
		})
	}
}

// serverVersion asks discovery, which takes no context, bounded by ctx all the same: a server
// that does not answer must not hold the item for the client's own (longer) timeout.
func serverVersion(ctx context.Context, kube kubernetes.Interface) (*version.Info, error) {
	type result struct {
		v   *version.Info
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := kube.Discovery().ServerVersion()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// assemble derives the facts from the answers so far, and which are unknown.
func (p *Provider) assemble() (Facts, Unknowns) {
	a, st := &p.ans, &p.state
	var f Facts
	var unknown Unknowns
	unknownIf := func(fact string, id lookupID) bool {
		if st[id].done {
			return false
		}
		unknown = append(unknown, Unknown{Fact: fact, Lookup: lookupNames[id], Err: st[id].err})
		return true
	}
	f.KubeVersion = a.kubeVersion
	unknownIf(FactKubeVersion, lookupKube)
	if cv := a.cv; cv != nil {
		f.OpenShiftVersion = cv.Status.Desired.Version
		if f.OpenShiftVersion == "" {
			for _, h := range cv.Status.History {
				if h.State == configv1.CompletedUpdate {
					f.OpenShiftVersion = h.Version
					break
				}
			}
		}
	}
	unknownIf(FactOpenShiftVersion, lookupClusterVersion)
	// The registry host: the first source in order that answered one. With none, it is unknown
	// while any source has no answer.
	var hostUnknown *lookupID
	for _, id := range registrySources {
		if h := a.registryHost[id]; h != "" {
			f.RegistryHostname = h
			break
		}
	}
	if f.RegistryHostname == "" {
		for _, id := range registrySources {
			if unknownIf(FactRegistryHostname, id) {
				hostUnknown = &id
				break
			}
		}
	}
	f.RegistryExternalHostnames = a.externalHosts
	unknownIf(FactRegistryExternalHostnames, lookupImageConfig)
	f.AppsDomain = a.appsDomain
	unknownIf(FactAppsDomain, lookupIngress)
	// Enabled unless the capability is known and disabled or the operator config is Removed; when
	// one of those is unknown the guess is "enabled" (a bounded wait for pull secrets).
	capability := capabilityEnabled(a.cv, configv1.ClusterVersionCapabilityImageRegistry)
	f.RegistryEnabled = f.RegistryHostname != "" && capability && !a.registryRemoved
	switch {
	case hostUnknown != nil:
		unknown = append(unknown, Unknown{Fact: FactRegistryEnabled, Lookup: lookupNames[*hostUnknown], Err: st[*hostUnknown].err})
	case f.RegistryHostname == "" || a.registryRemoved:
	case !st[lookupClusterVersion].done:
		unknownIf(FactRegistryEnabled, lookupClusterVersion)
	case capability:
		unknownIf(FactRegistryEnabled, lookupRegistryConfig)
	}
	return f, unknown
}

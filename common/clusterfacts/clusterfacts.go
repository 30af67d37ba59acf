// Package clusterfacts discovers the facts about the cluster a plugin runs on (versions, internal
// registry hostname, apps domain, whether the registry is enabled) lazily, each lookup with its
// own short timeout, and caches every definite answer for the life of the process. A cached
// answer keeps the per-item cost of an action at zero API calls, which is what keeps a backup of
// thousands of items fast. A lookup that failed without an answer is not cached: it is retried on
// later calls (see Provider), and until then the fact is reported as Unknown so that an item
// that needs it can say why it was not rewritten.
package clusterfacts

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	configv1 "github.com/openshift/api/config/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Facts describes one cluster. Empty strings mean "not present" or, when the Source reports the
// fact as Unknown, "not known yet".
type Facts struct {
	KubeVersion      string // "major.minor"
	OpenShiftVersion string // e.g. "4.16.3"; empty on plain Kubernetes
	RegistryHostname string // internal registry host[:port]
	// RegistryExternalHostnames are the other names the internal registry is reached by
	// (images.config.openshift.io status.externalRegistryHostnames, e.g. its default route).
	RegistryExternalHostnames []string
	AppsDomain                string // where route hosts are generated: ingress appsDomain, else domain
	RegistryEnabled           bool   // the integrated registry runs and mints pull secrets
}

// Names of the facts, as Unknown reports them.
const (
	FactKubeVersion      = "kubeVersion"
	FactOpenShiftVersion = "openshiftVersion"
	FactRegistryHostname = "registryHostname"
	// FactRegistryExternalHostnames is unknown while images.config.openshift.io/cluster has no
	// answer, even when another source gave the registry hostname.
	FactRegistryExternalHostnames = "registryExternalHostnames"
	FactAppsDomain                = "appsDomain"
	FactRegistryEnabled           = "registryEnabled"
)

// Unknown is a fact whose lookup failed without a definite answer (anything but found, not found
// or API not served: a timeout, a 5xx, a 403, no connection). Its value in Facts is a guess: empty,
// or true for RegistryEnabled when only the capability or the operator config is unknown.
type Unknown struct {
	Fact   string // FactRegistryHostname, ...
	Lookup string // what was asked, e.g. "images.config.openshift.io/cluster"
	Err    error  // why it has no answer
}

func (u Unknown) Error() string { return fmt.Sprintf("%s unknown (%s: %v)", u.Fact, u.Lookup, u.Err) }

// Unwrap returns the cause.
func (u Unknown) Unwrap() error { return u.Err }

// Unknowns are the facts a Source could not establish yet.
type Unknowns []Unknown

// Of returns the Unknown of fact, if that fact is unknown.
func (us Unknowns) Of(fact string) (Unknown, bool) {
	for _, u := range us {
		if u.Fact == fact {
			return u, true
		}
	}
	return Unknown{}, false
}

// Without returns us less the given facts (those an override supplies).
func (us Unknowns) Without(facts ...string) Unknowns {
	var out Unknowns
	for _, u := range us {
		drop := false
		for _, f := range facts {
			drop = drop || u.Fact == f
		}
		if !drop {
			out = append(out, u)
		}
	}
	return out
}

// Source answers the facts of the local cluster.
type Source interface {
	Facts(ctx context.Context) Facts
}

// Reporter is a Source that also says which facts are still unknown and why.
type Reporter interface {
	Source
	Lookup(ctx context.Context) (Facts, Unknowns)
}

// Get returns the facts of s and, when s is a Reporter, which of them are unknown. Any other
// Source (Static) knows every fact it gives.
func Get(ctx context.Context, s Source) (Facts, Unknowns) {
	if r, ok := s.(Reporter); ok {
		return r.Lookup(ctx)
	}
	return s.Facts(ctx), nil
}

// Static is a fixed Source (tests, and callers that already know the facts).
type Static Facts

// Facts returns the fixed facts.
func (s Static) Facts(context.Context) Facts { return Facts(s) }

// Partial is a fixed Reporter: facts of which some are unknown (tests of what items do then).
type Partial struct {
	Known   Facts
	Unknown Unknowns
}

// Facts returns the fixed facts.
func (p Partial) Facts(context.Context) Facts { return p.Known }

// Lookup returns the fixed facts and unknowns.
func (p Partial) Lookup(context.Context) (Facts, Unknowns) { return p.Known, p.Unknown }

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

// definite reports an error that is an answer: the object is not there, or its API is not served
// (plain Kubernetes, OpenShift 3.x), so the fact is definitely absent.
func definite(err error) bool {
	return apierrors.IsNotFound(err) || strings.Contains(err.Error(), "the server could not find the requested resource")
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

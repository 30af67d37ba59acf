// Package imageref is the one implementation of image reference handling (SPEC §3): parsing,
// deciding whether a reference points into a cluster's internal registry, and rewriting it to the
// destination registry and namespace mapping.
package imageref

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/velero-openshift/plugins/common/nsmap"
)

// OpenShiftNamespace holds the shared builder images, which differ per cluster: references into it
// lose their digest when rewritten so they resolve to the destination's own image.
const OpenShiftNamespace = "openshift"

// Ref is a parsed image reference.
type Ref struct {
	Host       string // registry host[:port]
	Repository string // path below the host, e.g. "ns/name"
	Tag        string
	Digest     string
}

// Namespace is the first path segment of the repository (the OpenShift project).
func (r Ref) Namespace() string {
	ns, _, _ := strings.Cut(r.Repository, "/")
	return ns
}

// Name is the repository path after the namespace ("name" of "ns/name").
func (r Ref) Name() string {
	_, name, _ := strings.Cut(r.Repository, "/")
	return name
}

// String formats the reference as host/repository[:tag][@digest].
func (r Ref) String() string {
	var b strings.Builder
	if r.Host != "" {
		b.WriteString(r.Host)
		b.WriteByte('/')
	}
	b.WriteString(r.Repository)
	if r.Tag != "" {
		b.WriteByte(':')
		b.WriteString(r.Tag)
	}
	if r.Digest != "" {
		b.WriteByte('@')
		b.WriteString(r.Digest)
	}
	return b.String()
}

// ErrEmpty is returned for an empty reference.
var ErrEmpty = errors.New("empty image reference")

// Parse parses an image reference with the distribution reference grammar. A reference without a
// registry host gets Docker's normalisation (docker.io, library/).
func Parse(s string) (Ref, error) {
	if strings.TrimSpace(s) == "" {
		return Ref{}, ErrEmpty
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid image reference %q: %w", s, err)
	}
	r := Ref{Host: reference.Domain(named), Repository: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest().String()
	}
	return r, nil
}

// Aliases returns the other names that reach the registry at host, so references written with
// them count as internal too: the in-cluster service name in its other form
// (<svc>.<ns>.svc[:port] and <svc>.<ns>.svc.cluster.local[:port] are the same service) and the
// given external hostnames (images.config.openshift.io status.externalRegistryHostnames, which
// only the source cluster knows and the backup records). host itself, empty names and duplicates
// (case-insensitive) are left out; with no host there are none.
func Aliases(host string, external ...string) []string {
	if host == "" {
		return nil
	}
	var out []string
	add := func(name string) {
		name = strings.TrimSpace(name)
		if name == "" || strings.EqualFold(name, host) {
			return
		}
		for _, have := range out {
			if strings.EqualFold(have, name) {
				return
			}
		}
		out = append(out, name)
	}
	add(serviceTwin(host))
	for _, e := range external {
		add(e)
	}
	return out
}

// clusterDomain is the cluster DNS domain of OpenShift, which cannot be changed.
const clusterDomain = ".cluster.local"

// serviceTwin returns the other form of an in-cluster service hostname ("" for any other host).
func serviceTwin(host string) string {
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i:]
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".svc"):
		return name + clusterDomain + port
	case strings.HasSuffix(lower, ".svc"+clusterDomain):
		return name[:len(name)-len(clusterDomain)] + port
	}
	return ""
}

// Rewriter moves internal references of a source registry to a destination registry, mapping the
// namespace segment. Either host empty makes it a no-op: with no known registry there is nothing
// to rewrite. A reference naming one of SourceAliases (see Aliases) is internal just as one
// naming SourceHost.
type Rewriter struct {
	SourceHost      string
	SourceAliases   []string
	DestinationHost string
	Mapping         nsmap.Mapping
}

// Active reports whether the rewriter can change anything.
func (w Rewriter) Active() bool { return w.SourceHost != "" && w.DestinationHost != "" }

// SourceHosts returns every name of the source registry: SourceHost first, then its aliases.
func (w Rewriter) SourceHosts() []string {
	if w.SourceHost == "" {
		return nil
	}
	return append([]string{w.SourceHost}, w.SourceAliases...)
}

// IsSource reports whether s names an image in the source registry, under any of its names.
func (w Rewriter) IsSource(s string) bool {
	if w.SourceHost == "" || !w.hasSourcePrefix(s) {
		return false
	}
	r, err := Parse(s)
	return err == nil && w.isSourceHost(r.Host)
}

// Rewrite returns the destination form of s and whether it changed. External and empty references
// are returned unchanged. An error means s looks internal (starts with a source host) but does not
// parse: the caller must report it instead of restoring a reference that points nowhere.
func (w Rewriter) Rewrite(s string) (string, bool, error) {
	// An internal reference names a source host literally; anything else is external and never
	// touched (this also skips parsing for the common case of external images).
	if !w.Active() || !w.hasSourcePrefix(s) {
		return s, false, nil
	}
	r, err := Parse(s)
	if err != nil {
		return s, false, err
	}
	if !w.isSourceHost(r.Host) {
		return s, false, nil
	}
	out := w.RewriteRef(r)
	return out.String(), out.String() != s, nil
}

func (w Rewriter) hasSourcePrefix(s string) bool {
	if hasHostPrefix(s, w.SourceHost) {
		return true
	}
	for _, a := range w.SourceAliases {
		if hasHostPrefix(s, a) {
			return true
		}
	}
	return false
}

func (w Rewriter) isSourceHost(host string) bool {
	if strings.EqualFold(host, w.SourceHost) {
		return true
	}
	for _, a := range w.SourceAliases {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// RewriteRef rewrites a parsed internal reference (the caller has checked it is internal).
func (w Rewriter) RewriteRef(r Ref) Ref {
	ns := r.Namespace()
	if ns == OpenShiftNamespace {
		r.Digest = ""
	}
	r.Host = w.DestinationHost
	if rest := r.Name(); rest != "" {
		r.Repository = w.Mapping.Map(ns) + "/" + rest
	}
	return r
}

// MapNamespace maps a namespace through the rewriter's mapping.
func (w Rewriter) MapNamespace(ns string) string { return w.Mapping.Map(ns) }

func hasHostPrefix(s, host string) bool {
	return host != "" && len(s) > len(host) && strings.EqualFold(s[:len(host)], host) && s[len(host)] == '/'
}

package imageref

import (
	"reflect"
	"strings"
	"testing"

	"github.com/velero-openshift/plugins/common/nsmap"
)

const (
	src = "image-registry.openshift-image-registry.svc:5000"
	dst = "registry.b.example.com"
	dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestRewrite(t *testing.T) {
	w := Rewriter{SourceHost: src, DestinationHost: dst, Mapping: nsmap.Mapping{"app": "app-b"}}
	tests := []struct {
		name, in, want string
		changed, err   bool
	}{
		{"tag", src + "/app/web:v1", dst + "/app-b/web:v1", true, false},
		{"digest kept", src + "/app/web@" + dig, dst + "/app-b/web@" + dig, true, false},
		{"tag and digest", src + "/app/web:v1@" + dig, dst + "/app-b/web:v1@" + dig, true, false},
		{"unmapped namespace", src + "/other/web:v1", dst + "/other/web:v1", true, false},
		{"openshift drops digest", src + "/openshift/ruby@" + dig, dst + "/openshift/ruby", true, false},
		{"openshift keeps tag", src + "/openshift/ruby:3.0@" + dig, dst + "/openshift/ruby:3.0", true, false},
		{"no tag", src + "/app/web", dst + "/app-b/web", true, false},
		{"external untouched", "quay.io/app/web:v1", "quay.io/app/web:v1", false, false},
		{"docker hub short name untouched", "nginx", "nginx", false, false},
		{"host with other port untouched", "image-registry.openshift-image-registry.svc:5001/app/web", "image-registry.openshift-image-registry.svc:5001/app/web", false, false},
		{"host case-insensitive", "Image-Registry.openshift-image-registry.svc:5000/app/web:v1", dst + "/app-b/web:v1", true, false},
		{"empty", "", "", false, false},
		{"bad internal", src + "/App/Web:v1", src + "/App/Web:v1", false, true},
		{"bad external ignored", "quay.io/App/Web:v1", "quay.io/App/Web:v1", false, false},
		{"single segment internal", src + "/web:v1", dst + "/web:v1", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := w.Rewrite(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if got != tt.want || changed != tt.changed {
				t.Fatalf("Rewrite(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestRewriteInactive(t *testing.T) {
	for _, w := range []Rewriter{{SourceHost: src}, {DestinationHost: dst}, {}} {
		got, changed, err := w.Rewrite(src + "/app/web:v1")
		if err != nil || changed || got != src+"/app/web:v1" {
			t.Fatalf("inactive rewriter %+v changed the reference: %q %v %v", w, got, changed, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		err  bool
	}{
		{in: "nginx", want: Ref{Host: "docker.io", Repository: "library/nginx"}},
		{in: src + "/ns/a/b:t@" + dig, want: Ref{Host: src, Repository: "ns/a/b", Tag: "t", Digest: dig}},
		{in: "", err: true},
		{in: "docker.io/UPPER/case", err: true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// FuzzRewrite checks that rewriting never panics, never touches references of other registries,
// and always produces a parsable reference on the destination host.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{src + "/app/web:v1", "nginx", src + "/openshift/x@" + dig, src + "/", "::::", src + "/a/b/c:d"} {
		f.Add(s, "app", "app-b")
	}
	f.Fuzz(func(t *testing.T, in, from, to string) {
		w := Rewriter{SourceHost: src, DestinationHost: dst, Mapping: nsmap.Mapping{from: to}}
		out, changed, err := w.Rewrite(in)
		if err != nil || !changed {
			if out != in {
				t.Fatalf("unchanged result %q differs from input %q", out, in)
			}
			return
		}
		r, perr := Parse(out)
		if perr != nil {
			// A mapping target that is not a valid namespace can make the output unparsable;
			// that is only acceptable when the mapping itself is invalid.
			if _, merr := Parse(dst + "/" + to + "/x"); merr == nil {
				t.Fatalf("rewrite of %q produced unparsable %q: %v", in, out, perr)
			}
			return
		}
		if perr == nil && r.Host != dst {
			t.Fatalf("rewrite of %q landed on host %q", in, r.Host)
		}
	})
}

func TestAliases(t *testing.T) {
	const route = "default-route-openshift-image-registry.apps.a.example.com"
	tests := []struct {
		host     string
		external []string
		want     []string
	}{
		{src, []string{route}, []string{"image-registry.openshift-image-registry.svc.cluster.local:5000", route}},
		{"image-registry.openshift-image-registry.svc.cluster.local:5000", nil, []string{src}},
		{"docker-registry.default.svc:5000", nil, []string{"docker-registry.default.svc.cluster.local:5000"}},
		{"registry.svc", nil, []string{"registry.svc.cluster.local"}},
		{"172.30.1.1:5000", []string{"", " ", "172.30.1.1:5000", route, strings.ToUpper(route)}, []string{route}},
		{"", []string{route}, nil},
	}
	for _, tt := range tests {
		if got := Aliases(tt.host, tt.external...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Aliases(%q, %q) = %q, want %q", tt.host, tt.external, got, tt.want)
		}
	}
}

// The source registry's other names are the same registry: rewritten like the recorded host.
func TestRewriteSourceAliases(t *testing.T) {
	const route = "default-route-openshift-image-registry.apps.a.example.com"
	local := "image-registry.openshift-image-registry.svc.cluster.local:5000"
	w := Rewriter{SourceHost: src, SourceAliases: Aliases(src, route), DestinationHost: dst, Mapping: nsmap.Mapping{"app": "app-b"}}
	for _, tt := range []struct{ in, want string }{
		{local + "/app/web:v1", dst + "/app-b/web:v1"},
		{route + "/app/web@" + dig, dst + "/app-b/web@" + dig},
		{strings.ToUpper(route) + "/openshift/ruby:3.0@" + dig, dst + "/openshift/ruby:3.0"},
		{"registry.apps.a.example.com/app/web:v1", "registry.apps.a.example.com/app/web:v1"},
	} {
		got, _, err := w.Rewrite(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Rewrite(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if internal := tt.in != tt.want; w.IsSource(tt.in) != internal {
			t.Errorf("IsSource(%q) = %v, want %v", tt.in, !internal, internal)
		}
	}
	if _, _, err := w.Rewrite(route + "/App/Web:v1"); err == nil {
		t.Error("an unparsable reference under an alias is not reported")
	}
	if got := w.SourceHosts(); !reflect.DeepEqual(got, []string{src, local, route}) {
		t.Errorf("SourceHosts = %q", got)
	}
	if (Rewriter{SourceAliases: []string{route}}).IsSource(route + "/app/web:v1") {
		t.Error("aliases without a source host matched")
	}
}

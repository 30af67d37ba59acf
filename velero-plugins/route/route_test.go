package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/keys"
)

func route(host any, generated string) *unstructured.Unstructured {
	spec := map[string]any{
		"to":   map[string]any{"kind": "Service", "name": "web", "weight": int64(100)},
		"port": map[string]any{"targetPort": "8080-tcp"},
		"tls":  map[string]any{"termination": "edge"},
	}
	if host != nil {
		spec["host"] = host
	}
	r := actiontest.Object("route.openshift.io/v1", "Route", "app", "web", map[string]any{"spec": spec})
	r.SetLabels(map[string]string{"app": "web"})
	if generated != "" {
		r.SetAnnotations(map[string]string{keys.HostGenerated: generated})
	}
	return r
}

func registration(t testing.TB, kind action.Kind) action.Registration {
	t.Helper()
	for _, r := range Registrations() {
		if r.Kind == kind {
			return r
		}
	}
	t.Fatalf("no %s registered", kind)
	return action.Registration{}
}

// sourceEnv is the source cluster at backup, with apps domain domain ("" = none known).
func sourceEnv(domain string) action.Env {
	env := actiontest.Env()
	facts := actiontest.DestinationFacts
	facts.AppsDomain = domain
	env.Facts = clusterfacts.Static(facts)
	return env
}

// backedUp is r as the route backup action leaves it on a source whose apps domain is domain:
// the tests never record a domain on a route themselves.
func backedUp(t testing.TB, r *unstructured.Unstructured, domain string) *unstructured.Unstructured {
	t.Helper()
	out, _, err := actiontest.RunBackup(t, registration(t, action.KindBackup), sourceEnv(domain), r, actiontest.Backup())
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return out
}

func TestBackupRecordsAppsDomainOnGeneratedHosts(t *testing.T) {
	for _, tt := range []struct {
		name, generated, domain string
		recorded                bool
	}{
		{"generated", "true", actiontest.SourceApps, true},
		{"not generated", "", actiontest.SourceApps, false},
		{"annotation false", "false", actiontest.SourceApps, false},
		{"no known domain", "true", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			item := route("web-app."+actiontest.SourceApps, tt.generated)
			want := item.DeepCopy()
			if tt.recorded {
				want.SetAnnotations(map[string]string{keys.HostGenerated: tt.generated, keys.BackupAppsDomain: tt.domain})
			}
			if got := backedUp(t, item, tt.domain); !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("backed up %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

// A domain that could not be looked up is warned about, naming the fact; nothing is recorded.
func TestBackupWarnsWhenAppsDomainUnknown(t *testing.T) {
	env := actiontest.Env()
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	env.Log = log
	facts := actiontest.DestinationFacts
	facts.AppsDomain = ""
	env.Facts = clusterfacts.Partial{Known: facts, Unknown: clusterfacts.Unknowns{{
		Fact: clusterfacts.FactAppsDomain, Lookup: "ingresses.config.openshift.io/cluster", Err: errors.New("timeout")}}}
	out, _, err := actiontest.RunBackup(t, registration(t, action.KindBackup), env, route("web-app.x", "true"), actiontest.Backup())
	if err != nil || out.GetAnnotations()[keys.BackupAppsDomain] != "" {
		t.Fatalf("err %v annotations %v", err, out.GetAnnotations())
	}
	if !strings.Contains(logs.String(), "appsDomain") {
		t.Fatalf("no warning naming the unknown fact: %s", logs.String())
	}
}

func TestRestoreHost(t *testing.T) {
	generatedHost := "web-app." + actiontest.SourceApps
	tests := []struct {
		name      string
		host      any
		generated string
		domain    *string // source apps domain at backup; nil = actiontest.SourceApps
		mapping   map[string]string
		cleared   bool
		logged    string
	}{
		{name: "generated on the source domain", host: generatedHost, generated: "true", cleared: true},
		{name: "generated, namespace mapped", host: generatedHost, generated: "true", mapping: map[string]string{"app": "app2"}, cleared: true},
		{name: "generated, different case", host: "Web-App." + strings.ToUpper(actiontest.SourceApps), generated: "true", cleared: true},
		{name: "no recorded domain, generated form", host: "web-app.apps.anything.example", generated: "true", domain: ptr(""), cleared: true},
		{name: "no recorded domain, custom host", host: "shop.example.com", generated: "true", domain: ptr(""), logged: "customised"},
		{name: "no recorded domain, prefix alone", host: "web-app.", generated: "true", domain: ptr(""), logged: "customised"},
		{name: "annotation left behind on a customised host", host: "shop.example.com", generated: "true", logged: "customised"},
		{name: "generated form on another domain", host: "web-app.apps.other.example.com", generated: "true", logged: "customised"},
		{name: "another route's generated host", host: "api-app." + actiontest.SourceApps, generated: "true", logged: "customised"},
		{name: "customised host of the generated form", host: "web-app.shop.example.com", generated: "true", logged: "customised"},
		{name: "user-set host", host: generatedHost, generated: ""},
		{name: "annotation false", host: generatedHost, generated: "false"},
		{name: "no host", host: nil, generated: "true"},
		{name: "empty host", host: "", generated: "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain := actiontest.SourceApps
			if tt.domain != nil {
				domain = *tt.domain
			}
			item := backedUp(t, route(tt.host, tt.generated), domain)
			want := item.DeepCopy()
			if tt.cleared {
				delete(want.Object["spec"].(map[string]any), "host")
			}
			env := actiontest.Env()
			var logs bytes.Buffer
			log := logrus.New()
			log.SetOutput(&logs)
			env.Log = log
			out, err := actiontest.RunRestore(t, registration(t, action.KindRestore), env, item, actiontest.Restore(tt.mapping))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v, skip %v", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				g, _ := json.Marshal(got.Object)
				w, _ := json.Marshal(want.Object)
				t.Fatalf("object\n%s\nwant\n%s", g, w)
			}
			if tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Fatalf("log %q does not mention %q", logs.String(), tt.logged)
			}
		})
	}
}

func TestBadHostNamesField(t *testing.T) {
	for _, bad := range []*unstructured.Unstructured{
		route(3.0, "true"),
		actiontest.Object("route.openshift.io/v1", "Route", "app", "web", map[string]any{"spec": "x"}),
	} {
		_, err := actiontest.RunRestore(t, registration(t, action.KindRestore), actiontest.Env(), bad, actiontest.Restore(nil))
		actiontest.ErrorNames(t, err, "spec.host", "Route app/web")
	}
}

func TestGenerated(t *testing.T) {
	tests := []struct {
		host, name, ns, domain string
		want                   bool
	}{
		{"a-b.apps.x", "a", "b", "apps.x", true},
		{"a-b.apps.x", "a", "b", "apps.x.", true},
		{"a-b.apps.x", "a-b", "", "apps.x", false},
		{"a-b-c.apps.x", "a", "b-c", "apps.x", true},
		{"a-b-c.apps.x", "a-b", "c", "apps.x", true}, // the router's pattern is ambiguous the same way
		{"x.a-b.apps.x", "a", "b", "apps.x", false},
		{"a-b.apps.x", "a", "b", "", true},
		{"a-bc.apps.x", "a", "b", "", false},
	}
	for _, tt := range tests {
		if got := Generated(tt.host, tt.name, tt.ns, tt.domain); got != tt.want {
			t.Errorf("Generated(%q, %q, %q, %q) = %v, want %v", tt.host, tt.name, tt.ns, tt.domain, got, tt.want)
		}
	}
}

func FuzzExecute(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"web","namespace":"app","annotations":{"openshift.io/host.generated":"true"}},"spec":{"host":"web-app.apps.a.example.com"}}`))
	f.Add([]byte(`{"metadata":{"name":1,"annotations":[]},"spec":{"host":{}}}`))
	f.Add([]byte(`{"metadata":"x","spec":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "route.openshift.io/v1", "Route")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, registration(t, action.KindRestore), actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

func ptr(s string) *string { return &s }

// A route restored earlier from another cluster's backup carries that cluster's apps domain: a
// backup that knows no domain of its own drops it rather than pass it off as this cluster's.
func TestBackupDropsAppsDomainOfAnotherCluster(t *testing.T) {
	item := route("web-app.apps.old.example.com", "true")
	item.SetAnnotations(map[string]string{keys.HostGenerated: "true", keys.BackupAppsDomain: "apps.old.example.com"})
	if a := backedUp(t, item, "").GetAnnotations(); a[keys.BackupAppsDomain] != "" {
		t.Fatalf("annotations %v: the other cluster's apps domain was kept", a)
	}
}

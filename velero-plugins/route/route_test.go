package route

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
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

// admitted is r as backed up from a cluster whose default router admitted it on apps domain
// domain ("" = no router admitted it): the router's record in the route's status is where the
// restore finds the source apps domain. The tests never record a domain on a route themselves.
func admitted(r *unstructured.Unstructured, domain string) *unstructured.Unstructured {
	if domain == "" {
		return r
	}
	host, _, _ := unstructured.NestedString(r.Object, "spec", "host")
	r.Object["status"] = map[string]any{"ingress": []any{map[string]any{
		"host": host, "routerName": "default", "routerCanonicalHostname": "router-default." + domain, "wildcardPolicy": "None",
		"conditions": []any{map[string]any{"type": "Admitted", "status": "True"}}}}}
	return r
}

// recordedByEarlierVersion is r as backed up by earlier versions of this plugin, which recorded
// the source apps domain on generated routes in openshift.io/backup-apps-domain.
func recordedByEarlierVersion(r *unstructured.Unstructured, domain string) *unstructured.Unstructured {
	if domain == "" || r.GetAnnotations()[keys.HostGenerated] != "true" {
		return r
	}
	a := r.GetAnnotations()
	a[keys.BackupAppsDomain] = domain
	r.SetAnnotations(a)
	return r
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
	for _, record := range []struct {
		name string
		fn   func(*unstructured.Unstructured, string) *unstructured.Unstructured
	}{{"router status", admitted}, {"earlier version's annotation", recordedByEarlierVersion}} {
		for _, tt := range tests {
			t.Run(record.name+"/"+tt.name, func(t *testing.T) {
				domain := actiontest.SourceApps
				if tt.domain != nil {
					domain = *tt.domain
				}
				item := record.fn(route(tt.host, tt.generated), domain)
				want := actiontest.ResetLikeVelero(item.DeepCopy())
				if tt.cleared {
					delete(want.Object["spec"].(map[string]any), "host")
				}
				if record.name == "router status" && domain != "" && tt.generated == "true" && tt.host != nil && tt.host != "" {
					// The restore shows the domain it judged by, as earlier versions' backups did.
					a := want.GetAnnotations()
					a[keys.BackupAppsDomain] = domain
					want.SetAnnotations(a)
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
}

// The source router's record is current at backup; an openshift.io/backup-apps-domain annotation
// an earlier restore left on the route names the cluster it came from before. The router's
// domain decides, and only the default router's (the one generated hosts are made on).
func TestRestoreJudgesByTheSourceRouter(t *testing.T) {
	for _, tt := range []struct {
		name    string
		host    string
		ingress []any
		stale   string
		cleared bool
	}{
		{name: "router's domain over a stale annotation", host: "web-app.apps.b.example.com", stale: "apps.a.example.com",
			ingress: []any{map[string]any{"routerName": "default", "routerCanonicalHostname": "router-default.apps.b.example.com"}}, cleared: true},
		{name: "custom host of the form, router's domain over a stale one", host: "web-app.apps.a.example.com", stale: "apps.a.example.com",
			ingress: []any{map[string]any{"routerName": "default", "routerCanonicalHostname": "router-default.apps.b.example.com"}}},
		{name: "a sharded router's domain is not the apps domain", host: "web-app.shard.example.com",
			ingress: []any{map[string]any{"routerName": "shard", "routerCanonicalHostname": "router-shard.shard.example.com"},
				map[string]any{"routerName": "default", "routerCanonicalHostname": "router-default.apps.b.example.com"}}},
		{name: "only a sharded router: judged by the form", host: "web-app.shard.example.com",
			ingress: []any{map[string]any{"routerName": "shard", "routerCanonicalHostname": "router-shard.shard.example.com"}}, cleared: true},
		{name: "status of the wrong shape: judged by the form", host: "web-app.shard.example.com", ingress: []any{"default"}, cleared: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			item := route(tt.host, "true")
			if tt.stale != "" {
				item.SetAnnotations(map[string]string{keys.HostGenerated: "true", keys.BackupAppsDomain: tt.stale})
			}
			item.Object["status"] = map[string]any{"ingress": tt.ingress}
			out, err := actiontest.RunRestore(t, registration(t, action.KindRestore), actiontest.Env(), item, actiontest.Restore(nil))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := action.Object(out.UpdatedItem)
			host, found, _ := unstructured.NestedString(got.Object, "spec", "host")
			if tt.cleared == found {
				t.Fatalf("spec.host = %q (present %v), want cleared %v", host, found, tt.cleared)
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

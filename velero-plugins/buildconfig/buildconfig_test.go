package buildconfig

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

// destination returns the objects of a destination namespace where the service account sa has
// minted its dockercfg secret named secret (4.16+ annotations).
func destination(ns, sa, secret string) []runtime.Object {
	return []runtime.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa, UID: types.UID("uid-" + sa),
			Annotations: map[string]string{keys.InternalRegistryPullSecretRef: secret}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret,
			Annotations: map[string]string{keys.InternalRegistryAuthTokenSA: sa}}, Type: corev1.SecretTypeDockercfg},
	}
}

func finder(objs ...runtime.Object) (*pullsecret.Finder, *fake.Clientset) {
	c := fake.NewSimpleClientset(objs...)
	return &pullsecret.Finder{Client: c.CoreV1(), Poll: 10 * time.Millisecond}, c
}

func env(wait time.Duration, registryEnabled bool) action.Env {
	e := actiontest.Env()
	cfg := config.Default()
	cfg.PullSecretWait = wait
	e.Config = config.Static(cfg)
	facts := actiontest.DestinationFacts
	facts.RegistryEnabled = registryEnabled
	e.Facts = clusterfacts.Static(facts)
	return e
}

func ref(kind, name, ns string) map[string]any {
	m := map[string]any{"kind": kind, "name": name}
	if ns != "" {
		m["namespace"] = ns
	}
	return m
}

func named(name string) map[string]any { return map[string]any{"name": name} }

// buildConfig is a realistic BuildConfig in namespace app with every reference field set.
func buildConfig(spec map[string]any) *unstructured.Unstructured {
	bc := actiontest.Object("build.openshift.io/v1", "BuildConfig", "app", "web", map[string]any{"spec": spec})
	bc.SetLabels(map[string]string{"app": "web"})
	return bc
}

// fullSpec builds the spec with DockerImage references into registry/imageNS and ImageStreamTag
// references into ns.
func fullSpec(registry, imageNS, ns, pushSecret, pullSecret string) map[string]any {
	return map[string]any{
		"runPolicy": "Serial",
		"source": map[string]any{
			"type": "Git",
			"git":  map[string]any{"uri": "https://example.com/web.git", "ref": "main"},
			"images": []any{
				map[string]any{"from": ref("DockerImage", registry+"/"+imageNS+"/assets:1", ""), "pullSecret": named(pullSecret),
					"paths": []any{map[string]any{"sourcePath": "/srv", "destinationDir": "assets"}}},
				map[string]any{"from": ref("ImageStreamTag", "tools:latest", ns), "pullSecret": named("my-registry-creds")},
				map[string]any{"from": ref("DockerImage", "quay.io/org/tools:2", "")},
			},
			"sourceSecret": named("git-creds"),
		},
		"strategy": map[string]any{
			"type": "Source",
			"sourceStrategy": map[string]any{
				"from":       ref("ImageStreamTag", "ruby:3.1", "openshift"),
				"pullSecret": named(pullSecret),
				"env":        []any{map[string]any{"name": "RACK_ENV", "value": "production"}},
			},
		},
		"output": map[string]any{
			"to":         ref("DockerImage", registry+"/"+imageNS+"/web:latest", ""),
			"pushSecret": named(pushSecret),
		},
		"triggers": []any{
			map[string]any{"type": "ImageChange", "imageChange": map[string]any{"from": ref("ImageStreamTag", "tools:latest", ns)}},
			map[string]any{"type": "ImageChange", "imageChange": map[string]any{}},
			map[string]any{"type": "ConfigChange"},
		},
		"resources":                    map[string]any{"limits": map[string]any{"memory": "1Gi"}},
		"successfulBuildsHistoryLimit": int64(5),
	}
}

func runWith(t testing.TB, e action.Env, f *pullsecret.Finder, item *unstructured.Unstructured, mapping map[string]string) (*unstructured.Unstructured, error) {
	t.Helper()
	reg := actiontest.Registration(RestoreName, action.KindRestore, NewRestore(e, f))
	out, err := actiontest.RunRestore(t, reg, e, item, actiontest.Restore(mapping))
	if err != nil {
		return nil, err
	}
	if out.SkipRestore {
		t.Fatal("BuildConfig skipped, want restored")
	}
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return obj, nil
}

func TestRestoreRewritesReferencesAndSecrets(t *testing.T) {
	tests := []struct {
		name        string
		mapping     map[string]string
		destination []runtime.Object
		source      bool
		want        map[string]any
	}{
		{
			name: "mapped namespace, destination minted builder secret", mapping: map[string]string{"app": "app2"}, source: true,
			destination: append(destination("app2", "builder", "builder-dockercfg-new12"), destination("app", "builder", "builder-dockercfg-wrong")...),
			want:        fullSpec(dst, "app2", "app2", "builder-dockercfg-new12", "builder-dockercfg-new12"),
		},
		{
			name: "same namespace", source: true,
			destination: destination("app", "builder", "builder-dockercfg-new12"),
			want:        fullSpec(dst, "app", "app", "builder-dockercfg-new12", "builder-dockercfg-new12"),
		},
		{
			// Nothing recorded at backup: OpenShift's own registry hostname is the source.
			name: "no recorded source registry: OpenShift's registry is the source", mapping: map[string]string{"app": "app2"},
			destination: destination("app2", "builder", "builder-dockercfg-new12"),
			want:        fullSpec(dst, "app2", "app2", "builder-dockercfg-new12", "builder-dockercfg-new12"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := buildConfig(fullSpec(src, "app", "app", "builder-dockercfg-old11", "builder-dockercfg-old11"))
			if tt.source {
				actiontest.FromSource(item)
			}
			want := item.DeepCopy()
			want.Object["spec"] = tt.want
			// Names of user-made secrets and the untouched parts stay as they were.
			f, _ := finder(tt.destination...)
			got, err := runWith(t, env(time.Second, true), f, item, tt.mapping)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if !reflect.DeepEqual(got.Object, want.Object) {
				g, _ := json.MarshalIndent(got.Object, "", " ")
				w, _ := json.MarshalIndent(want.Object, "", " ")
				t.Fatalf("object\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestEachStrategyAndOpenShiftDigest(t *testing.T) {
	digest := "sha256:" + strings.Repeat("b", 64)
	for _, strategy := range Strategies {
		t.Run(strategy, func(t *testing.T) {
			item := actiontest.FromSource(buildConfig(map[string]any{"strategy": map[string]any{strategy: map[string]any{
				"from": ref("DockerImage", src+"/openshift/nodejs@"+digest, ""), "pullSecret": named("default-dockercfg-abcde"),
			}}}))
			f, _ := finder(destination("app2", "default", "default-dockercfg-zzzzz")...)
			got, err := runWith(t, env(time.Second, true), f, item, map[string]string{"app": "app2"})
			if err != nil {
				t.Fatal(err)
			}
			from, _, _ := unstructured.NestedString(got.Object, "spec", "strategy", strategy, "from", "name")
			secret, _, _ := unstructured.NestedString(got.Object, "spec", "strategy", strategy, "pullSecret", "name")
			if from != dst+"/openshift/nodejs" || secret != "default-dockercfg-zzzzz" {
				t.Fatalf("from = %q, pullSecret = %q", from, secret)
			}
		})
	}
}

func TestSecretWithoutDestinationCounterpart(t *testing.T) {
	tests := []struct {
		name            string
		registryEnabled bool
		maxDuration     time.Duration
		minDuration     time.Duration
	}{
		{"registry enabled waits the configured time", true, 5 * time.Second, 150 * time.Millisecond},
		{"registry disabled does not wait", false, 150 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.FromSource(buildConfig(map[string]any{"output": map[string]any{
				"to": ref("DockerImage", "quay.io/org/web:1", ""), "pushSecret": named("builder-dockercfg-old11")}}))
			f, _ := finder() // nothing minted on the destination
			start := time.Now()
			got, err := runWith(t, env(200*time.Millisecond, tt.registryEnabled), f, item, nil)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if name, _, _ := unstructured.NestedString(got.Object, "spec", "output", "pushSecret", "name"); name != "builder-dockercfg-old11" {
				t.Fatalf("pushSecret = %q, want the name kept", name)
			}
			if took < tt.minDuration || took > tt.maxDuration {
				t.Fatalf("took %v, want between %v and %v", took, tt.minDuration, tt.maxDuration)
			}
		})
	}
}

func TestSecretLookupErrorKeepsName(t *testing.T) {
	item := actiontest.FromSource(buildConfig(map[string]any{
		"output": map[string]any{"to": ref("DockerImage", src+"/app/web:1", ""), "pushSecret": named("builder-dockercfg-old11")}}))
	f, c := finder()
	c.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("apiserver unavailable")
	})
	got, err := runWith(t, env(time.Second, true), f, item, nil)
	if err != nil {
		t.Fatalf("Execute: %v (a lookup failure must be a warning)", err)
	}
	name, _, _ := unstructured.NestedString(got.Object, "spec", "output", "pushSecret", "name")
	to, _, _ := unstructured.NestedString(got.Object, "spec", "output", "to", "name")
	if name != "builder-dockercfg-old11" || to != dst+"/app/web:1" {
		t.Fatalf("pushSecret = %q, to = %q", name, to)
	}
}

func TestBadInputNamesField(t *testing.T) {
	tests := []struct {
		name  string
		spec  any
		field string
	}{
		{"spec", "x", "spec: expected an object"},
		{"output", map[string]any{"output": []any{}}, "spec.output: expected an object"},
		{"output.to", map[string]any{"output": map[string]any{"to": "x"}}, "spec.output.to: expected an object"},
		{"output.to.name", map[string]any{"output": map[string]any{"to": map[string]any{"kind": "DockerImage", "name": 1.0}}}, "spec.output.to.name: expected a string"},
		{"output.pushSecret.name", map[string]any{"output": map[string]any{"pushSecret": map[string]any{"name": 1.0}}}, "spec.output.pushSecret.name: expected a string"},
		{"strategy", map[string]any{"strategy": 1.0}, "spec.strategy: expected an object"},
		{"strategy from", map[string]any{"strategy": map[string]any{"dockerStrategy": map[string]any{"from": "x"}}}, "spec.strategy.dockerStrategy.from: expected an object"},
		{"strategy pullSecret", map[string]any{"strategy": map[string]any{"customStrategy": map[string]any{"pullSecret": "x"}}}, "spec.strategy.customStrategy.pullSecret: expected an object"},
		{"unparsable internal image", map[string]any{"strategy": map[string]any{"sourceStrategy": map[string]any{"from": ref("DockerImage", src+"/app/BAD", "")}}}, "spec.strategy.sourceStrategy.from.name: invalid image reference"},
		{"source.images", map[string]any{"source": map[string]any{"images": "x"}}, "spec.source.images: expected a list"},
		{"source.images[1]", map[string]any{"source": map[string]any{"images": []any{map[string]any{}, 2.0}}}, "spec.source.images[1]: expected an object"},
		{"source.images[0].pullSecret", map[string]any{"source": map[string]any{"images": []any{map[string]any{"pullSecret": map[string]any{"name": false}}}}}, "spec.source.images[0].pullSecret.name: expected a string"},
		{"trigger namespace", map[string]any{"triggers": []any{map[string]any{"imageChange": map[string]any{"from": map[string]any{"kind": "ImageStreamTag", "namespace": 1.0}}}}}, "spec.triggers[0].imageChange.from.namespace: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.FromSource(actiontest.Object("build.openshift.io/v1", "BuildConfig", "app", "web", map[string]any{"spec": tt.spec}))
			f, _ := finder()
			_, err := runWith(t, env(0, true), f, item, nil)
			actiontest.ErrorNames(t, err, tt.field, "BuildConfig app/web")
		})
	}
}

func TestBadSecretFieldMakesNoAPICalls(t *testing.T) {
	item := actiontest.FromSource(buildConfig(map[string]any{
		"output":   map[string]any{"pushSecret": named("builder-dockercfg-old11")},
		"strategy": map[string]any{"dockerStrategy": map[string]any{"pullSecret": map[string]any{"name": 7.0}}},
	}))
	f, c := finder(destination("app", "builder", "builder-dockercfg-new12")...)
	if _, err := runWith(t, env(0, true), f, item, nil); err == nil {
		t.Fatal("want an error for the bad pullSecret name")
	}
	if n := len(c.Actions()); n != 0 {
		t.Fatalf("%d API calls before the item was rejected, want none", n)
	}
}

func TestRegistrationNeedsClients(t *testing.T) {
	if _, err := Registrations()[0].New(actiontest.Env()); err == nil {
		t.Fatal("want an error without a pull secret finder or API clients")
	}
	e := actiontest.Env()
	e.PullSecrets, _ = finder()
	if a, err := Registrations()[0].New(e); err != nil || a.(*Restore).secrets != e.PullSecrets {
		t.Fatalf("New = %v, %v; want the shared finder", a, err)
	}
}

func FuzzExecute(f *testing.F) {
	seed, _ := json.Marshal(map[string]any{"spec": fullSpec(src, "app", "app", "builder-dockercfg-old11", "default-dockercfg-abcde")})
	f.Add(seed)
	f.Add([]byte(`{"spec":{"output":{"to":{"kind":"DockerImage","name":"` + src + `/x/Y"}},"source":{"images":[null,{"from":1}]}}}`))
	f.Add([]byte(`{"metadata":[],"spec":{"strategy":{"sourceStrategy":{"pullSecret":{"name":null}}},"triggers":[{"imageChange":[]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "build.openshift.io/v1", "BuildConfig")
		if !ok {
			return
		}
		fd, _ := finder(destination("app2", "builder", "builder-dockercfg-new12")...)
		e := env(0, true)
		reg := actiontest.Registration(RestoreName, action.KindRestore, NewRestore(e, fd))
		_, err := actiontest.RunRestore(t, reg, e, item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

// BenchmarkRestoreExecute measures one BuildConfig through the guarded action as Velero calls it;
// the destination's pull-secret answer is cached after the first iteration, as in a restore.
func BenchmarkRestoreExecute(b *testing.B) {
	e := env(time.Second, true)
	f, _ := finder(destination("app2", "builder", "builder-dockercfg-new12")...)
	fixture := actiontest.FromSource(buildConfig(fullSpec(src, "app", "app", "builder-dockercfg-old11", "builder-dockercfg-old11")))
	out := actiontest.BenchmarkRestore(b, actiontest.Registration(RestoreName, action.KindRestore, NewRestore(e, f)), e, fixture, actiontest.Restore(map[string]string{"app": "app2"}))
	if out.SkipRestore {
		b.Fatal("benchmark BuildConfig skipped")
	}
}

// BenchmarkJSONRoundTrip is the yardstick: Velero's own decode + encode of the same BuildConfig.
func BenchmarkJSONRoundTrip(b *testing.B) {
	actiontest.BenchmarkJSONRoundTrip(b, actiontest.FromSource(buildConfig(fullSpec(src, "app", "app", "builder-dockercfg-old11", "builder-dockercfg-old11"))).Object)
}

// A BuildConfig that builds as a custom service account names that account's generated dockercfg
// secrets; they are swapped to the ones the destination minted for it, user-named ones stay.
func TestRestoreSwapsSecretsOfCustomBuildServiceAccount(t *testing.T) {
	spec := fullSpec(src, "app", "app", "pipeline-dockercfg-abcde", "ci-bot-dockercfg-fghij")
	spec["serviceAccount"] = "pipeline"
	f, _ := actiontest.MintedSecrets("app2/pipeline", "app2/ci-bot")
	got, err := runWith(t, env(time.Second, true), f, actiontest.FromSource(buildConfig(spec)), map[string]string{"app": "app2"})
	if err != nil {
		t.Fatal(err)
	}
	want := fullSpec(dst, "app2", "app2", actiontest.Minted("pipeline"), actiontest.Minted("ci-bot"))
	want["serviceAccount"] = "pipeline"
	if !reflect.DeepEqual(got.Object["spec"], want) {
		g, _ := json.MarshalIndent(got.Object["spec"], "", " ")
		t.Fatalf("spec\n%s", g)
	}
}

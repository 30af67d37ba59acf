package pullsecret

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/keys"
)

func TestGenerated(t *testing.T) {
	tests := []struct {
		name, sa, kind string
		ok             bool
	}{
		{"builder-dockercfg-abc12", "builder", Dockercfg, true},
		{"my-sa-token-x7k2p", "my-sa", Token, true},
		{"default-dockercfg-abc1", "", "", false}, // suffix too short
		{"pull-secret", "", "", false},
		{"builder-dockercfg-ABC12", "", "", false},
	}
	for _, tt := range tests {
		sa, kind, ok := Generated(tt.name)
		if sa != tt.sa || kind != tt.kind || ok != tt.ok {
			t.Errorf("Generated(%q) = %q %q %v", tt.name, sa, kind, ok)
		}
	}
}

func secret(name string, typ corev1.SecretType, ann map[string]string, owners ...metav1.OwnerReference) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name, Annotations: ann, OwnerReferences: owners}, Type: typ}
}

func TestIsRegenerated(t *testing.T) {
	tests := []struct {
		name string
		s    *corev1.Secret
		want bool
	}{
		{"legacy dockercfg", secret("builder-dockercfg-abc12", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "builder"}), true},
		{"4.16 dockercfg", secret("builder-dockercfg-abc12", corev1.SecretTypeDockercfg, map[string]string{keys.InternalRegistryAuthTokenSA: "builder"}), true},
		{"legacy token", secret("app-token-abc12", corev1.SecretTypeServiceAccountToken, map[string]string{keys.ServiceAccountName: "app"}), true},
		{"user long-lived token", secret("app-ci-token", corev1.SecretTypeServiceAccountToken, map[string]string{keys.ServiceAccountName: "app"}), false},
		{"name of another sa", secret("builder-dockercfg-abc12", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "default"}), false},
		{"opaque", secret("builder-dockercfg-abc12", corev1.SecretTypeOpaque, map[string]string{keys.ServiceAccountName: "builder"}), false},
		{"no annotation", secret("builder-dockercfg-abc12", corev1.SecretTypeDockercfg, nil), false},
	}
	for _, tt := range tests {
		if got := IsRegenerated(tt.s); got != tt.want {
			t.Errorf("%s: IsRegenerated = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func sa(name, uid string, ann map[string]string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name, UID: types.UID(uid), Annotations: ann}}
}

func TestFinder(t *testing.T) {
	owner := func(uid string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: "v1", Kind: "ServiceAccount", Name: "builder", UID: types.UID(uid)}
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		want    string
	}{
		{"4.16 pull secret ref", []runtime.Object{
			sa("builder", "u1", map[string]string{keys.InternalRegistryPullSecretRef: "builder-dockercfg-new01"}),
			secret("builder-dockercfg-new01", corev1.SecretTypeDockercfg, map[string]string{keys.InternalRegistryAuthTokenSA: "builder"}, owner("u1")),
		}, "builder-dockercfg-new01"},
		{"legacy annotations", []runtime.Object{
			sa("builder", "u1", nil),
			secret("builder-dockercfg-old01", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "builder", keys.ServiceAccountUID: "u1"}),
		}, "builder-dockercfg-old01"},
		{"restored stale secret of the old SA is not taken", []runtime.Object{
			sa("builder", "u1", nil),
			secret("builder-dockercfg-stale", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "builder", keys.ServiceAccountUID: "u-source"}),
		}, ""},
		{"owner of another SA is not taken", []runtime.Object{
			sa("builder", "u1", nil),
			secret("builder-dockercfg-other", corev1.SecretTypeDockercfg, map[string]string{keys.InternalRegistryAuthTokenSA: "builder"}, owner("u9")),
		}, ""},
		{"no service account", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Finder{Client: fake.NewSimpleClientset(tt.objects...).CoreV1(), Poll: time.Millisecond}
			got, found, err := f.Find(context.Background(), "app", "builder", 0)
			if err != nil || got != tt.want || found != (tt.want != "") {
				t.Fatalf("Find = %q %v %v; want %q", got, found, err, tt.want)
			}
		})
	}
}

func TestFinderWaitsAndCaches(t *testing.T) {
	client := fake.NewSimpleClientset(sa("default", "u1", nil))
	f := &Finder{Client: client.CoreV1(), Poll: 5 * time.Millisecond}
	go func() {
		time.Sleep(30 * time.Millisecond)
		_, _ = client.CoreV1().Secrets("app").Create(context.Background(),
			secret("default-dockercfg-later", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "default", keys.ServiceAccountUID: "u1"}),
			metav1.CreateOptions{})
	}()
	name, err := f.Destination(context.Background(), "app", "default-dockercfg-abcde", true, 5*time.Second)
	if err != nil || name != "default-dockercfg-later" {
		t.Fatalf("Destination = %q, %v", name, err)
	}
	before := len(client.Actions())
	if again, _ := f.Destination(context.Background(), "app", "default-dockercfg-fghij", true, 5*time.Second); again != name || len(client.Actions()) != before {
		t.Fatalf("second lookup = %q with %d new API calls; want cached answer", again, len(client.Actions())-before)
	}
	// Not a generated dockercfg name: kept, no lookup.
	if kept, _ := f.Destination(context.Background(), "app", "my-pull-secret", true, time.Second); kept != "my-pull-secret" {
		t.Fatalf("user-named secret changed to %q", kept)
	}
}

// While the lookup of one service account waits for its secret to be minted, lookups of other
// service accounts answer at once: the wait is per service account, not a process-wide lock.
func TestFinderWaitForOneServiceAccountDoesNotHoldOthers(t *testing.T) {
	client := fake.NewSimpleClientset(sa("slow", "u1", nil),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "fast", UID: "u2"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "fast-dockercfg-zzzzz",
			Annotations: map[string]string{keys.ServiceAccountName: "fast", keys.ServiceAccountUID: "u2"}}, Type: corev1.SecretTypeDockercfg})
	waiting := make(chan struct{})
	var once sync.Once
	client.PrependReactor("get", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.GetAction).GetName() == "slow" {
			once.Do(func() { close(waiting) })
		}
		return false, nil, nil
	})
	f := &Finder{Client: client.CoreV1(), Poll: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	slow := make(chan error, 1)
	go func() {
		_, _, err := f.Find(ctx, "app", "slow", time.Minute) // its secret never comes
		slow <- err
	}()
	<-waiting
	type answer struct {
		name  string
		found bool
		err   error
	}
	fast := make(chan answer, 1)
	go func() {
		name, found, err := f.Find(context.Background(), "other", "fast", time.Minute)
		fast <- answer{name, found, err}
	}()
	select {
	case a := <-fast:
		if a.err != nil || !a.found || a.name != "fast-dockercfg-zzzzz" {
			t.Errorf("Find other/fast = %q %v %v", a.name, a.found, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Find other/fast did not answer within 5s: it waits behind the lookup of app/slow")
	}
	cancel()
	select {
	case err := <-slow:
		if err == nil {
			t.Fatal("the cancelled wait for app/slow returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait for app/slow did not end when its context was cancelled")
	}
}

// Concurrent lookups of one service account make one lookup; a failed lookup is not shared with
// or remembered for the others: each of them tries again.
func TestFinderConcurrentLookupsOfOneServiceAccount(t *testing.T) {
	client := fake.NewSimpleClientset(sa("builder", "u1", nil),
		secret("builder-dockercfg-new01", corev1.SecretTypeDockercfg, map[string]string{keys.ServiceAccountName: "builder", keys.ServiceAccountUID: "u1"}))
	release := make(chan struct{})
	var mu sync.Mutex
	gets := 0
	client.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		gets++
		first := gets == 1
		mu.Unlock()
		if first {
			<-release
			return true, nil, errors.New("etcdserver: request timed out")
		}
		return false, nil, nil
	})
	f := &Finder{Client: client.CoreV1(), Poll: time.Millisecond}
	type answer struct {
		name string
		err  error
	}
	answers := make(chan answer, 4)
	for i := 0; i < 4; i++ {
		go func() {
			name, _, err := f.Find(context.Background(), "app", "builder", time.Second)
			answers <- answer{name, err}
		}()
	}
	time.Sleep(50 * time.Millisecond) // all four are in Find, one of them in the held lookup
	close(release)
	failed, found := 0, 0
	for i := 0; i < 4; i++ {
		a := <-answers
		switch {
		case a.err != nil:
			failed++
		case a.name == "builder-dockercfg-new01":
			found++
		default:
			t.Errorf("answer %q", a.name)
		}
	}
	if failed != 1 || found != 3 {
		t.Fatalf("%d failed, %d found; want only the caller whose lookup failed to fail", failed, found)
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != 2 {
		t.Fatalf("%d service account reads; want the failed one and one more shared by the waiting callers", gets)
	}
}

func TestFinderDoesNotWaitWhenRegistryDisabled(t *testing.T) {
	client := fake.NewSimpleClientset(sa("builder", "u1", nil))
	f := &Finder{Client: client.CoreV1(), Poll: time.Millisecond}
	name, err := f.Destination(context.Background(), "app", "builder-dockercfg-abcde", false, time.Hour)
	if err != nil || name != "builder-dockercfg-abcde" {
		t.Fatalf("Destination = %q, %v; want the name kept", name, err)
	}
	gets := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "serviceaccounts" {
			gets++
		}
	}
	if gets != 1 {
		t.Fatalf("%d lookups, want exactly one (no waiting when the registry is disabled)", gets)
	}
}

// A generated dockercfg secret of any service account, custom ones with dashes in their names
// included, is swapped to the one the destination minted for that service account (SPEC §4 pod
// row); names of another shape are the user's and stay.
func TestDestinationSwapsDockercfgOfAnyServiceAccount(t *testing.T) {
	owned := func(account, uid, name string) []runtime.Object {
		return []runtime.Object{
			sa(account, uid, map[string]string{keys.InternalRegistryPullSecretRef: name}),
			secret(name, corev1.SecretTypeDockercfg, map[string]string{keys.InternalRegistryAuthTokenSA: account},
				metav1.OwnerReference{APIVersion: "v1", Kind: "ServiceAccount", Name: account, UID: types.UID(uid)}),
		}
	}
	var objs []runtime.Object
	objs = append(objs, owned("db", "u-db", "db-dockercfg-n3w01")...)
	objs = append(objs, owned("my-app", "u-my-app", "my-app-dockercfg-n3w02")...)
	objs = append(objs, owned("app", "u-app", "app-dockercfg-n3w03")...)
	objs = append(objs, owned("default", "u-default", "default-dockercfg-n3w04")...)
	f := &Finder{Client: fake.NewSimpleClientset(objs...).CoreV1(), Poll: time.Millisecond}
	tests := []struct{ name, want string }{
		{"db-dockercfg-abcde", "db-dockercfg-n3w01"},
		{"my-app-dockercfg-abcde", "my-app-dockercfg-n3w02"}, // SA my-app, not app
		{"default-dockercfg-abcde", "default-dockercfg-n3w04"},
		{"db-pull-secret", "db-pull-secret"},               // the user's
		{"db-dockercfg-ABCDE", "db-dockercfg-ABCDE"},       // not OpenShift's suffix
		{"db-dockercfg-abcdef", "db-dockercfg-abcdef"},     // suffix too long
		{"db-token-abcde", "db-token-abcde"},               // a token, not a pull secret
		{"ghost-dockercfg-abcde", "ghost-dockercfg-abcde"}, // no such SA on the destination: kept
	}
	for _, tt := range tests {
		got, err := f.Destination(context.Background(), "app", tt.name, true, 0)
		if err != nil || got != tt.want {
			t.Errorf("Destination(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestGeneratedDockercfg(t *testing.T) {
	tests := []struct {
		name, sa string
		ok       bool
	}{
		{"deployer-dockercfg-q2w3e", "deployer", true},
		{"pipeline-dockercfg-q2w3e", "pipeline", true},
		{"my-app-dockercfg-q2w3e", "my-app", true},
		{"builder-token-q2w3e", "", false},
		{"my-registry", "", false},
	}
	for _, tt := range tests {
		if sa, ok := GeneratedDockercfg(tt.name); sa != tt.sa || ok != tt.ok {
			t.Errorf("GeneratedDockercfg(%q) = %q, %v; want %q, %v", tt.name, sa, ok, tt.sa, tt.ok)
		}
	}
}

func TestRenamePodSpec(t *testing.T) {
	deployment := func(names ...string) *unstructured.Unstructured {
		var refs []any
		for _, n := range names {
			refs = append(refs, map[string]any{"name": n})
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"namespace": "app", "name": "web"},
			"spec":     map[string]any{"template": map[string]any{"spec": map[string]any{"imagePullSecrets": refs}}}}}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	ctx := context.Background()
	t.Run("no finder is an error naming the field only when a swap is needed", func(t *testing.T) {
		var f *Finder
		if err := f.RenamePodSpec(ctx, deployment("registry-creds"), "app", true, 0, log); err != nil {
			t.Fatalf("no swap needed but: %v", err)
		}
		err := f.RenamePodSpec(ctx, deployment("db-dockercfg-abcde"), "app", true, 0, log)
		if err == nil || !strings.Contains(err.Error(), "spec.template.spec.imagePullSecrets: db-dockercfg-abcde") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a failed lookup is an error naming the field", func(t *testing.T) {
		client := fake.NewSimpleClientset()
		client.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("apiserver unavailable")
		})
		f := &Finder{Client: client.CoreV1(), Poll: time.Millisecond}
		err := f.RenamePodSpec(ctx, deployment("db-dockercfg-abcde"), "app", true, 0, log)
		if err == nil || !strings.Contains(err.Error(), "spec.template.spec.imagePullSecrets: db-dockercfg-abcde") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no counterpart keeps the name; each name is looked up once", func(t *testing.T) {
		client := fake.NewSimpleClientset()
		f := &Finder{Client: client.CoreV1(), Poll: time.Millisecond}
		obj := deployment("db-dockercfg-abcde", "db-dockercfg-abcde")
		if err := f.RenamePodSpec(ctx, obj, "app", true, 0, log); err != nil {
			t.Fatal(err)
		}
		refs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "imagePullSecrets")
		if refs[0].(map[string]any)["name"] != "db-dockercfg-abcde" || len(client.Actions()) != 1 {
			t.Fatalf("refs %v after %d API calls", refs, len(client.Actions()))
		}
	})
}

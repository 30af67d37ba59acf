package pullsecret

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

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
	if sa, ok := BuiltinDockercfg("deployer-dockercfg-q2w3e"); !ok || sa != "deployer" {
		t.Error("deployer dockercfg not recognised")
	}
	if _, ok := BuiltinDockercfg("pipeline-dockercfg-q2w3e"); ok {
		t.Error("non-builtin SA treated as builtin")
	}
	if _, ok := BuiltinDockercfg("builder-token-q2w3e"); ok {
		t.Error("token secret treated as dockercfg")
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
	// Not a builtin dockercfg name: kept, no lookup.
	if kept, _ := f.Destination(context.Background(), "app", "my-pull-secret", true, time.Second); kept != "my-pull-secret" {
		t.Fatalf("non-builtin name changed to %q", kept)
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

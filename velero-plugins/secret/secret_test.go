package secret

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

func secret(name, typ string, annotations map[string]string) *unstructured.Unstructured {
	s := actiontest.Object("v1", "Secret", "app", name, map[string]any{
		"type": typ,
		"data": map[string]any{"key": "c2VjcmV0"},
	})
	if annotations != nil {
		s.SetAnnotations(annotations)
	}
	return s
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name     string
		item     *unstructured.Unstructured
		wantSkip bool
	}{
		{"serving cert", secret("web-tls", "kubernetes.io/tls", map[string]string{keys.ServingCertOriginatingService: "web"}), true},
		{"serving cert annotation empty", secret("web-tls", "kubernetes.io/tls", map[string]string{keys.ServingCertOriginatingService: ""}), false},
		{"legacy dockercfg", secret("builder-dockercfg-abcde", "kubernetes.io/dockercfg", map[string]string{keys.ServiceAccountName: "builder"}), true},
		{"4.16 dockercfg", secret("builder-dockercfg-abcde", "kubernetes.io/dockercfg", map[string]string{keys.InternalRegistryAuthTokenSA: "builder"}), true},
		{"legacy token", secret("runner-token-abcde", "kubernetes.io/service-account-token", map[string]string{keys.ServiceAccountName: "runner"}), true},
		{"user token with own name", secret("ci-token", "kubernetes.io/service-account-token", map[string]string{keys.ServiceAccountName: "runner"}), false},
		{"generated name of another account", secret("runner-token-abcde", "kubernetes.io/service-account-token", map[string]string{keys.ServiceAccountName: "other"}), false},
		{"dockercfg name, opaque", secret("builder-dockercfg-abcde", "Opaque", map[string]string{keys.ServiceAccountName: "builder"}), false},
		{"plain secret", secret("db", "Opaque", nil), false},
		{"no type", func() *unstructured.Unstructured { s := secret("db", "", nil); delete(s.Object, "type"); return s }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.item.DeepCopy()
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), tt.item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tt.wantSkip {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.wantSkip)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("item changed:\ngot  %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func TestRestoreBadTypesAreNamedErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"type", func(o map[string]any) { o["type"] = int64(1) }, "type: expected a string"},
		{"annotations", func(o map[string]any) { o["metadata"].(map[string]any)["annotations"] = "x" }, "metadata:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := secret("db", "Opaque", nil)
			tt.edit(item.Object)
			_, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.want, "Secret app/db")
			if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Fatal("error leaks secret data")
			}
		})
	}
}

package configmap

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

func configMap(name string, owners []any, annotations map[string]string) *unstructured.Unstructured {
	cm := actiontest.Object("v1", "ConfigMap", "app", name, map[string]any{"data": map[string]any{"ca.crt": "PEM"}})
	if owners != nil {
		cm.Object["metadata"].(map[string]any)["ownerReferences"] = owners
	}
	if annotations != nil {
		cm.SetAnnotations(annotations)
	}
	return cm
}

var (
	podOwner = []any{map[string]any{"apiVersion": "v1", "kind": "Pod", "name": "web-1-build", "uid": "u1"}}
	rsOwner  = []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u2"}}
)

// buildCase is a ConfigMap and whether it is a build pod's.
type buildCase struct {
	name  string
	item  func() *unstructured.Unstructured
	build bool
}

// cases are ConfigMaps as backed up, unmarked.
var cases = []buildCase{
	{"ca", func() *unstructured.Unstructured { return configMap("web-1-build-ca", podOwner, nil) }, true},
	{"global-ca", func() *unstructured.Unstructured { return configMap("web-1-build-global-ca", podOwner, nil) }, true},
	{"sys-config", func() *unstructured.Unstructured { return configMap("web-1-build-sys-config", podOwner, nil) }, true},
	{"build annotation", func() *unstructured.Unstructured {
		return configMap("anything", nil, map[string]string{keys.BuildName: "web-1"})
	}, true},
	{"suffix without owner", func() *unstructured.Unstructured { return configMap("trusted-ca", nil, nil) }, false},
	{"suffix, other owner", func() *unstructured.Unstructured { return configMap("web-ca", rsOwner, nil) }, false},
	{"pod owner, other name", func() *unstructured.Unstructured { return configMap("web-settings", podOwner, nil) }, false},
	{"bare suffix", func() *unstructured.Unstructured { return configMap("-ca", podOwner, nil) }, false},
}

// The restore recognises build-pod ConfigMaps by themselves, as backed up without any mark (there
// is no backup action), and still honours the mark earlier versions and upstream OADP wrote.
func TestRestoreSkipsBuildPodConfigMaps(t *testing.T) {
	marked := func(label bool) func() *unstructured.Unstructured {
		return func() *unstructured.Unstructured {
			cm := configMap("custom", nil, nil)
			if label {
				cm.SetLabels(map[string]string{keys.SkipBuildConfigConfigMapRestore: "true"})
			} else {
				cm.SetAnnotations(map[string]string{keys.SkipBuildConfigConfigMapRestore: "true"})
			}
			return cm
		}
	}
	all := append(cases[:len(cases):len(cases)],
		buildCase{"marked by annotation", marked(false), true},
		buildCase{"marked by label", marked(true), true},
		buildCase{"marked false", func() *unstructured.Unstructured {
			return configMap("custom", nil, map[string]string{keys.SkipBuildConfigConfigMapRestore: "false"})
		}, false},
	)
	for _, tt := range all {
		t.Run(tt.name, func(t *testing.T) {
			item := tt.item()
			want := actiontest.ResetLikeVelero(item.DeepCopy())
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tt.build {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.build)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("item changed: %v", got.Object)
			}
		})
	}
}

func TestBadMetadataIsNamedError(t *testing.T) {
	tests := []struct {
		name string
		item *unstructured.Unstructured
		want string
	}{
		{"owners not a list", configMap("x-ca", nil, nil), "metadata.ownerReferences"},
		{"owner not an object", configMap("x-ca", []any{"pod"}, nil), "metadata.ownerReferences[0]: expected an object"},
		{"owner kind not a string", configMap("x-ca", []any{map[string]any{"kind": int64(1)}}, nil), "metadata.ownerReferences[0].kind: expected a string"},
		{"annotations not a map", configMap("x-ca", podOwner, nil), "metadata.annotations"},
	}
	tests[0].item.Object["metadata"].(map[string]any)["ownerReferences"] = "Pod"
	tests[3].item.Object["metadata"].(map[string]any)["annotations"] = []any{"x"}
	for _, tt := range tests {
		for _, reg := range Registrations() {
			t.Run(tt.name+"/"+reg.Name, func(t *testing.T) {
				_, err := actiontest.RunRestore(t, reg, actiontest.Env(), tt.item.DeepCopy(), actiontest.Restore(nil))
				actiontest.ErrorNames(t, err, tt.want, "ConfigMap app/x-ca")
			})
		}
	}
}

package podspec

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/nsmap"
)

const src, dst = "image-registry.openshift-image-registry.svc:5000", "registry.b:5000"

func podSpec(image string) map[string]any {
	return map[string]any{
		"initContainers":      []any{map[string]any{"name": "init", "image": src + "/app/init:1"}},
		"containers":          []any{map[string]any{"name": "c", "image": image}, map[string]any{"name": "ext", "image": "quay.io/x/y:1"}},
		"ephemeralContainers": []any{map[string]any{"name": "debug", "image": src + "/app/debug:1"}},
		"imagePullSecrets":    []any{map[string]any{"name": "default-dockercfg-abcde"}, map[string]any{"name": "mine"}},
	}
}

func withSpec(apiVersion, kind string, path []string, spec map[string]any) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	if err := unstructured.SetNestedField(obj.Object, spec, path...); err != nil {
		panic(err)
	}
	return obj
}

func TestRewriteImagesEveryKind(t *testing.T) {
	w := imageref.Rewriter{SourceHost: src, DestinationHost: dst, Mapping: nsmap.Mapping{"app": "app2"}}
	tmpl := []string{"spec", "template", "spec"}
	tests := []struct {
		apiVersion, kind string
		path             []string
	}{
		{"v1", "Pod", []string{"spec"}},
		{"v1", "ReplicationController", tmpl},
		{"apps/v1", "Deployment", tmpl},
		{"apps/v1", "ReplicaSet", tmpl},
		{"apps/v1", "StatefulSet", tmpl},
		{"apps/v1", "DaemonSet", tmpl},
		{"apps.openshift.io/v1", "DeploymentConfig", tmpl},
		{"batch/v1", "Job", tmpl},
		{"batch/v1", "CronJob", []string{"spec", "jobTemplate", "spec", "template", "spec"}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			obj := withSpec(tt.apiVersion, tt.kind, tt.path, podSpec(src+"/app/web:v1"))
			n, err := RewriteImages(obj, w)
			if err != nil || n != 3 {
				t.Fatalf("RewriteImages = %d, %v; want 3 rewritten", n, err)
			}
			cs, _ := Containers(obj)
			want := []string{dst + "/app2/init:1", dst + "/app2/web:v1", "quay.io/x/y:1", dst + "/app2/debug:1"}
			for i, c := range cs {
				if c.Object["image"] != want[i] {
					t.Errorf("%s image = %v, want %s", c.Field, c.Object["image"], want[i])
				}
			}
		})
	}
}

func TestMalformedSpecsAreNamedErrors(t *testing.T) {
	w := imageref.Rewriter{SourceHost: src, DestinationHost: dst}
	tests := []struct {
		name  string
		obj   *unstructured.Unstructured
		field string
	}{
		{"spec not object", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": "x"}}, "spec"},
		{"containers not list", withSpec("v1", "Pod", []string{"spec"}, map[string]any{"containers": "x"}), "spec.containers"},
		{"container not object", withSpec("v1", "Pod", []string{"spec"}, map[string]any{"containers": []any{"x"}}), "spec.containers[0]"},
		{"image not string", withSpec("apps/v1", "Deployment", []string{"spec", "template", "spec"}, map[string]any{"containers": []any{map[string]any{"image": int64(3)}}}), "spec.template.spec.containers[0].image"},
		{"bad internal image", withSpec("v1", "Pod", []string{"spec"}, map[string]any{"containers": []any{map[string]any{"image": src + "/App/X"}}}), "spec.containers[0].image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RewriteImages(tt.obj, w)
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Fatalf("error = %v, want one naming %s", err, tt.field)
			}
		})
	}
}

func TestKindsWithoutPodSpec(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service", "spec": map[string]any{}}}
	if _, ok := Path(obj); ok {
		t.Fatal("Service has no pod spec")
	}
	if n, err := RewriteImages(obj, imageref.Rewriter{SourceHost: src, DestinationHost: dst}); n != 0 || err != nil {
		t.Fatalf("RewriteImages on a Service = %d, %v", n, err)
	}
	// Same kind name in another group is not a workload.
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Deployment"}}
	if _, ok := Path(other); ok {
		t.Fatal("example.com Deployment matched the apps table entry")
	}
}

func TestPullSecrets(t *testing.T) {
	obj := withSpec("apps/v1", "Deployment", []string{"spec", "template", "spec"}, podSpec("x"))
	names, err := PullSecretNames(obj)
	if err != nil || strings.Join(names, ",") != "default-dockercfg-abcde,mine" {
		t.Fatalf("PullSecretNames = %v, %v", names, err)
	}
	n, err := RenamePullSecrets(obj, func(s string) string {
		if s == "default-dockercfg-abcde" {
			return "default-dockercfg-zzzzz"
		}
		return ""
	})
	names, _ = PullSecretNames(obj)
	if n != 1 || err != nil || strings.Join(names, ",") != "default-dockercfg-zzzzz,mine" {
		t.Fatalf("RenamePullSecrets = %d, %v -> %v", n, err, names)
	}
	bad := withSpec("v1", "Pod", []string{"spec"}, map[string]any{"imagePullSecrets": []any{map[string]any{"name": int64(1)}}})
	if _, err := PullSecretNames(bad); err == nil || !strings.Contains(err.Error(), "spec.imagePullSecrets[0].name") {
		t.Fatalf("error = %v, want one naming spec.imagePullSecrets[0].name", err)
	}
}

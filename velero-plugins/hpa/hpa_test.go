package hpa

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

func hpa(target any) *unstructured.Unstructured {
	spec := map[string]any{"minReplicas": int64(1), "maxReplicas": int64(5)}
	if target != nil {
		spec["scaleTargetRef"] = target
	}
	return actiontest.Object("autoscaling/v2", "HorizontalPodAutoscaler", "app", "web", map[string]any{"spec": spec})
}

func ref(apiVersion, kind string) map[string]any {
	r := map[string]any{"kind": kind, "name": "web"}
	if apiVersion != "" {
		r["apiVersion"] = apiVersion
	}
	return r
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name       string
		target     any
		wantTarget any
	}{
		{"legacy DC", ref("v1", "DeploymentConfig"), ref("apps.openshift.io/v1", "DeploymentConfig")},
		{"current DC", ref("apps.openshift.io/v1", "DeploymentConfig"), ref("apps.openshift.io/v1", "DeploymentConfig")},
		{"Deployment", ref("apps/v1", "Deployment"), ref("apps/v1", "Deployment")},
		{"core v1 other kind", ref("v1", "ReplicationController"), ref("v1", "ReplicationController")},
		{"DC without apiVersion", ref("", "DeploymentConfig"), ref("", "DeploymentConfig")},
		{"no target", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item, want := hpa(tt.target), hpa(tt.wantTarget)
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v skip=%v", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("got  %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func TestRestoreBadTypesAreNamedErrors(t *testing.T) {
	tests := []struct {
		name string
		item *unstructured.Unstructured
		want string
	}{
		{"target not an object", hpa("web"), "spec.scaleTargetRef: expected an object"},
		{"kind not a string", hpa(map[string]any{"kind": int64(1)}), "spec.scaleTargetRef.kind: expected a string"},
		{"apiVersion not a string", hpa(map[string]any{"kind": "DeploymentConfig", "apiVersion": []any{}}), "spec.scaleTargetRef.apiVersion: expected a string"},
		{"spec not an object", actiontest.Object("autoscaling/v1", "HorizontalPodAutoscaler", "app", "web", map[string]any{"spec": "x"}), "spec: expected an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), tt.item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.want, "HorizontalPodAutoscaler app/web")
		})
	}
}

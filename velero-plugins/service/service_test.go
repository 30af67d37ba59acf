package service

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
)

func svc(typ any, ips any) *unstructured.Unstructured {
	spec := map[string]any{
		"ports":    []any{map[string]any{"port": int64(80), "protocol": "TCP"}},
		"selector": map[string]any{"app": "web"},
	}
	if typ != nil {
		spec["type"] = typ
	}
	if ips != nil {
		spec["externalIPs"] = ips
	}
	return actiontest.Object("v1", "Service", "app", "web", map[string]any{"spec": spec})
}

func TestRestore(t *testing.T) {
	ips := []any{"203.0.113.7"}
	tests := []struct {
		name       string
		item, want *unstructured.Unstructured
	}{
		{"load balancer", svc("LoadBalancer", ips), svc("LoadBalancer", nil)},
		{"load balancer without IPs", svc("LoadBalancer", nil), svc("LoadBalancer", nil)},
		{"cluster IP keeps IPs", svc("ClusterIP", ips), svc("ClusterIP", ips)},
		{"node port keeps IPs", svc("NodePort", ips), svc("NodePort", ips)},
		{"default type keeps IPs", svc(nil, ips), svc(nil, ips)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), tt.item, actiontest.Restore(map[string]string{"app": "app2"}))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v skip=%v", err, out != nil && out.SkipRestore)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, tt.want.Object) {
				t.Fatalf("got  %v\nwant %v", got.Object, tt.want.Object)
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
		{"type", svc(int64(1), nil), "spec.type: expected a string"},
		{"spec", actiontest.Object("v1", "Service", "app", "web", map[string]any{"spec": []any{}}), "spec: expected an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := actiontest.RunRestore(t, Registrations()[0], actiontest.Env(), tt.item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.want, "Service app/web")
		})
	}
}

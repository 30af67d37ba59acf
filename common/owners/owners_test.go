package owners

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestOwners(t *testing.T) {
	tests := []struct {
		name    string
		refs    any
		want    *Owner
		n       int
		wantErr string
	}{
		{"none", nil, nil, 0, ""},
		{"not controller", []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "c"}}, nil, 1, ""},
		{"controller", []any{
			map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "controller": false},
			map[string]any{"apiVersion": "v1", "kind": "ReplicationController", "name": "web-1", "controller": true},
		}, &Owner{APIVersion: "v1", Kind: "ReplicationController", Name: "web-1", Controller: true}, 2, ""},
		{"not a list", "x", nil, 0, "metadata.ownerReferences: expected a list"},
		{"entry not an object", []any{"x"}, nil, 0, "metadata.ownerReferences[0]: expected an object"},
		{"kind not a string", []any{map[string]any{"kind": 3}}, nil, 0, "metadata.ownerReferences[0].kind: expected a string"},
		{"controller not a bool", []any{map[string]any{"kind": "RC", "controller": "yes"}}, nil, 0, "metadata.ownerReferences[0].controller: expected a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"}}}
			if tt.refs != nil {
				u.Object["metadata"].(map[string]any)["ownerReferences"] = tt.refs
			}
			owners, err := List(u)
			ctrl, cerr := Controller(u)
			if tt.wantErr != "" {
				if err == nil || cerr == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v / %v, want %q", err, cerr, tt.wantErr)
				}
				return
			}
			if err != nil || cerr != nil || len(owners) != tt.n {
				t.Fatalf("owners %v err %v %v", owners, err, cerr)
			}
			if (ctrl == nil) != (tt.want == nil) || (ctrl != nil && *ctrl != *tt.want) {
				t.Fatalf("controller = %+v, want %+v", ctrl, tt.want)
			}
		})
	}
}

func TestOfKind(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"ownerReferences": []any{
		map[string]any{"kind": "ReplicaSet", "name": "rs"}, map[string]any{"kind": "CronJob", "name": "nightly"},
	}}}}
	if o, err := OfKind(u, "CronJob"); err != nil || o == nil || o.Name != "nightly" {
		t.Fatalf("OfKind = %+v, %v", o, err)
	}
	if o, err := OfKind(u, "Pod"); err != nil || o != nil {
		t.Fatalf("OfKind(Pod) = %+v, %v", o, err)
	}
}

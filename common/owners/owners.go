// Package owners reads metadata.ownerReferences of unstructured items, the one place that parses
// them. Restore actions must read owners from the backed-up copy of an item: Velero clears
// ownerReferences on the item it restores before the actions run.
package owners

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Owner is one entry of metadata.ownerReferences.
type Owner struct {
	APIVersion, Kind, Name string
	Controller             bool
}

// List reads obj's ownerReferences (read them from the item in the backup: Velero clears them on
// the item it restores). Entries of the wrong shape are an error naming the field.
func List(obj *unstructured.Unstructured) ([]Owner, error) {
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, "metadata", "ownerReferences")
	if err != nil {
		return nil, fmt.Errorf("metadata.ownerReferences: %w", err)
	}
	if !found || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("metadata.ownerReferences: expected a list, got %T", v)
	}
	out := make([]Owner, 0, len(list))
	for i, item := range list {
		field := fmt.Sprintf("metadata.ownerReferences[%d]", i)
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected an object, got %T", field, item)
		}
		var o Owner
		for _, f := range []struct {
			key string
			dst *string
		}{{"apiVersion", &o.APIVersion}, {"kind", &o.Kind}, {"name", &o.Name}} {
			if s, ok := m[f.key].(string); ok {
				*f.dst = s
			} else if m[f.key] != nil {
				return nil, fmt.Errorf("%s.%s: expected a string, got %T", field, f.key, m[f.key])
			}
		}
		switch c := m["controller"].(type) {
		case bool:
			o.Controller = c
		case nil:
		default:
			return nil, fmt.Errorf("%s.controller: expected a boolean, got %T", field, c)
		}
		out = append(out, o)
	}
	return out, nil
}

// Controller returns obj's controlling owner, if any.
func Controller(obj *unstructured.Unstructured) (*Owner, error) {
	owners, err := List(obj)
	if err != nil {
		return nil, err
	}
	for i := range owners {
		if owners[i].Controller {
			return &owners[i], nil
		}
	}
	return nil, nil
}

// OfKind returns obj's first owner of the given kind, if any.
func OfKind(obj *unstructured.Unstructured, kind string) (*Owner, error) {
	owners, err := List(obj)
	if err != nil {
		return nil, err
	}
	for i := range owners {
		if owners[i].Kind == kind {
			return &owners[i], nil
		}
	}
	return nil, nil
}

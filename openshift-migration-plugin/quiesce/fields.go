package quiesce

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// annotations returns obj's annotations for editing in place (nil when it has none). metadata must
// be an object: the records live there.
func annotations(obj *unstructured.Unstructured) (map[string]any, error) {
	meta, found, err := fields.NestedObject(obj.Object, "", "metadata")
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("metadata: missing")
	}
	ann, _, err := fields.NestedObject(meta, "metadata", "annotations")
	return ann, err
}

// annotationField names an annotation in messages.
func annotationField(key string) string { return "metadata.annotations[" + key + "]" }

// specOf returns obj's spec for editing in place.
func specOf(obj *unstructured.Unstructured) (map[string]any, error) {
	spec, found, err := fields.NestedObject(obj.Object, "", "spec")
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("spec: missing")
	}
	return spec, nil
}

// count reads spec[key] as a non-negative whole number; absent or null is def. Items decoded by
// Kubernetes hold int64, a plain JSON decode float64.
func count(spec map[string]any, key string, def int64) (int64, error) {
	v, ok := spec[key]
	if !ok || v == nil {
		return def, nil
	}
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int32:
		n = int64(x)
	case int:
		n = int64(x)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, fmt.Errorf("spec.%s: expected an integer, got %v", key, x)
		}
		n = int64(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("spec.%s: expected an integer, got %q", key, x.String())
		}
		n = i
	default:
		return 0, fmt.Errorf("spec.%s: expected an integer, got %T", key, v)
	}
	if n < 0 {
		return 0, fmt.Errorf("spec.%s: expected a non-negative integer, got %d", key, n)
	}
	return n, nil
}

// recordedCount parses the replicas record.
func recordedCount(rec string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(rec), 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: expected a non-negative integer, got %q", annotationField(migration.PreQuiesceReplicasAnnotation), rec)
	}
	return n, nil
}

// boolean reads spec[key]; absent or null is false (present false).
func boolean(spec map[string]any, key string) (value, present bool, err error) {
	v, ok := spec[key]
	if !ok || v == nil {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, true, fmt.Errorf("spec.%s: expected a boolean, got %T", key, v)
	}
	return b, true, nil
}

// stringMap reads parent[key] as a map of strings (nil, false when absent or null); prefix names
// parent in messages.
func stringMap(parent map[string]any, key, prefix string) (map[string]string, bool, error) {
	m, found, err := fields.NestedObject(parent, prefix, key)
	if err != nil || !found {
		return nil, false, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, isString := v.(string)
		if !isString {
			return nil, true, fmt.Errorf("%s.%s: expected a string, got %T", fields.Join(prefix, key), k, v)
		}
		out[k] = s
	}
	return out, true, nil
}

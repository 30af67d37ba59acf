// Package podspec is the one table of where each workload kind keeps its pod spec, and the walkers
// over that spec (containers, images, pull secrets) every action uses instead of a branch per kind.
package podspec

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/imageref"
)

var template = []string{"spec", "template", "spec"}

// paths maps a kind (group-qualified; "" group is core) to the path of its pod spec.
var paths = map[schema.GroupKind][]string{
	{Kind: "Pod"}:                                          {"spec"},
	{Kind: "ReplicationController"}:                        template,
	{Group: "apps", Kind: "Deployment"}:                    template,
	{Group: "apps", Kind: "ReplicaSet"}:                    template,
	{Group: "apps", Kind: "StatefulSet"}:                   template,
	{Group: "apps", Kind: "DaemonSet"}:                     template,
	{Group: "extensions", Kind: "Deployment"}:              template,
	{Group: "extensions", Kind: "ReplicaSet"}:              template,
	{Group: "extensions", Kind: "DaemonSet"}:               template,
	{Group: "apps.openshift.io", Kind: "DeploymentConfig"}: template,
	{Group: "batch", Kind: "Job"}:                          template,
	{Group: "batch", Kind: "CronJob"}:                      {"spec", "jobTemplate", "spec", "template", "spec"},
}

// ContainerLists are the pod spec fields holding containers, in the order they are walked.
var ContainerLists = []string{"initContainers", "containers", "ephemeralContainers"}

// Path returns the pod spec path of obj's kind, and false for kinds without a pod spec.
func Path(obj *unstructured.Unstructured) ([]string, bool) {
	p, ok := paths[obj.GroupVersionKind().GroupKind()]
	return p, ok
}

// FieldName formats a path for error messages ("spec.template.spec.containers[0].image").
func FieldName(path []string, rest ...string) string {
	return strings.Join(append(append([]string{}, path...), rest...), ".")
}

// Spec returns obj's pod spec map. found is false when the kind has no pod spec or the spec is
// absent; an error means the field exists with the wrong type.
func Spec(obj *unstructured.Unstructured) (spec map[string]any, path []string, found bool, err error) {
	path, ok := Path(obj)
	if !ok {
		return nil, nil, false, nil
	}
	v, ok, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	if err != nil {
		return nil, path, false, fmt.Errorf("%s: %w", FieldName(path), err)
	}
	if !ok || v == nil {
		return nil, path, false, nil
	}
	spec, isMap := v.(map[string]any)
	if !isMap {
		return nil, path, false, fmt.Errorf("%s: expected an object, got %T", FieldName(path), v)
	}
	return spec, path, true, nil
}

// Container is one container map with the name of its field, for messages.
type Container struct {
	Field  string // e.g. "spec.containers[1]"
	Object map[string]any
}

// Containers lists every container of every container list of obj's pod spec.
func Containers(obj *unstructured.Unstructured) ([]Container, error) {
	spec, path, found, err := Spec(obj)
	if err != nil || !found {
		return nil, err
	}
	var out []Container
	for _, list := range ContainerLists {
		v, ok := spec[list]
		if !ok || v == nil {
			continue
		}
		items, isList := v.([]any)
		if !isList {
			return nil, fmt.Errorf("%s: expected a list, got %T", FieldName(path, list), v)
		}
		for i, item := range items {
			field := fmt.Sprintf("%s[%d]", FieldName(path, list), i)
			c, isMap := item.(map[string]any)
			if !isMap {
				return nil, fmt.Errorf("%s: expected an object, got %T", field, item)
			}
			out = append(out, Container{Field: field, Object: c})
		}
	}
	return out, nil
}

// RewriteImages rewrites every container image of obj's pod spec in place and returns how many
// changed. An error names the field whose image could not be handled.
func RewriteImages(obj *unstructured.Unstructured, w imageref.Rewriter) (int, error) {
	if !w.Active() {
		return 0, nil
	}
	containers, err := Containers(obj)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, c := range containers {
		v, ok := c.Object["image"]
		if !ok || v == nil {
			continue
		}
		img, isString := v.(string)
		if !isString {
			return changed, fmt.Errorf("%s.image: expected a string, got %T", c.Field, v)
		}
		out, did, err := w.Rewrite(img)
		if err != nil {
			return changed, fmt.Errorf("%s.image: %w", c.Field, err)
		}
		if did {
			c.Object["image"] = out
			changed++
		}
	}
	return changed, nil
}

// PullSecretNames returns the names in the pod spec's imagePullSecrets.
func PullSecretNames(obj *unstructured.Unstructured) ([]string, error) {
	refs, err := pullSecretRefs(obj)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name)
	}
	return names, nil
}

// RenamePullSecrets replaces imagePullSecrets names through rename (return "" to keep a name).
func RenamePullSecrets(obj *unstructured.Unstructured, rename func(string) string) (int, error) {
	refs, err := pullSecretRefs(obj)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range refs {
		if to := rename(r.Name); to != "" && to != r.Name {
			r.Object["name"] = to
			n++
		}
	}
	return n, nil
}

// NameRef is one {name: ...} entry of a list, e.g. an imagePullSecrets entry.
type NameRef struct {
	Name   string
	Object map[string]any
}

func pullSecretRefs(obj *unstructured.Unstructured) ([]NameRef, error) {
	spec, path, found, err := Spec(obj)
	if err != nil || !found {
		return nil, err
	}
	return NameRefs(spec, "imagePullSecrets", FieldName(path))
}

// NameRefs reads a list of {name: ...} objects at parent[key] (used for pull secrets and a
// ServiceAccount's secrets). Entries without a string name are an error naming the field.
func NameRefs(parent map[string]any, key, parentField string) ([]NameRef, error) {
	v, ok := parent[key]
	if !ok || v == nil {
		return nil, nil
	}
	field := key
	if parentField != "" {
		field = parentField + "." + key
	}
	items, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("%s: expected a list, got %T", field, v)
	}
	out := make([]NameRef, 0, len(items))
	for i, item := range items {
		m, isMap := item.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s[%d]: expected an object, got %T", field, i, item)
		}
		name, isString := m["name"].(string)
		if !isString {
			return nil, fmt.Errorf("%s[%d].name: expected a string, got %T", field, i, m["name"])
		}
		out = append(out, NameRef{Name: name, Object: m})
	}
	return out, nil
}

// WorkloadResources are the group-qualified resources of every workload kind in the table (all but
// pods), for AppliesTo.
var WorkloadResources = []string{
	"deployments.apps", "deploymentconfigs.apps.openshift.io", "replicasets.apps", "replicationcontrollers",
	"statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch",
}

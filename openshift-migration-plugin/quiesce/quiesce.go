// Package quiesce stops the source workloads of a final migration while it is backed up, and
// undoes that (SPEC §6 "quiesce" and "unquiesce"): at restore on the destination, and on the
// source through the plugin binary's "unquiesce" command when a migration is rolled back without
// the controller.
//
// A stopped workload records what it was with the migration controller's keys
// (migration.PreQuiesce*), so the controller's own unquiesce and ours read the same records.
// Quiesce and Unquiesce are the one implementation of those records; the actions and the command
// only decide where they are applied.
package quiesce

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/owners"
	"github.com/velero-openshift/plugins/common/podspec"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// recordKeys are every annotation a quiesce may leave; Unquiesce removes all of them.
var recordKeys = []string{
	migration.PreQuiesceReplicasAnnotation,
	migration.PreQuiescePausedAnnotation,
	migration.PreQuiesceSuspendAnnotation,
	migration.PreQuiesceNodeSelectorAnnotation,
}

// how says what stopping a kind means.
type how int

const (
	scaleAndUnpause how = iota // spec.replicas -> 0, spec.paused -> false
	scale                      // spec.replicas -> 0
	suspend                    // spec.suspend -> true
	parallelism                // spec.parallelism -> 0
	nodeSelector               // pod template node selector matches no node
)

// kind is one quiescable workload kind.
type kind struct {
	gk       schema.GroupKind
	resource string
	// versions the kind is served at, preferred first: the rollback lists the first one a
	// cluster serves (CronJobs are batch/v1beta1 on clusters before Kubernetes 1.21).
	versions []string
	how      how
	// defaultReplicas is what an absent spec.replicas (or spec.parallelism) means. The API
	// server defaults it to 1; a DeploymentConfig's replicas has no default (absent is 0).
	defaultReplicas int64
}

// kinds is the table of quiescable kinds, in the order the rollback walks them.
var kinds = []kind{
	{schema.GroupKind{Group: "apps.openshift.io", Kind: "DeploymentConfig"}, "deploymentconfigs", []string{"v1"}, scaleAndUnpause, 0},
	{schema.GroupKind{Group: "apps", Kind: "Deployment"}, "deployments", []string{"v1"}, scaleAndUnpause, 1},
	{schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "statefulsets", []string{"v1"}, scale, 1},
	{schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, "replicasets", []string{"v1"}, scale, 1},
	{schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, "daemonsets", []string{"v1"}, nodeSelector, 0},
	{schema.GroupKind{Group: "batch", Kind: "CronJob"}, "cronjobs", []string{"v1", "v1beta1"}, suspend, 0},
	{schema.GroupKind{Group: "batch", Kind: "Job"}, "jobs", []string{"v1"}, parallelism, 1},
}

// Resources are the group-qualified resources of the quiescable kinds (both actions' AppliesTo).
func Resources() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.resource + "." + k.gk.Group
	}
	return out
}

// kindOf returns obj's entry of the table.
func kindOf(obj *unstructured.Unstructured) (kind, error) {
	gk := obj.GroupVersionKind().GroupKind()
	for _, k := range kinds {
		if k.gk == gk {
			return k, nil
		}
	}
	return kind{}, fmt.Errorf("kind %q (apiVersion %q) cannot be quiesced", obj.GetKind(), obj.GetAPIVersion())
}

// gvr is the kind's resource at a version.
func (k kind) gvr(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.gk.Group, Version: version, Resource: k.resource}
}

// qualified is the resource's group-qualified name, for messages.
func (k kind) qualified() string { return k.resource + "." + k.gk.Group }

// Quiesce stops a workload in place, recording what it was (see the package doc). A workload
// already stopped, one already carrying records, and a ReplicaSet with a controlling owner (its
// Deployment is quiesced instead) are left alone. A malformed object is an error naming the field,
// and then obj is unchanged.
func Quiesce(obj *unstructured.Unstructured) (changed bool, err error) {
	changes, err := quiesce(obj)
	return len(changes) > 0, err
}

// Unquiesce undoes Quiesce in place: values come back from the records (replicas and parallelism
// only where they are 0 now, so a workload scaled by hand since is kept), then every record and
// the DaemonSet quiesce selector key are removed. An object without records is left alone. A
// malformed record or field is an error naming it, and then obj is unchanged.
func Unquiesce(obj *unstructured.Unstructured) (changed bool, err error) {
	changes, err := unquiesce(obj)
	return len(changes) > 0, err
}

// quiesce is Quiesce returning what it changed, for logs ("spec.replicas 3 -> 0").
func quiesce(obj *unstructured.Unstructured) ([]string, error) {
	k, err := kindOf(obj)
	if err != nil {
		return nil, err
	}
	ann, err := annotations(obj)
	if err != nil {
		return nil, err
	}
	for _, key := range recordKeys {
		if _, ok := ann[key]; ok {
			return nil, nil // quiesced already: a second call must not record stopped values
		}
	}
	if k.gk.Kind == "ReplicaSet" {
		if ctl, err := owners.Controller(obj); err != nil || ctl != nil {
			return nil, err
		}
	}
	// Each case reads and checks everything before writing anything.
	records := map[string]string{}
	var changes []string
	switch k.how {
	case scaleAndUnpause, scale, parallelism:
		field := "replicas"
		if k.how == parallelism {
			field = "parallelism"
		}
		spec, err := specOf(obj)
		if err != nil {
			return nil, err
		}
		n, err := count(spec, field, k.defaultReplicas)
		if err != nil || n == 0 {
			return nil, err
		}
		paused := false
		if k.how == scaleAndUnpause {
			if paused, _, err = boolean(spec, "paused"); err != nil {
				return nil, err
			}
			records[migration.PreQuiescePausedAnnotation] = strconv.FormatBool(paused)
		}
		records[migration.PreQuiesceReplicasAnnotation] = strconv.FormatInt(n, 10)
		spec[field] = int64(0)
		changes = append(changes, fmt.Sprintf("spec.%s %d -> 0", field, n))
		if paused {
			spec["paused"] = false
			changes = append(changes, "spec.paused true -> false")
		}
	case suspend:
		spec, err := specOf(obj)
		if err != nil {
			return nil, err
		}
		suspended, _, err := boolean(spec, "suspend")
		if err != nil || suspended {
			return nil, err
		}
		records[migration.PreQuiesceSuspendAnnotation] = "true"
		spec["suspend"] = true
		changes = append(changes, "spec.suspend false -> true")
	case nodeSelector:
		pod, field, err := podSpecOf(obj)
		if err != nil {
			return nil, err
		}
		selector, present, err := stringMap(pod, "nodeSelector", field)
		if err != nil {
			return nil, err
		}
		if _, stopped := selector[migration.QuiesceDaemonSetSelector]; stopped {
			return nil, nil
		}
		if selector == nil {
			selector = map[string]string{}
		}
		recorded, err := json.Marshal(selector)
		if err != nil {
			return nil, fmt.Errorf("%s.nodeSelector: %w", field, err)
		}
		records[migration.PreQuiesceNodeSelectorAnnotation] = string(recorded)
		if present {
			pod["nodeSelector"].(map[string]any)[migration.QuiesceDaemonSetSelector] = "true"
		} else {
			pod["nodeSelector"] = map[string]any{migration.QuiesceDaemonSetSelector: "true"}
		}
		changes = append(changes, fmt.Sprintf("%s.nodeSelector += %s=true", field, migration.QuiesceDaemonSetSelector))
	}
	if ann == nil {
		ann = map[string]any{}
		obj.Object["metadata"].(map[string]any)["annotations"] = ann // annotations() checked metadata
	}
	keys := make([]string, 0, len(records))
	for key, v := range records {
		ann[key] = v
		keys = append(keys, key+"="+v)
	}
	sort.Strings(keys)
	return append(changes, "recorded "+strings.Join(keys, ", ")), nil
}

// unquiesce is Unquiesce returning what it changed, for logs and the rollback's output.
func unquiesce(obj *unstructured.Unstructured) ([]string, error) {
	k, err := kindOf(obj)
	if err != nil {
		return nil, err
	}
	ann, err := annotations(obj)
	if err != nil {
		return nil, err
	}
	records := map[string]string{}
	for _, key := range recordKeys {
		v, ok := ann[key]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return nil, fmt.Errorf("%s: expected a string, got %T", annotationField(key), v)
		}
		records[key] = s
	}
	// Each case reads and checks everything, then returns the writes to make.
	var writes []func()
	var changes []string
	switch k.how {
	case scaleAndUnpause, scale, parallelism:
		rec, ok := records[migration.PreQuiesceReplicasAnnotation]
		pausedRec, pausedOK := records[migration.PreQuiescePausedAnnotation]
		if k.how != scaleAndUnpause {
			pausedOK = false
		}
		if !ok && !pausedOK {
			break
		}
		spec, err := specOf(obj)
		if err != nil {
			return nil, err
		}
		if ok {
			field := "replicas"
			if k.how == parallelism {
				field = "parallelism"
			}
			want, err := recordedCount(rec)
			if err != nil {
				return nil, err
			}
			n, err := count(spec, field, k.defaultReplicas)
			if err != nil {
				return nil, err
			}
			if n == 0 && want != 0 {
				writes = append(writes, func() { spec[field] = want })
				changes = append(changes, fmt.Sprintf("spec.%s 0 -> %d", field, want))
			}
		}
		if pausedOK {
			want, err := strconv.ParseBool(strings.TrimSpace(pausedRec))
			if err != nil {
				return nil, fmt.Errorf("%s: expected true or false, got %q", annotationField(migration.PreQuiescePausedAnnotation), pausedRec)
			}
			paused, _, err := boolean(spec, "paused")
			if err != nil {
				return nil, err
			}
			// An absent paused is false: left absent when the record says false.
			if paused != want {
				writes = append(writes, func() { spec["paused"] = want })
				changes = append(changes, fmt.Sprintf("spec.paused %t -> %t", paused, want))
			}
		}
	case suspend:
		rec, ok := records[migration.PreQuiesceSuspendAnnotation]
		if !ok {
			break
		}
		weSuspended, err := strconv.ParseBool(strings.TrimSpace(rec))
		if err != nil {
			return nil, fmt.Errorf("%s: expected true or false, got %q", annotationField(migration.PreQuiesceSuspendAnnotation), rec)
		}
		if !weSuspended {
			break
		}
		spec, err := specOf(obj)
		if err != nil {
			return nil, err
		}
		suspended, _, err := boolean(spec, "suspend")
		if err != nil {
			return nil, err
		}
		if suspended {
			writes = append(writes, func() { spec["suspend"] = false })
			changes = append(changes, "spec.suspend true -> false")
		}
	case nodeSelector:
		// Without a record, a template or selector we cannot read holds nothing of ours.
		_, recorded := records[migration.PreQuiesceNodeSelectorAnnotation]
		pod, field, err := podSpecOf(obj)
		if err != nil {
			if recorded {
				return nil, err
			}
			break
		}
		selector, _, err := stringMap(pod, "nodeSelector", field)
		if err != nil {
			if recorded {
				return nil, err
			}
			break
		}
		if _, quiesced := selector[migration.QuiesceDaemonSetSelector]; !quiesced {
			break // not (or no longer) stopped by us: only the records go
		}
		restored := map[string]any{}
		if recorded {
			var previous map[string]string
			rec := records[migration.PreQuiesceNodeSelectorAnnotation]
			if err := json.Unmarshal([]byte(rec), &previous); err != nil {
				return nil, fmt.Errorf("%s: not a JSON object of strings: %v", annotationField(migration.PreQuiesceNodeSelectorAnnotation), err)
			}
			for key, v := range previous {
				restored[key] = v
			}
		} else {
			for key, v := range selector {
				restored[key] = v
			}
		}
		delete(restored, migration.QuiesceDaemonSetSelector)
		writes = append(writes, func() {
			if len(restored) == 0 {
				delete(pod, "nodeSelector")
			} else {
				pod["nodeSelector"] = restored
			}
		})
		changes = append(changes, fmt.Sprintf("%s.nodeSelector -> %s", field, describeSelector(restored)))
	}
	if len(records) == 0 && len(writes) == 0 {
		return nil, nil
	}
	for _, w := range writes {
		w()
	}
	removed := make([]string, 0, len(records))
	for key := range records {
		delete(ann, key)
		removed = append(removed, key)
	}
	if len(removed) > 0 {
		sort.Strings(removed)
		changes = append(changes, "removed "+strings.Join(removed, ", "))
	}
	if len(ann) == 0 {
		delete(obj.Object["metadata"].(map[string]any), "annotations") // annotations() checked metadata
	}
	return changes, nil
}

// HasRecords reports whether obj carries any quiesce record (the rollback's filter). A malformed
// annotations field reports false; Unquiesce reports it.
func HasRecords(obj *unstructured.Unstructured) bool {
	ann, err := annotations(obj)
	if err != nil {
		return false
	}
	for _, key := range recordKeys {
		if _, ok := ann[key]; ok {
			return true
		}
	}
	return false
}

// describeSelector formats a node selector for messages ("{}" when empty), keys sorted.
func describeSelector(m map[string]any) string {
	if len(m) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ", ") + "}"
}

// podSpecOf returns the pod template spec of a DaemonSet and its field name for messages.
func podSpecOf(obj *unstructured.Unstructured) (map[string]any, string, error) {
	spec, path, found, err := podspec.Spec(obj)
	if err != nil {
		return nil, "", err
	}
	field := podspec.FieldName(path)
	if !found {
		return nil, field, fmt.Errorf("%s: missing", field)
	}
	return spec, field, nil
}

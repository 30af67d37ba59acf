// Package restorehooks answers one question for the pod and DeploymentConfig restore actions:
// is a controller-owned pod restored by itself? It is when Velero has pod volume data to put back
// into it (a PodVolumeBackup of the restored backup with a snapshot) or restore hooks to run in it:
// a pod the controller re-creates gets neither. Both actions decide through Checker.Decide from
// the same evidence, so a DeploymentConfig is scaled to 0 exactly when one of its pods is restored
// (and detached from it): the pod restore from the backed-up pod (PodOf), the DC restore, which
// never sees the pods, from their names in the PodVolumeBackups and what the DC backup recorded
// about them (DeploymentConfigPods).
//
// Hook matching follows Velero's own (internal/hook in the velero module): annotations on the pod
// win; otherwise a Restore.spec.hooks.resources entry applies when its namespace filter accepts the
// pod's destination namespace (Velero applies the namespace mapping before matching) and its label
// selector accepts the pod's labels. Velero only runs restore hooks on pods and ignores the entry's
// includedResources/excludedResources, so they are ignored here too: a pod Velero would run a hook
// in is never skipped.
package restorehooks

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/label"
	"github.com/vmware-tanzu/velero/pkg/util/collections"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/common/retry"
)

// PodVolumeBackups is Velero's PodVolumeBackup resource.
var PodVolumeBackups = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "podvolumebackups"}

// Reasons says why a controller-owned pod must be restored by itself.
type Reasons struct {
	Volumes bool   // Velero restores pod volume data into it
	Hooks   bool   // Velero runs restore hooks in it
	Detail  string // for logs, e.g. "restore hook spec \"db\""
}

// Any reports whether the pod must be restored.
func (r Reasons) Any() bool { return r.Volumes || r.Hooks }

// HasVolumeAnnotation reports whether a pod opted volumes into file-system backup.
func HasVolumeAnnotation(annotations map[string]string) bool {
	return annotations[keys.VeleroBackupVolumes] != ""
}

// HasHookAnnotations reports whether a pod's annotations define a restore hook Velero runs (the
// same non-empty tests Velero makes before using them).
func HasHookAnnotations(annotations map[string]string) bool {
	return annotations[keys.VeleroPostRestoreHookCommand] != "" || annotations[keys.VeleroInitRestoreHookImage] != ""
}

// SpecHook returns the name of the first Restore hook spec that applies to a pod with these labels
// restored into namespace (the destination namespace) and has a hook to run. An invalid label
// selector is an error naming the spec, as Velero fails the restore on it.
func SpecHook(restore *velerov1.Restore, namespace string, podLabels map[string]string) (string, bool, error) {
	if restore == nil {
		return "", false, nil
	}
	for i, spec := range restore.Spec.Hooks.Resources {
		if !hasHook(spec.PostHooks) {
			continue
		}
		if !collections.NewIncludesExcludes().Includes(spec.IncludedNamespaces...).Excludes(spec.ExcludedNamespaces...).ShouldInclude(namespace) {
			continue
		}
		if spec.LabelSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(spec.LabelSelector)
			if err != nil {
				return "", false, fmt.Errorf("restore %s spec.hooks.resources[%d] (%q).labelSelector: %w", restore.Name, i, spec.Name, err)
			}
			if !sel.Matches(labels.Set(podLabels)) {
				continue
			}
		}
		return spec.Name, true, nil
	}
	return "", false, nil
}

func hasHook(hooks []velerov1.RestoreResourceHook) bool {
	for _, h := range hooks {
		if h.Exec != nil || h.Init != nil {
			return true
		}
	}
	return false
}

// Pods are the backed-up pods one decision is about: one pod (PodOf), or the pods of one
// DeploymentConfig (DeploymentConfigPods).
type Pods struct {
	// Namespace is the pods' namespace in the backup; Named tells the pods' names apart from
	// others' in the PodVolumeBackups of that namespace.
	Namespace string
	Named     func(podName string) bool
	// Labels are matched against the Restore's hook specs; nil: no pod is known to match with.
	Labels map[string]string
	// HookAnnotations: a pod carries restore hook annotations.
	HookAnnotations bool
	// NonRestorable tells the volumes Velero restores nothing into (projected, downwardAPI).
	NonRestorable func(volume string) bool
	// Fallback is what the backed-up item says about volumes to restore, read only when
	// PodVolumeBackups cannot be listed (no client): empty when it says none.
	Fallback string
}

// PodOf describes one pod as backed up (read it from the item in the backup: labels and
// annotations as they were).
func PodOf(pod *unstructured.Unstructured) Pods {
	annotations := pod.GetAnnotations()
	podLabels := pod.GetLabels()
	if podLabels == nil {
		podLabels = map[string]string{} // a known pod without labels still matches selector-less hook specs
	}
	name := pod.GetName()
	p := Pods{
		Namespace:       pod.GetNamespace(),
		Named:           func(n string) bool { return n == name },
		Labels:          podLabels,
		HookAnnotations: HasHookAnnotations(annotations),
		NonRestorable:   nonRestorable(pod.Object, "spec", "volumes"),
	}
	if HasVolumeAnnotation(annotations) {
		p.Fallback = "annotation " + keys.VeleroBackupVolumes
	}
	return p
}

// Checker decides for pods. It lists the Restore's PodVolumeBackups once per restore.
type Checker struct {
	client  dynamic.Interface
	timeout time.Duration
	policy  retry.Policy

	cache opcache.Cache[pvbIndex]
}

// pvbIndex maps the namespace and name of a backed-up pod to its PodVolumeBackups.
type pvbIndex map[string]map[string][]volumeBackup

type volumeBackup struct {
	volume     string
	snapshotID string
}

// NewChecker returns a Checker listing PodVolumeBackups through client (may be nil: then what the
// backed-up items say about volumes stands in for them).
func NewChecker(client dynamic.Interface) *Checker {
	return &Checker{client: client, timeout: 30 * time.Second, policy: retry.Default()}
}

// Pod decides for pod as backed up, restored into targetNamespace.
func (c *Checker) Pod(ctx context.Context, restore *velerov1.Restore, pod *unstructured.Unstructured, targetNamespace string) (Reasons, error) {
	return c.Decide(ctx, restore, targetNamespace, PodOf(pod))
}

// Decide tells whether Velero restores volume data into, or runs restore hooks in, any of pods
// restored into targetNamespace. Cheap tests come first; PodVolumeBackups are only listed when
// hooks do not already decide. A PodVolumeBackup counts like Velero's restore counts it: one with
// a snapshot, of a volume that is not projected or downwardAPI.
func (c *Checker) Decide(ctx context.Context, restore *velerov1.Restore, targetNamespace string, pods Pods) (Reasons, error) {
	if pods.HookAnnotations {
		return Reasons{Hooks: true, Detail: "restore hook annotations"}, nil
	}
	if pods.Labels != nil {
		name, ok, err := SpecHook(restore, targetNamespace, pods.Labels)
		if err != nil {
			return Reasons{}, err
		}
		if ok {
			return Reasons{Hooks: true, Detail: fmt.Sprintf("restore hook spec %q", name)}, nil
		}
	}
	if c == nil || c.client == nil || restore == nil {
		if pods.Fallback != "" {
			return Reasons{Volumes: true, Detail: pods.Fallback + " (PodVolumeBackups not listed)"}, nil
		}
		return Reasons{}, nil
	}
	idx, err := c.index(ctx, restore)
	if err != nil {
		return Reasons{}, err
	}
	byPod := idx[pods.Namespace]
	names := make([]string, 0, len(byPod))
	for name := range byPod {
		if pods.Named != nil && pods.Named(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var vols []string
		for _, b := range byPod[name] {
			if b.snapshotID != "" && (pods.NonRestorable == nil || !pods.NonRestorable(b.volume)) {
				vols = append(vols, b.volume)
			}
		}
		if len(vols) > 0 {
			sort.Strings(vols)
			return Reasons{Volumes: true, Detail: fmt.Sprintf("pod volume backups of pod %s (volumes %s)", name, strings.Join(vols, ", "))}, nil
		}
	}
	return Reasons{}, nil
}

// index returns the restore's PodVolumeBackups, listing them on first use. A failed list is not
// cached (the next item retries); a missing CRD means there are none.
func (c *Checker) index(ctx context.Context, restore *velerov1.Restore) (pvbIndex, error) {
	return c.cache.Get(opcache.Op(restore), "", func() (pvbIndex, error) { return c.list(ctx, restore) })
}

// list lists the PodVolumeBackups of the restore's backup, trying a quick failure again within the
// call as the retry policy says.
func (c *Checker) list(ctx context.Context, restore *velerov1.Restore) (pvbIndex, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		idx, err := c.listOnce(ctx, restore)
		if err == nil {
			return idx, nil
		}
		if !c.policy.Again(ctx, attempt, err) {
			tries := ""
			if attempt > 1 {
				tries = fmt.Sprintf(" (%d attempts)", attempt)
			}
			return nil, fmt.Errorf("listing PodVolumeBackups of backup %s in %s%s: %w", restore.Spec.BackupName, restore.Namespace, tries, err)
		}
	}
}

func (c *Checker) listOnce(ctx context.Context, restore *velerov1.Restore) (pvbIndex, error) {
	idx := pvbIndex{}
	opts := metav1.ListOptions{
		// Velero labels with a shortened, hashed name when the backup name is too long for a label.
		LabelSelector: keys.VeleroBackupNameLabel + "=" + label.GetValidName(restore.Spec.BackupName),
		Limit:         500,
	}
	for {
		list, err := c.client.Resource(PodVolumeBackups).Namespace(restore.Namespace).List(ctx, opts)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return idx, nil
		}
		if err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			ns, _, _ := unstructured.NestedString(item.Object, "spec", "pod", "namespace")
			name, _, _ := unstructured.NestedString(item.Object, "spec", "pod", "name")
			vol, _, _ := unstructured.NestedString(item.Object, "spec", "volume")
			snap, _, _ := unstructured.NestedString(item.Object, "status", "snapshotID")
			if name == "" || vol == "" {
				continue
			}
			if idx[ns] == nil {
				idx[ns] = map[string][]volumeBackup{}
			}
			idx[ns][name] = append(idx[ns][name], volumeBackup{volume: vol, snapshotID: snap})
		}
		if list.GetContinue() == "" {
			return idx, nil
		}
		opts.Continue = list.GetContinue()
	}
}

// nonRestorable tells the projected and downwardAPI volumes of the volume list at path in obj.
func nonRestorable(obj map[string]any, path ...string) func(volume string) bool {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	vols, _ := v.([]any)
	names := map[string]bool{}
	for _, v := range vols {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if m["projected"] != nil || m["downwardAPI"] != nil {
			names[name] = true
		}
	}
	return func(volume string) bool { return names[volume] }
}

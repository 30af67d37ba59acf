// Package restorehooks answers one question for the pod and DeploymentConfig restore actions:
// must this pod be restored by itself even though a controller owns it? It must when Velero has
// pod volume data to put back into it (file-system backup) or restore hooks to run in it: a pod
// the controller re-creates gets neither.
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

// ForLabels decides for a pod known only by its destination namespace and labels (the
// DeploymentConfig restore, from the labels recorded at backup): only Restore hook specs can apply.
func ForLabels(restore *velerov1.Restore, namespace string, podLabels map[string]string) (Reasons, error) {
	name, ok, err := SpecHook(restore, namespace, podLabels)
	if err != nil || !ok {
		return Reasons{}, err
	}
	return Reasons{Hooks: true, Detail: fmt.Sprintf("restore hook spec %q", name)}, nil
}

// Checker decides for whole pods. It lists the Restore's PodVolumeBackups once per restore.
type Checker struct {
	client  dynamic.Interface
	timeout time.Duration

	cache opcache.Cache[pvbIndex]
}

// pvbIndex maps "namespace/name" of a backed-up pod to its PodVolumeBackups.
type pvbIndex map[string][]volumeBackup

type volumeBackup struct {
	volume     string
	snapshotID string
}

// NewChecker returns a Checker listing PodVolumeBackups through client (may be nil: then only
// annotations and hooks are considered).
func NewChecker(client dynamic.Interface) *Checker {
	return &Checker{client: client, timeout: 30 * time.Second}
}

// Pod decides for pod as backed up (read it from the item in the backup: labels and annotations
// as they were) restored into targetNamespace. Cheap tests come first; PodVolumeBackups are only
// listed when annotations and hooks do not already decide.
func (c *Checker) Pod(ctx context.Context, restore *velerov1.Restore, pod *unstructured.Unstructured, targetNamespace string) (Reasons, error) {
	annotations := pod.GetAnnotations()
	if HasVolumeAnnotation(annotations) {
		return Reasons{Volumes: true, Detail: "annotation " + keys.VeleroBackupVolumes}, nil
	}
	if HasHookAnnotations(annotations) {
		return Reasons{Hooks: true, Detail: "restore hook annotations"}, nil
	}
	r, err := ForLabels(restore, targetNamespace, pod.GetLabels())
	if err != nil || r.Any() {
		return r, err
	}
	vols, err := c.VolumeBackups(ctx, restore, pod)
	if err != nil || len(vols) == 0 {
		return Reasons{}, err
	}
	return Reasons{Volumes: true, Detail: fmt.Sprintf("pod volume backups of %v", vols)}, nil
}

// VolumeBackups returns the volumes of pod (in its backed-up namespace) that Velero restores from
// PodVolumeBackups: like Velero, entries without a snapshot and volumes from projected or
// downwardAPI sources are left out, since nothing is restored for them.
func (c *Checker) VolumeBackups(ctx context.Context, restore *velerov1.Restore, pod *unstructured.Unstructured) ([]string, error) {
	if c == nil || c.client == nil || restore == nil {
		return nil, nil
	}
	idx, err := c.index(ctx, restore)
	if err != nil {
		return nil, err
	}
	pvbs := idx[pod.GetNamespace()+"/"+pod.GetName()]
	if len(pvbs) == 0 {
		return nil, nil
	}
	skip := nonRestorableVolumes(pod)
	var out []string
	for _, b := range pvbs {
		if b.snapshotID != "" && !skip[b.volume] {
			out = append(out, b.volume)
		}
	}
	return out, nil
}

// index returns the restore's PodVolumeBackups, listing them on first use. A failed list is not
// cached (the next item retries); a missing CRD means there are none.
func (c *Checker) index(ctx context.Context, restore *velerov1.Restore) (pvbIndex, error) {
	return c.cache.Get(opcache.Op(restore), "", func() (pvbIndex, error) { return c.list(ctx, restore) })
}

func (c *Checker) list(ctx context.Context, restore *velerov1.Restore) (pvbIndex, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
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
			return nil, fmt.Errorf("listing PodVolumeBackups of backup %s in %s: %w", restore.Spec.BackupName, restore.Namespace, err)
		}
		for _, item := range list.Items {
			ns, _, _ := unstructured.NestedString(item.Object, "spec", "pod", "namespace")
			name, _, _ := unstructured.NestedString(item.Object, "spec", "pod", "name")
			vol, _, _ := unstructured.NestedString(item.Object, "spec", "volume")
			snap, _, _ := unstructured.NestedString(item.Object, "status", "snapshotID")
			if name == "" || vol == "" {
				continue
			}
			k := ns + "/" + name
			idx[k] = append(idx[k], volumeBackup{volume: vol, snapshotID: snap})
		}
		if list.GetContinue() == "" {
			return idx, nil
		}
		opts.Continue = list.GetContinue()
	}
}

// nonRestorableVolumes names the pod's projected and downwardAPI volumes.
func nonRestorableVolumes(pod *unstructured.Unstructured) map[string]bool {
	v, _, _ := unstructured.NestedFieldNoCopy(pod.Object, "spec", "volumes")
	vols, _ := v.([]any)
	out := map[string]bool{}
	for _, v := range vols {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		if m["projected"] != nil || m["downwardAPI"] != nil {
			out[name] = true
		}
	}
	return out
}

// Package deploymentconfig backs up and restores DeploymentConfigs. At backup it records what the
// restore cannot see about the DC's live pods: restore hook annotations, labels (for the Restore's
// hook specs) and whether they have volumes. At restore, the DC is scaled to 0 exactly when the pod
// restore restores one of its pods by itself (PodVolumeBackups of the backup, restore hooks: one
// decision, common/restorehooks), so it does not run a second set of pods beside them; images and
// image-change triggers are rewritten for the destination.
package deploymentconfig

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"github.com/vmware-tanzu/velero/pkg/util/podvolume"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/common/restorehooks"
)

// Registered names.
const (
	BackupName  = "openshift.io/03-deploymentconfig-backup"
	RestoreName = "openshift.io/04-deploymentconfig-restore"
)

// Resource is the group-qualified resource both actions apply to.
const Resource = "deploymentconfigs.apps.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) {
			if env.Clients == nil {
				return nil, fmt.Errorf("no API clients")
			}
			kube, err := env.Clients.Kube()
			if err != nil {
				return nil, err
			}
			return NewBackup(env, kube.CoreV1()), nil
		}},
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
			if env.Clients == nil {
				return nil, fmt.Errorf("no API clients")
			}
			dyn, err := env.Clients.Dynamic()
			if err != nil {
				return nil, err
			}
			return NewRestore(env, dyn), nil
		}},
	}
}

// Backup records what the restore needs to know about a DC's pods.
type Backup struct {
	env     action.Env
	pods    corev1client.PodsGetter
	timeout time.Duration

	cache opcache.Cache[map[string]*podSummary] // backup -> namespace -> DC name
}

// podSummary is what the live pods of one DC say.
type podSummary struct {
	volumeAnnotation bool // a pod opted volumes into file-system backup
	fsVolumes        bool // a pod has volumes Velero backs up by default (defaultVolumesToFsBackup)
	hooks            bool // a pod carries restore hook annotations
	labels           map[string]string
	newest           metav1.Time
	newestName       string
}

// NewBackup builds the backup action; pods lists the live pods of a DC's namespace.
func NewBackup(env action.Env, pods corev1client.PodsGetter) *Backup {
	return &Backup{env: env, pods: pods, timeout: 30 * time.Second}
}

// AppliesTo selects DeploymentConfigs.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) { return action.Resources(Resource), nil }

// Execute annotates the DC with keys.DCPodsHaveVolumeBackups, keys.DCPodsHaveRestoreHooks and
// keys.DCPodLabels (the labels of its newest pod; absent when it has no pods). Volumes count when a
// pod opted them into file-system backup, or when the Backup backs up pod volumes by default and a
// pod has a volume Velero would back up that way (Velero's own rule: anything but hostPath,
// secret, configMap, projected, downwardAPI, default-token and opted-out volumes; emptyDir and PVCs
// count). Velero volume policies are not evaluated: the restore goes by the PodVolumeBackups and
// reads the volumes key only when it cannot list them.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	bi, err := b.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	s, err := b.summary(context.Background(), backup, bi.Obj.GetNamespace(), bi.Obj.GetName())
	if err != nil {
		return nil, nil, err
	}
	annotations, err := fields.Metadata(bi.Obj.Object, "annotations", true)
	if err != nil {
		return nil, nil, err
	}
	defaultFS := backup.Spec.DefaultVolumesToFsBackup != nil && *backup.Spec.DefaultVolumesToFsBackup
	volumes := s != nil && (s.volumeAnnotation || (defaultFS && s.fsVolumes))
	hooks := s != nil && s.hooks
	annotations[keys.DCPodsHaveVolumeBackups] = strconv.FormatBool(volumes)
	annotations[keys.DCPodsHaveRestoreHooks] = strconv.FormatBool(hooks)
	delete(annotations, keys.DCPodLabels) // a restored DC may carry a stale value
	if s != nil {
		data, err := json.Marshal(s.labels)
		if err != nil {
			return nil, nil, err
		}
		annotations[keys.DCPodLabels] = string(data)
	}
	bi.Log.Infof("pods: volumes to restore %v, restore hooks %v", volumes, hooks)
	return bi.Obj, nil, nil
}

// summary returns the summary of DC name's pods (nil: none), listing the namespace's DC pods once
// per backup. A failed list is not cached.
func (b *Backup) summary(ctx context.Context, backup *velerov1.Backup, ns, name string) (*podSummary, error) {
	byDC, err := b.cache.Get(opcache.Op(backup), ns, func() (map[string]*podSummary, error) { return b.list(ctx, ns) })
	return byDC[name], err
}

func (b *Backup) list(ctx context.Context, ns string) (map[string]*podSummary, error) {
	if b.pods == nil {
		return nil, fmt.Errorf("listing pods of DeploymentConfigs in %s: no Kubernetes client", ns)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out := map[string]*podSummary{}
	opts := metav1.ListOptions{LabelSelector: keys.DeploymentConfigLabel, Limit: 500}
	for {
		list, err := b.pods.Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pods of DeploymentConfigs in %s: %w", ns, err)
		}
		for i := range list.Items {
			add(out, &list.Items[i])
		}
		if list.Continue == "" {
			return out, nil
		}
		opts.Continue = list.Continue
	}
}

func add(out map[string]*podSummary, pod *corev1.Pod) {
	dc := pod.Labels[keys.DeploymentConfigLabel]
	if dc == "" {
		return
	}
	s := out[dc]
	if s == nil {
		s = &podSummary{}
		out[dc] = s
	}
	s.volumeAnnotation = s.volumeAnnotation || restorehooks.HasVolumeAnnotation(pod.Annotations)
	s.hooks = s.hooks || restorehooks.HasHookAnnotations(pod.Annotations)
	if !s.fsVolumes {
		vols, _ := podvolume.GetVolumesByPod(pod, true, false, nil)
		s.fsVolumes = len(vols) > 0
	}
	newer := s.labels == nil || s.newest.Before(&pod.CreationTimestamp) ||
		(s.newest.Equal(&pod.CreationTimestamp) && pod.Name > s.newestName)
	if newer {
		s.labels = map[string]string{}
		for k, v := range pod.Labels {
			s.labels[k] = v
		}
		s.newest, s.newestName = pod.CreationTimestamp, pod.Name
	}
}

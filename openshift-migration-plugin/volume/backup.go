package volume

import (
	"context"
	"errors"
	"fmt"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/liveupdate"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// pvGVR is the live PersistentVolume resource. The live PV is read and written as unstructured so
// that no field the API server has and this client does not know is lost by the update.
var pvGVR = schema.GroupVersionResource{Version: "v1", Resource: PVResource}

const (
	// retain is the reclaim policy under which Velero restores a PV as is and the source keeps
	// the data.
	retain = string(corev1.PersistentVolumeReclaimRetain)
)

// Backup sets moved PVs to Retain on the live source cluster and on the backed-up item.
type Backup struct {
	env action.Env
	pvs dynamic.ResourceInterface // live PersistentVolumes; nil: no cluster client
	// update bounds the live update: attempts on conflicts, and a timeout per API call (a backup
	// must never hang on the API server).
	update liveupdate.Options
}

// newBackup builds the backup action from the process's clients. Without clients (fuzzing, unit
// tests of other actions) it is still built: only a moved PV of a migration needs the client, and
// that is then an error for that item.
func newBackup(env action.Env) (any, error) {
	var pvs dynamic.ResourceInterface
	if env.Clients != nil {
		dyn, err := env.Clients.Dynamic()
		if err != nil {
			return nil, err
		}
		pvs = dyn.Resource(pvGVR)
	}
	return NewBackup(env, pvs), nil
}

// NewBackup builds the backup action; pvs reads and updates the live PersistentVolumes.
func NewBackup(env action.Env, pvs dynamic.ResourceInterface) *Backup {
	return &Backup{env: env, pvs: pvs}
}

// AppliesTo selects PersistentVolumes.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(PVResource), nil
}

// Execute sets a moved PV of a migration Backup to Retain. Velero restores a PV as is (binding the
// same storage) only when it is Retain, and the source must keep the data for a rollback, so the
// original policy is recorded (migration.OrigReclaimPolicyAnnotation) but deliberately never put
// back. The decision is the live PV's: the backed-up item may be older.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	if !migration.OfBackup(backup).Migration {
		return item, nil, nil
	}
	bi, err := b.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	vol, err := volumeOf(bi.Obj)
	if err != nil || vol.Action != migration.ActionMove {
		return bi.Obj, nil, err
	}
	name := bi.Obj.GetName()
	if name == "" {
		return nil, nil, errors.New("metadata.name: missing")
	}
	// A malformed item is reported before anything is written to the cluster.
	spec, policy, err := reclaimPolicyOf(bi.Obj)
	if err != nil {
		return nil, nil, err
	}
	live, err := b.retainLive(name)
	if err != nil {
		return nil, nil, err
	}
	if live.gone {
		bi.Log.Warnf("live PersistentVolume %s not found: only the backed-up item is set to Retain", name)
	}
	if err := retainItem(bi.Obj, spec, policy, live); err != nil {
		return nil, nil, err
	}
	switch {
	case live.updated:
		bi.Log.Infof("reclaim policy %s -> Retain on the live PersistentVolume and the backed-up item (recorded in %s)",
			live.orig, migration.OrigReclaimPolicyAnnotation)
	case !live.gone:
		bi.Log.Debug("live PersistentVolume already Retain")
	}
	return bi.Obj, nil, nil
}

// liveResult is what retainLive found and did.
type liveResult struct {
	gone    bool   // the live PV does not exist
	updated bool   // the live PV was set to Retain
	orig    string // the live policy before (when updated), else the recorded one (may be "")
}

// retainLive sets the live PV name to Retain, recording its previous policy, retrying conflicts.
func (b *Backup) retainLive(name string) (liveResult, error) {
	if b.pvs == nil {
		return liveResult{}, fmt.Errorf("persistentvolume %s: no Kubernetes client to set reclaim policy Retain", name)
	}
	var res liveResult
	err := liveupdate.Update(context.Background(), b.pvs, name, nil, func(pv *unstructured.Unstructured) (bool, error) {
		res = liveResult{}
		policy, _, err := unstructured.NestedString(pv.Object, "spec", "persistentVolumeReclaimPolicy")
		if err != nil {
			return false, fmt.Errorf("live spec.persistentVolumeReclaimPolicy: %w", err)
		}
		a, err := fields.Metadata(pv.Object, "annotations", policy != retain)
		if err != nil {
			return false, fmt.Errorf("live %w", err)
		}
		if policy == retain {
			res.orig = a.Get(migration.OrigReclaimPolicyAnnotation)
			return false, nil
		}
		if err := unstructured.SetNestedField(pv.Object, retain, "spec", "persistentVolumeReclaimPolicy"); err != nil {
			return false, fmt.Errorf("live spec: %w", err)
		}
		a[migration.OrigReclaimPolicyAnnotation] = policy
		res.updated, res.orig = true, policy
		return true, nil
	}, b.update)
	if apierrors.IsNotFound(err) {
		return liveResult{gone: true}, nil
	}
	if err != nil {
		return liveResult{}, fmt.Errorf("persistentvolume %s: setting reclaim policy Retain: %w", name, err)
	}
	return res, nil
}

// reclaimPolicyOf returns the item's spec (shared with it) and its reclaim policy.
func reclaimPolicyOf(obj *unstructured.Unstructured) (map[string]any, string, error) {
	spec, err := specOf(obj)
	if err != nil {
		return nil, "", err
	}
	policy, err := fields.String(spec, "persistentVolumeReclaimPolicy", "spec")
	return spec, policy, err
}

// retainItem makes the backed-up item Retain as the live PV now is. An item already Retain is
// left as it is unless this backup changed the live PV (it carries whatever the live PV carried
// when Velero read it). The recorded policy is the live one's before it became Retain, else the
// item's own.
func retainItem(obj *unstructured.Unstructured, spec map[string]any, policy string, live liveResult) error {
	if policy == retain && !live.updated {
		return nil
	}
	a, err := fields.Metadata(obj.Object, "annotations", true)
	if err != nil {
		return err
	}
	orig := live.orig
	if orig == "" {
		orig = policy
	}
	spec["persistentVolumeReclaimPolicy"] = retain
	if _, recorded := a[migration.OrigReclaimPolicyAnnotation]; !recorded || live.updated {
		a[migration.OrigReclaimPolicyAnnotation] = orig
	}
	return nil
}

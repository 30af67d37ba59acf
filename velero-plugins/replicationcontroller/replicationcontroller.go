// Package replicationcontroller backs up and restores ReplicationControllers. A DeploymentConfig
// re-creates its RCs, so restoring them would run a second set of pods; only the RCs of a DC that
// was paused at backup (which would not re-create them) are restored, marked as such at backup.
package replicationcontroller

import (
	"context"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/common/owners"
	"github.com/velero-openshift/plugins/common/podspec"
)

// Registered names.
const (
	BackupName  = "openshift.io/04-replicationcontroller-backup"
	RestoreName = "openshift.io/05-replicationcontroller-restore"
)

// DeploymentConfigs is the resource the backup reads the owner's paused flag from.
var DeploymentConfigs = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) {
			if env.Clients == nil {
				return nil, fmt.Errorf("no API clients")
			}
			dyn, err := env.Clients.Dynamic()
			if err != nil {
				return nil, err
			}
			return NewBackup(env, dyn), nil
		}},
		action.ItemRestoreRegistration(RestoreName, restore, "replicationcontrollers"),
	}
}

// owningDC returns the name of the DeploymentConfig that owns rc: an owner reference of kind
// DeploymentConfig, else the DC name annotation OpenShift puts on the RCs it creates.
func owningDC(rc *unstructured.Unstructured) (string, error) {
	list, err := owners.List(rc)
	if err != nil {
		return "", err
	}
	for _, o := range list {
		if o.Kind == "DeploymentConfig" && o.Name != "" {
			return o.Name, nil
		}
	}
	return rc.GetAnnotations()[keys.DeploymentConfigAnnotation], nil
}

// Backup marks the RCs of paused DeploymentConfigs with keys.PausedOwnerRef.
type Backup struct {
	env     action.Env
	client  dynamic.Interface
	timeout time.Duration

	cache opcache.Cache[map[string]bool] // backup -> namespace -> DC name -> paused
}

// NewBackup builds the backup action; client reads DeploymentConfigs.
func NewBackup(env action.Env, client dynamic.Interface) *Backup {
	return &Backup{env: env, client: client, timeout: 30 * time.Second}
}

// AppliesTo selects ReplicationControllers.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("replicationcontrollers"), nil
}

// Execute marks rc when its DC is paused. An RC whose DC no longer exists is not marked.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	bi, err := b.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	dc, err := owningDC(bi.Obj)
	if err != nil || dc == "" {
		return bi.Obj, nil, err
	}
	paused, exists, err := b.paused(context.Background(), backup, bi.Obj.GetNamespace(), dc)
	if err != nil {
		return nil, nil, err
	}
	if !exists {
		bi.Log.Infof("DeploymentConfig %s not found; not marked", dc)
	}
	if !paused {
		return bi.Obj, nil, nil
	}
	annotations, err := fields.Metadata(bi.Obj.Object, "annotations", true)
	if err != nil {
		return nil, nil, err
	}
	annotations[keys.PausedOwnerRef] = "true"
	bi.Log.Infof("DeploymentConfig %s is paused: marked for restore", dc)
	return bi.Obj, nil, nil
}

// paused answers from the namespace's DCs, listed once per backup and namespace. A cluster without
// the DeploymentConfig API has no DCs; a failed list is not cached.
func (b *Backup) paused(ctx context.Context, backup *velerov1.Backup, ns, name string) (paused, exists bool, err error) {
	dcs, err := b.cache.Get(opcache.Op(backup), ns, func() (map[string]bool, error) { return b.list(ctx, ns) })
	paused, exists = dcs[name]
	return paused, exists, err
}

func (b *Backup) list(ctx context.Context, ns string) (map[string]bool, error) {
	if b.client == nil {
		return nil, fmt.Errorf("listing DeploymentConfigs in %s: no dynamic client", ns)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out := map[string]bool{}
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := b.client.Resource(DeploymentConfigs).Namespace(ns).List(ctx, opts)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing DeploymentConfigs in %s: %w", ns, err)
		}
		for _, dc := range list.Items {
			paused, _, _ := unstructured.NestedBool(dc.Object, "spec", "paused")
			out[dc.GetName()] = paused
		}
		if list.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = list.GetContinue()
	}
}

// restore skips the RCs a DeploymentConfig re-creates; the others get their images rewritten and
// their generated pull secrets swapped.
//
// It skips an RC owned by a DC unless it was marked keys.PausedOwnerRef at backup. Ownership
// is read from the backed-up item: Velero clears ownerReferences before restore actions run.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	from := ri.FromBackup
	dc, err := owningDC(from)
	if err != nil {
		return nil, err
	}
	if dc != "" && from.GetAnnotations()[keys.PausedOwnerRef] != "true" {
		ri.Log.Infof("skipping: DeploymentConfig %s re-creates it", dc)
		return action.Skip(ri.Obj), nil
	}
	if n, err := podspec.RewriteImages(ri.Obj, ri.Images); err != nil {
		return nil, err
	} else if n > 0 {
		ri.Log.Infof("rewrote %d image reference(s) for the destination registry", n)
	}
	if err := ri.RenamePullSecrets(context.Background()); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

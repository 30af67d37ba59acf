package quiesce

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/liveupdate"
	"github.com/velero-openshift/plugins/common/owners"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// Registered names.
var (
	BackupName  = migration.Name("01-quiesce-backup")
	RestoreName = migration.Name("01-unquiesce-restore")
)

// Bounds of every live-cluster write: each call has its own timeout, and a write that keeps
// losing to other writers gives up after a few re-reads.
const (
	callTimeout    = liveupdate.DefaultTimeout
	updateAttempts = liveupdate.DefaultAttempts
)

// Registrations returns this package's rows of the registration table (backup first).
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) {
			// The client is built on first use, so that every Backup that is not a quiescing
			// migration passes through without touching a cluster.
			return &Backup{env: env, client: func() (dynamic.Interface, error) {
				if env.Clients == nil {
					return nil, fmt.Errorf("no API clients")
				}
				return env.Clients.Dynamic()
			}, timeout: callTimeout, attempts: updateAttempts}, nil
		}},
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
			return &Restore{env: env}, nil
		}},
	}
}

// Backup stops each workload on the live source cluster during a final migration's Backup that
// asks for it, recording its previous values there. The backed-up item is returned as given: it
// keeps its running values and no records, so what is restored runs.
type Backup struct {
	env      action.Env
	client   func() (dynamic.Interface, error)
	timeout  time.Duration
	attempts int
}

// NewBackup builds the backup action over a dynamic client of the source cluster.
func NewBackup(env action.Env, client dynamic.Interface) *Backup {
	return &Backup{env: env, client: func() (dynamic.Interface, error) { return client, nil },
		timeout: callTimeout, attempts: updateAttempts}
}

// AppliesTo selects the quiescable workloads.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resources()...), nil
}

// Execute quiesces the live copy of item when the Backup is a final migration's with quiesce
// requested. A live object that is gone is a warning; a failed update an error.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	info := migration.OfBackup(backup)
	if !info.Migration || info.Type != migration.TypeFinal || !info.Quiesce {
		return item, nil, nil
	}
	obj, err := action.Object(item)
	if err != nil {
		return nil, nil, err
	}
	k, err := kindOf(obj)
	if err != nil {
		return nil, nil, err
	}
	if k.gk.Kind == "ReplicaSet" {
		// Its Deployment is quiesced; scaling the ReplicaSet would fight the Deployment.
		if ctl, err := owners.Controller(obj); err != nil || ctl != nil {
			return item, nil, err
		}
	}
	log := b.env.Log.WithFields(logrus.Fields{"backup": backup.Namespace + "/" + backup.Name, "item": action.Describe(obj)})
	client, err := b.client()
	if err != nil {
		return nil, nil, fmt.Errorf("quiescing the live object: %w", err)
	}
	gvr := k.gvr(obj.GroupVersionKind().Version)
	res := client.Resource(gvr).Namespace(obj.GetNamespace())
	changes, err := updateLive(context.Background(), res, obj.GetName(), nil, quiesce, b.attempts, b.timeout)
	switch {
	case isGone(err):
		log.Warnf("not quiesced: the live object is gone (%v)", err)
	case err != nil:
		return nil, nil, fmt.Errorf("quiescing live %s %s/%s: %w", k.qualified(), obj.GetNamespace(), obj.GetName(), err)
	case len(changes) > 0:
		log.Infof("quiesced on the source: %s", strings.Join(changes, "; "))
	default:
		log.Debug("already stopped or quiesced on the source: left alone")
	}
	return item, nil, nil
}

// Restore gives a restored workload back the values its quiesce records hold, and removes the
// records, on every migration Restore (the controller quiesces before its own backups, so the
// backed-up items are stopped and carry records).
type Restore struct{ env action.Env }

// AppliesTo selects the quiescable workloads.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resources()...), nil
}

// Execute unquiesces the item being restored (no API call).
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	if !migration.OfRestore(in.Restore).Migration {
		return action.Keep(in.Item), nil
	}
	obj, err := action.Object(in.Item)
	if err != nil {
		return nil, err
	}
	changes, err := unquiesce(obj)
	if err != nil {
		return nil, err
	}
	if len(changes) > 0 {
		r.env.Log.WithFields(logrus.Fields{"restore": in.Restore.Namespace + "/" + in.Restore.Name, "item": action.Describe(obj)}).
			Infof("unquiesced: %s", strings.Join(changes, "; "))
	}
	return action.Keep(obj), nil
}

// updateLive applies fn to the live object name (first, when given, is a fresh copy for the first
// attempt) and writes it back when fn reports changes, with liveupdate's conflict retries and
// per-call timeout. It returns fn's changes of the attempt written (none: nothing was written).
func updateLive(ctx context.Context, res dynamic.ResourceInterface, name string, first *unstructured.Unstructured,
	fn func(*unstructured.Unstructured) ([]string, error), attempts int, timeout time.Duration) ([]string, error) {
	var changes []string
	err := liveupdate.Update(ctx, res, name, first, func(obj *unstructured.Unstructured) (bool, error) {
		var err error
		changes, err = fn(obj)
		return len(changes) > 0, err
	}, liveupdate.Options{Attempts: attempts, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// isGone reports an object (or its whole API) that no longer exists.
func isGone(err error) bool {
	return err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err))
}

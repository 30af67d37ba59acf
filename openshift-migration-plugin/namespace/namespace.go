// Package namespace restores a migrated namespace with its SCC ranges: the annotations that give
// its pods their UIDs, SELinux labels and supplemental groups, so files on moved volumes stay
// owned by the pods that use them. If the destination namespace already exists with other ranges
// it cannot be fixed by a restore; a warning says so (SPEC §6).
//
// Velero creates namespaces itself, from the backed-up Namespace's labels and annotations, and
// does not pass Namespace items to restore item actions in its normal flow (v1.14.1 and v1.18.3;
// see README). This action runs when Velero does pass one (as an additional item of another
// action).
package namespace

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// RestoreName is the registered name of the namespace restore.
const RestoreName = migration.NamePrefix + "06-namespace-restore"

// SCCAnnotations are the namespace annotations the SCC admission assigns pods' UIDs, SELinux MCS
// labels and supplemental groups from.
var SCCAnnotations = []string{keys.SCCUIDRange, keys.SCCMCS, keys.SCCSupplementalGroups}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
		if env.Clients == nil {
			return nil, fmt.Errorf("no API clients")
		}
		kube, err := env.Clients.Kube()
		if err != nil {
			return nil, err
		}
		return NewRestore(env, kube.CoreV1()), nil
	}}}
}

// Restore is the namespace restore action.
type Restore struct {
	env        action.Env
	namespaces corev1client.NamespacesGetter
	timeout    time.Duration
}

// NewRestore builds the action; namespaces reads the destination's existing namespaces.
func NewRestore(env action.Env, namespaces corev1client.NamespacesGetter) *Restore {
	return &Restore{env: env, namespaces: namespaces, timeout: 30 * time.Second}
}

// AppliesTo selects namespaces.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("namespaces"), nil
}

// Execute returns the namespace with every annotation it was backed up with (the SCC ranges
// included), warning when the destination namespace already has other ranges.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	if !migration.OfRestore(in.Restore).Migration {
		return action.Keep(in.Item), nil
	}
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	annotations, _, err := fields.NestedObject(ri.FromBackup.Object, "", "metadata", "annotations")
	if err != nil {
		return nil, err
	}
	source := map[string]string{}
	for _, k := range SCCAnnotations {
		v, err := fields.String(annotations, k, "metadata.annotations")
		if err != nil {
			return nil, err
		}
		if v != "" {
			source[k] = v
		}
	}
	if len(source) == 0 {
		return action.Keep(ri.Obj), nil
	}
	// A Namespace is cluster-scoped: its own name is what the mapping renames.
	target := ri.Mapping.Map(ri.FromBackup.GetName())
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	existing, err := r.namespaces.Namespaces().Get(ctx, target, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return action.Keep(ri.Obj), nil
	case err != nil:
		ri.Log.WithError(err).Warnf("cannot read destination namespace %s to compare its SCC ranges; restoring as backed up", target)
		return action.Keep(ri.Obj), nil
	}
	for _, k := range SCCAnnotations {
		want, have := source[k], existing.Annotations[k]
		if want != "" && have != "" && want != have {
			ri.Log.WithField("annotation", k).Warnf(
				"destination namespace %s already exists with %s=%q, the source had %q: pods get the destination's range, so file ownership on moved volumes will not match",
				target, k, have, want)
		}
	}
	return action.Keep(ri.Obj), nil
}

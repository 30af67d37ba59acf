// Package pod restores pods: it skips the pods their controllers re-create (build pods, and
// controller-owned pods that need neither volume data nor restore hooks), detaches the
// DeploymentConfig pods it does restore from their DC, drops node pinning the destination cannot
// honour, and rewrites images and generated pull secrets for the destination.
package pod

import (
	"context"
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/label"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/owners"
	"github.com/velero-openshift/plugins/common/podspec"
	"github.com/velero-openshift/plugins/common/pullsecret"
	"github.com/velero-openshift/plugins/common/restorehooks"
)

// RestoreName is the registered name of the pod restore action.
const RestoreName = "openshift.io/03-pod-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
		return New(env)
	}}}
}

// New builds the action with env's API clients. The migration pod restore, which replaces this
// action in the migration binary, builds its general part with it too.
func New(env action.Env) (*Restore, error) {
	if env.Clients == nil {
		return nil, fmt.Errorf("no API clients")
	}
	kube, err := env.Clients.Kube()
	if err != nil {
		return nil, err
	}
	dyn, err := env.Clients.Dynamic()
	if err != nil {
		return nil, err
	}
	return NewRestore(env, kube.CoreV1(), dyn, env.PullSecrets), nil
}

// Restore is the pod restore action.
type Restore struct {
	env     action.Env
	nodes   *nodeCache
	checker *restorehooks.Checker
	secrets *pullsecret.Finder
}

// NewRestore builds the action: nodes answers which nodes exist on the destination, pvbs lists
// Velero's PodVolumeBackups, secrets finds the destination's generated pull secrets (nil: a pod
// that needs one renamed is an error).
func NewRestore(env action.Env, nodes corev1client.NodesGetter, pvbs dynamic.Interface, secrets *pullsecret.Finder) *Restore {
	return &Restore{env: env, nodes: newNodeCache(nodes), checker: restorehooks.NewChecker(pvbs), secrets: secrets}
}

// AppliesTo selects pods.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) { return action.Resources("pods"), nil }

// Execute decides whether the pod is restored and prepares it for the destination.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	// Decisions read the pod as backed up: Velero has already cleared ownerReferences on the item.
	from := ri.FromBackup
	if build := from.GetAnnotations()[keys.BuildName]; build != "" {
		ri.Log.Infof("skipping pod of build %s: the BuildConfig re-creates it", build)
		return action.Skip(ri.Obj), nil
	}
	owner, err := owners.Controller(from)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if owner != nil {
		reasons, err := r.checker.Pod(ctx, ri.Restore, from, ri.TargetNamespace)
		if err != nil {
			return nil, err
		}
		if !reasons.Any() {
			ri.Log.Infof("skipping pod owned by %s %s: no volumes to restore and no restore hooks; its controller re-creates it", owner.Kind, owner.Name)
			return action.Skip(ri.Obj), nil
		}
		ri.Log.Infof("restoring pod owned by %s %s because of %s", owner.Kind, owner.Name, reasons.Detail)
		if isDeploymentConfigPod(owner, from) {
			if err := detach(ri.Obj, ri.Restore.Name); err != nil {
				return nil, err
			}
			ri.Log.Infof("detached pod from its DeploymentConfig (labels %s, %s removed, %s set)", keys.DeploymentLabel, keys.DeploymentConfigLabel, keys.DisconnectedFromDC)
		}
	}
	if err := r.unpin(ctx, ri); err != nil {
		return nil, err
	}
	if n, err := podspec.RewriteImages(ri.Obj, ri.Images); err != nil {
		return nil, err
	} else if n > 0 {
		ri.Log.Infof("rewrote %d image reference(s) for the destination registry", n)
	}
	if err := r.RenamePullSecrets(ctx, ri); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

// isDeploymentConfigPod reports whether pod was run by a DeploymentConfig: its controller is a
// ReplicationController and the DC's label or annotation is on the pod.
func isDeploymentConfigPod(owner *owners.Owner, pod *unstructured.Unstructured) bool {
	if owner.Kind != "ReplicationController" {
		return false
	}
	return pod.GetLabels()[keys.DeploymentConfigLabel] != "" || pod.GetAnnotations()[keys.DeploymentConfigAnnotation] != ""
}

// detach removes the labels the DC's ReplicationController selects on, so the restored RC neither
// adopts nor deletes the pod while Velero restores its volumes or runs its hooks, and labels it with
// the restore's name so a post-restore cleanup finds it (as OADP's dc-post-restore script does).
func detach(obj *unstructured.Unstructured, restoreName string) error {
	labels, err := fields.Metadata(obj.Object, "labels", true)
	if err != nil {
		return err
	}
	delete(labels, keys.DeploymentLabel)
	delete(labels, keys.DeploymentConfigLabel)
	labels[keys.DisconnectedFromDC] = label.GetValidName(restoreName)
	return nil
}

// unpin drops the node pinning the destination cannot honour: a kubernetes.io/hostname node
// selector naming no destination node, and spec.nodeName naming an absent node. Every other
// selector (role, zone, ...) is kept.
func (r *Restore) unpin(ctx context.Context, ri *action.RestoreItem) error {
	spec, ok := ri.Obj.Object["spec"].(map[string]any)
	if !ok {
		return nil // no pod spec to edit; podspec reports a malformed one
	}
	var selector map[string]any
	hostname := ""
	if v, present := spec["nodeSelector"]; present && v != nil {
		if selector, ok = v.(map[string]any); !ok {
			return fmt.Errorf("spec.nodeSelector: expected an object, got %T", v)
		}
		if h, present := selector[HostnameLabel]; present {
			if hostname, ok = h.(string); !ok {
				return fmt.Errorf("spec.nodeSelector[%s]: expected a string, got %T", HostnameLabel, h)
			}
		}
	}
	nodeName := ""
	if v, present := spec["nodeName"]; present && v != nil {
		if nodeName, ok = v.(string); !ok {
			return fmt.Errorf("spec.nodeName: expected a string, got %T", v)
		}
	}
	_, pinned := selector[HostnameLabel]
	dropHostname := func(why string) {
		delete(selector, HostnameLabel)
		if len(selector) == 0 {
			delete(spec, "nodeSelector")
		}
		ri.Log.Infof("dropped nodeSelector %s=%q: %s", HostnameLabel, hostname, why)
	}
	if pinned && hostname == "" {
		dropHostname("an empty hostname matches no node")
		pinned = false
	}
	if !pinned && nodeName == "" {
		return nil
	}
	nodes := r.nodes.get(ctx, ri.Restore)
	if nodes.err != nil {
		ri.Log.WithError(nodes.err).Warn("cannot tell which nodes exist on the destination; node pinning kept")
		return nil
	}
	if pinned && !nodes.hostnames[hostname] {
		dropHostname("no such node on the destination")
	}
	if nodeName != "" && !nodes.names[nodeName] {
		delete(spec, "nodeName")
		ri.Log.Infof("cleared spec.nodeName %s: no such node on the destination", nodeName)
	}
	return nil
}

// RenamePullSecrets swaps generated dockercfg pull secrets of any service account
// ("<sa>-dockercfg-xxxxx") to the secret the destination minted for the same service account in
// the target namespace, through this action's finder. Exported for the migration pod restore:
// stage pods keep the same pull-secret behaviour.
func (r *Restore) RenamePullSecrets(ctx context.Context, ri *action.RestoreItem) error {
	return r.secrets.RenamePodSpec(ctx, ri.Obj, ri.TargetNamespace, ri.Destination.RegistryEnabled, ri.Config.PullSecretWait, ri.Log)
}

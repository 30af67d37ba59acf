package deploymentconfig

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/vmware-tanzu/velero/pkg/label"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/podspec"
	"github.com/velero-openshift/plugins/common/restorehooks"
)

// Restore is the DeploymentConfig restore action.
type Restore struct {
	env  action.Env
	pods *restorehooks.Checker
}

// NewRestore builds the action; pvbs lists Velero's PodVolumeBackups (nil: the DC backup's
// records about volumes stand in for them).
func NewRestore(env action.Env, pvbs dynamic.Interface) *Restore {
	return &Restore{env: env, pods: restorehooks.NewChecker(pvbs)}
}

// AppliesTo selects DeploymentConfigs.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute prepares a DeploymentConfig for the destination.
//
// It rewrites images and image-change triggers, swaps generated pull secrets and, when the pod
// restore restores any of the DC's pods by themselves (volume data or restore hooks: the same
// decision, restorehooks.Checker.Decide), scales the DC to 0 recording the original replicas and
// paused. The keys the backup recorded about the DC's pods are dropped: they describe the source.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if n, err := podspec.RewriteImages(ri.Obj, ri.Images); err != nil {
		return nil, err
	} else if n > 0 {
		ri.Log.Infof("rewrote %d image reference(s) for the destination registry", n)
	}
	if err := ri.RenamePullSecrets(ctx); err != nil {
		return nil, err
	}
	if err := remapTriggers(ri); err != nil {
		return nil, err
	}
	pods, err := restorehooks.DeploymentConfigPods(ri.FromBackup)
	if err != nil {
		return nil, err
	}
	reasons, err := r.pods.Decide(ctx, ri.Restore, ri.TargetNamespace, pods)
	if err != nil {
		return nil, err
	}
	if err := dropPodRecords(ri.Obj); err != nil {
		return nil, err
	}
	if reasons.Any() {
		if err := scaleDown(ri); err != nil {
			return nil, err
		}
		ri.Log.Infof("pods are restored by themselves (%s): DC scaled to 0, original values in %s / %s", reasons.Detail, keys.OriginalReplicas, keys.OriginalPaused)
	}
	return action.Keep(ri.Obj), nil
}

// podRecords are the keys a DC backup (this plugin's or OADP's) writes about the DC's pods.
var podRecords = []string{keys.DCPodsHaveVolumeBackups, keys.DCPodsHaveRestoreHooks, keys.DCPodLabels,
	keys.OADPIncludesDMFix, keys.OADPPodsHaveVolumes, keys.OADPHasPodRestoreHooks, keys.OADPPodLabels}

// dropPodRecords removes podRecords from the restored DC: left on it, they would describe the
// source's pods to a later backup taken with another plugin, which writes only its own.
func dropPodRecords(obj *unstructured.Unstructured) error {
	annotations, err := fields.Metadata(obj.Object, "annotations", false)
	if err != nil {
		return err
	}
	for _, k := range podRecords {
		delete(annotations, k)
	}
	return nil
}

// remapTriggers moves each image-change trigger's from.namespace through the mapping of that
// namespace (a trigger may follow an image stream in another namespace than the DC's), and rewrites
// lastTriggeredImage like container images so the restore does not look like a new image.
func remapTriggers(ri *action.RestoreItem) error {
	v, found, err := unstructured.NestedFieldNoCopy(ri.Obj.Object, "spec", "triggers")
	if err != nil {
		return fmt.Errorf("spec.triggers: %w", err)
	}
	if !found || v == nil {
		return nil
	}
	triggers, ok := v.([]any)
	if !ok {
		return fmt.Errorf("spec.triggers: expected a list, got %T", v)
	}
	for i, t := range triggers {
		field := fmt.Sprintf("spec.triggers[%d]", i)
		trigger, ok := t.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected an object, got %T", field, t)
		}
		p, ok := trigger["imageChangeParams"]
		if !ok || p == nil {
			continue
		}
		field += ".imageChangeParams"
		params, ok := p.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: expected an object, got %T", field, p)
		}
		if f, ok := params["from"]; ok && f != nil {
			from, ok := f.(map[string]any)
			if !ok {
				return fmt.Errorf("%s.from: expected an object, got %T", field, f)
			}
			if n, ok := from["namespace"]; ok && n != nil {
				ns, ok := n.(string)
				if !ok {
					return fmt.Errorf("%s.from.namespace: expected a string, got %T", field, n)
				}
				if to := ri.Mapping.Map(ns); ns != "" && to != ns {
					from["namespace"] = to
					ri.Log.Infof("%s.from.namespace %s -> %s", field, ns, to)
				}
			}
		}
		if l, ok := params["lastTriggeredImage"]; ok && l != nil {
			last, ok := l.(string)
			if !ok {
				return fmt.Errorf("%s.lastTriggeredImage: expected a string, got %T", field, l)
			}
			out, changed, err := ri.Images.Rewrite(last)
			if err != nil {
				ri.Log.WithError(err).Warnf("%s.lastTriggeredImage kept as is", field)
			} else if changed {
				params["lastTriggeredImage"] = out
			}
		}
	}
	return nil
}

// scaleDown sets replicas 0 and paused false (so the DC controller also scales down any restored
// ReplicationController), recording the previous values and labelling the DC with the restore's
// name for the post-restore cleanup. A DC already at 0 is left alone.
func scaleDown(ri *action.RestoreItem) error {
	replicas, err := intField(ri.Obj, "spec", "replicas")
	if err != nil || replicas <= 0 {
		return err
	}
	paused := false
	if v, found, _ := unstructured.NestedFieldNoCopy(ri.Obj.Object, "spec", "paused"); found && v != nil {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("spec.paused: expected a boolean, got %T", v)
		}
		paused = b
	}
	annotations, err := fields.Metadata(ri.Obj.Object, "annotations", true)
	if err != nil {
		return err
	}
	labels, err := fields.Metadata(ri.Obj.Object, "labels", true)
	if err != nil {
		return err
	}
	annotations[keys.OriginalReplicas] = strconv.FormatInt(replicas, 10)
	annotations[keys.OriginalPaused] = strconv.FormatBool(paused)
	labels[keys.DCReplicasModified] = label.GetValidName(ri.Restore.Name)
	spec := ri.Obj.Object["spec"].(map[string]any) // intField found replicas in it
	spec["replicas"] = int64(0)
	spec["paused"] = false
	return nil
}

// intField reads a whole number (int64, or float64 from a plain JSON decode); absent is 0.
func intField(obj *unstructured.Unstructured, path ...string) (int64, error) {
	v, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
	name := podspec.FieldName(path)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if !found || v == nil {
		return 0, nil
	}
	switch n := v.(type) {
	case int64:
		return n, nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), nil
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: expected an integer, got %T %v", name, v, v)
}

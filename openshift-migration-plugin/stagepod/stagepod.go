// Package stagepod is the migration binary's pod restore. It replaces the general pod restore
// (openshift.io/03-pod-restore) there: every pod gets the general behaviour, except that on a
// stage restore a pod labelled for the stage backup is restored as a stage pod, a pod that only
// mounts the volumes whose data Velero restores into it and sleeps (SPEC §6).
package stagepod

import (
	"context"
	"fmt"
	"sort"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"github.com/vmware-tanzu/velero/pkg/restorehelper"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
)

// RestoreName is the registered name of the migration pod restore.
const RestoreName = migration.NamePrefix + "05-pod-restore"

// StageCommand is what every container of a stage pod runs: it only has to keep the volumes
// mounted while Velero restores their data.
var StageCommand = []string{"sleep", "infinity"}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
		general, err := pod.New(env)
		if err != nil {
			return nil, err
		}
		return NewRestore(env, general), nil
	}}}
}

// Restore is the migration pod restore.
type Restore struct {
	env     action.Env
	general *pod.Restore
}

// NewRestore builds the action around the general pod restore, which handles every pod that is
// not restored as a stage pod (one implementation of the general behaviour) and swaps stage pods'
// generated pull secrets.
func NewRestore(env action.Env, general *pod.Restore) *Restore {
	return &Restore{env: env, general: general}
}

// AppliesTo selects pods.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) { return action.Resources("pods"), nil }

// Execute restores a stage pod, or delegates to the general pod restore.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	if info := migration.OfRestore(in.Restore); info.Migration && info.StagePodImage != "" {
		from, err := fromBackup(in)
		if err != nil {
			return nil, err
		}
		labels, _, err := fields.NestedObject(from.Object, "", "metadata", "labels")
		if err != nil {
			return nil, err
		}
		if _, stage := labels[migration.IncludedInStageBackupLabel]; stage {
			return r.restoreStagePod(in, info.StagePodImage)
		}
	}
	// The general action is not registered in this binary, so its disabledActions entry is
	// honoured here: a plugin config written for the general image means the same here.
	cfg, err := r.env.Config.Config(context.Background(), in.Restore.Namespace)
	if err != nil {
		return nil, err
	}
	if cfg.Disabled(pod.RestoreName) {
		return action.Keep(in.Item), nil
	}
	return r.general.Execute(in)
}

// fromBackup is the pod as backed up: labels and annotations Velero or other actions may have
// changed on the item are read from it.
func fromBackup(in *velero.RestoreItemActionExecuteInput) (*unstructured.Unstructured, error) {
	if in.ItemFromBackup != nil {
		return action.Object(in.ItemFromBackup)
	}
	return action.Object(in.Item)
}

// restoreStagePod turns the pod into a stage pod in place.
func (r *Restore) restoreStagePod(in *velero.RestoreItemActionExecuteInput, image string) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	spec, found, err := fields.NestedObject(ri.Obj.Object, "", "spec")
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("spec: missing; a stage pod is built from the pod's spec")
	}
	excluded, err := excludedVolumes(ri.FromBackup)
	if err != nil {
		return nil, err
	}
	kept, dropped, err := keepVolumes(spec, excluded)
	if err != nil {
		return nil, err
	}
	backedUpInits, err := containerNames(ri.FromBackup)
	if err != nil {
		return nil, err
	}
	if err := stripInitContainers(spec, backedUpInits, kept); err != nil {
		return nil, err
	}
	delete(spec, "ephemeralContainers")
	containers, err := fields.Objects(spec, "spec", "containers")
	if err != nil {
		return nil, err
	}
	for i, c := range containers {
		field := fmt.Sprintf("spec.containers[%d]", i)
		c["image"] = image
		c["command"] = []any{StageCommand[0], StageCommand[1]}
		// Probes and hooks were written for the application; against sleep they would fail
		// and restart the pod while Velero restores into it.
		for _, k := range []string{"args", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"} {
			delete(c, k)
		}
		if err := keepMounts(c, field, kept); err != nil {
			return nil, err
		}
	}
	// The source's nodes mean nothing here.
	for _, k := range []string{"nodeName", "nodeSelector", "affinity"} {
		delete(spec, k)
	}
	if err := r.general.RenamePullSecrets(context.Background(), ri); err != nil {
		return nil, err
	}
	ri.Log.Infof("restoring as a stage pod running %s: volumes kept %v, dropped %v", image, sortedKeys(kept), dropped)
	return action.Keep(ri.Obj), nil
}

// excludedVolumes reads the pod's exclude-pvcs annotation as backed up.
func excludedVolumes(from *unstructured.Unstructured) (map[string]bool, error) {
	annotations, _, err := fields.NestedObject(from.Object, "", "metadata", "annotations")
	if err != nil {
		return nil, err
	}
	v, err := fields.String(annotations, migration.ExcludePVCsAnnotation, "metadata.annotations")
	if err != nil {
		return nil, err
	}
	return migration.ExcludedVolumes(v), nil
}

// keepVolumes keeps only the persistentVolumeClaim volumes not excluded and returns their names
// and the names of the volumes dropped.
func keepVolumes(spec map[string]any, excluded map[string]bool) (kept map[string]bool, dropped []string, err error) {
	volumes, err := fields.Objects(spec, "spec", "volumes")
	if err != nil {
		return nil, nil, err
	}
	kept = map[string]bool{}
	var out []any
	for i, v := range volumes {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		name, err := fields.String(v, "name", field)
		if err != nil {
			return nil, nil, err
		}
		_, isPVC, err := fields.NestedObject(v, field, "persistentVolumeClaim")
		if err != nil {
			return nil, nil, err
		}
		if !isPVC || excluded[name] {
			dropped = append(dropped, name)
			continue
		}
		kept[name] = true
		out = append(out, v)
	}
	if len(out) == 0 {
		delete(spec, "volumes")
	} else {
		spec["volumes"] = out
	}
	return kept, dropped, nil
}

// containerNames returns the names of the backed-up pod's init containers.
func containerNames(from *unstructured.Unstructured) (map[string]bool, error) {
	spec, _, err := fields.NestedObject(from.Object, "", "spec")
	if err != nil {
		return nil, err
	}
	inits, err := fields.Objects(spec, "spec", "initContainers")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, c := range inits {
		name, err := fields.String(c, "name", fmt.Sprintf("spec.initContainers[%d]", i))
		if err != nil {
			return nil, err
		}
		names[name] = true
	}
	return names, nil
}

// stripInitContainers removes the application's init containers (those of the backed-up pod) and
// keeps those another restore action added: Velero's restore-wait container gates its file-system
// restore of the pod's volumes (the node agent restores only while it runs), and restore-hook init
// containers were asked for by the user. Velero's own actions run before plugins, so its container
// is usually present already; a stale one carried over from the source is replaced by Velero
// itself, so Velero's wait containers are never removed. Kept containers lose mounts of dropped
// volumes (the API rejects a mount of a volume the pod lacks).
func stripInitContainers(spec map[string]any, backedUp, kept map[string]bool) error {
	inits, err := fields.Objects(spec, "spec", "initContainers")
	if err != nil {
		return err
	}
	var out []any
	for i, c := range inits {
		field := fmt.Sprintf("spec.initContainers[%d]", i)
		name, err := fields.String(c, "name", field)
		if err != nil {
			return err
		}
		velerosOwn := name == restorehelper.WaitInitContainer || name == restorehelper.WaitInitContainerLegacy
		if backedUp[name] && !velerosOwn {
			continue
		}
		if err := keepMounts(c, field, kept); err != nil {
			return err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		delete(spec, "initContainers")
	} else {
		spec["initContainers"] = out
	}
	return nil
}

// keepMounts keeps the container's volumeMounts and volumeDevices of kept volumes only.
func keepMounts(c map[string]any, field string, kept map[string]bool) error {
	for _, list := range []string{"volumeMounts", "volumeDevices"} {
		entries, err := fields.Objects(c, field, list)
		if err != nil {
			return err
		}
		if entries == nil {
			continue
		}
		var out []any
		for i, m := range entries {
			name, err := fields.String(m, "name", fmt.Sprintf("%s.%s[%d]", field, list, i))
			if err != nil {
				return err
			}
			if kept[name] {
				out = append(out, m)
			}
		}
		if len(out) == 0 {
			delete(c, list)
		} else {
			c[list] = out
		}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

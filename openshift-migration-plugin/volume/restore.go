package volume

import (
	"fmt"
	"strings"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// restorePV restores a migration's PV. A moved PV is restored as is: the destination binds the
// same storage. A copied PV gets the destination storage class, unless it is a snapshot copy that
// a stage migration's stage restore leaves out (migration.SkipsSnapshotCopy).
func restorePV(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	info := migration.OfRestore(ri.Restore)
	if !info.Migration {
		return action.Keep(ri.Obj), nil
	}
	vol, err := volumeOf(ri.FromBackup)
	if err != nil || vol.Action != migration.ActionCopy {
		return action.Keep(ri.Obj), err
	}
	if migration.SkipsSnapshotCopy(info, vol) {
		ri.Log.Info("skipping snapshot copy: a stage migration's stage restore does not restore snapshots")
		return action.Skip(ri.Obj), nil
	}
	if !vol.HasTargetStorageClass {
		return action.Keep(ri.Obj), nil
	}
	changes, err := setStorageClass(ri.Obj, vol.TargetStorageClass)
	if err != nil {
		return nil, err
	}
	logChanges(ri, changes)
	return action.Keep(ri.Obj), nil
}

// restorePVC restores a migration's PVC. Every one loses the source's selected node; a copied one
// also loses its selector (it must bind a new volume, not the source's), gets the destination
// storage class (even "", the destination's default) and access mode, and is left out of a stage
// migration's stage restore when it is a snapshot copy.
func restorePVC(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	info := migration.OfRestore(ri.Restore)
	if !info.Migration {
		return action.Keep(ri.Obj), nil
	}
	vol, err := volumeOf(ri.FromBackup)
	if err != nil {
		return nil, err
	}
	if migration.SkipsSnapshotCopy(info, vol) {
		ri.Log.Info("skipping snapshot copy: a stage migration's stage restore does not restore snapshots")
		return action.Skip(ri.Obj), nil
	}
	a, err := fields.Metadata(ri.Obj.Object, "annotations", false)
	if err != nil {
		return nil, err
	}
	var changes []string
	if _, ok := a[selectedNodeAnnotation]; ok {
		delete(a, selectedNodeAnnotation)
		changes = append(changes, "removed annotation "+selectedNodeAnnotation)
	}
	if vol.Action == migration.ActionCopy {
		copied, err := copiedClaim(ri, vol)
		if err != nil {
			return nil, err
		}
		changes = append(changes, copied...)
	}
	logChanges(ri, changes)
	return action.Keep(ri.Obj), nil
}

// copiedClaim edits a copied PVC for its new volume and returns what changed.
func copiedClaim(ri *action.RestoreItem, vol migration.Volume) ([]string, error) {
	spec, err := specOf(ri.Obj)
	if err != nil {
		return nil, err
	}
	var changes []string
	if _, ok := spec["selector"]; ok {
		delete(spec, "selector")
		changes = append(changes, "removed spec.selector")
	}
	if vol.HasTargetStorageClass {
		sc, err := setStorageClass(ri.Obj, vol.TargetStorageClass)
		if err != nil {
			return nil, err
		}
		changes = append(changes, sc...)
	}
	if vol.TargetAccessMode != "" {
		old, found, err := fields.Strings(spec, "accessModes")
		if err != nil {
			return nil, fmt.Errorf("spec.%w", err)
		}
		if !found || len(old) != 1 || old[0] != vol.TargetAccessMode {
			changes = append(changes, fmt.Sprintf("spec.accessModes %v -> [%s]", old, vol.TargetAccessMode))
			spec["accessModes"] = []any{vol.TargetAccessMode}
		}
	}
	return changes, nil
}

// logChanges logs what an action changed on the item, when anything.
func logChanges(ri *action.RestoreItem, changes []string) {
	if len(changes) > 0 {
		ri.Log.Infof("migration: %s", strings.Join(changes, "; "))
	}
}

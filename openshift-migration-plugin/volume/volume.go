// Package volume holds the migration actions for persistent volumes and claims (SPEC §6): at
// backup a moved PV is set to Retain on the live source, so the destination can bind the same
// storage and the source keeps the data for a rollback; at restore a copied PV or PVC gets the
// destination's storage class and access mode, snapshot copies are left out of a stage
// migration's stage restore, and every migration PVC loses the source's scheduler node pick.
package volume

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// Registered names.
var (
	PVBackupName   = migration.Name("02-pv-backup")
	PVRestoreName  = migration.Name("02-pv-restore")
	PVCRestoreName = migration.Name("03-pvc-restore")
)

// The resources the actions apply to (core group: no suffix).
const (
	PVResource  = "persistentvolumes"
	PVCResource = "persistentvolumeclaims"
)

// selectedNodeAnnotation is where the scheduler records the node a WaitForFirstConsumer claim is
// provisioned for (Kubernetes' AnnSelectedNode, k8s.io/component-helpers/storage/volume). The
// source's node means nothing on the destination, where it would pin provisioning to a node that
// does not exist. Kubernetes never used an alpha spelling of this key, so there is none to drop.
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node"

// Registrations returns this package's rows of the migration registration table: PV backup,
// PV restore, PVC restore.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: PVBackupName, Kind: action.KindBackup, New: newBackup},
		action.ItemRestoreRegistration(PVRestoreName, restorePV, PVResource),
		action.ItemRestoreRegistration(PVCRestoreName, restorePVC, PVCResource),
	}
}

// volumeOf reads the migration annotations of a PV or PVC; an annotation value that is not a
// string is an error naming it.
func volumeOf(obj *unstructured.Unstructured) (migration.Volume, error) {
	a, err := fields.Metadata(obj.Object, "annotations", false)
	if err != nil {
		return migration.Volume{}, err
	}
	strs := make(map[string]string, len(a))
	for k := range a {
		s, err := fields.String(a, k, "metadata.annotations")
		if err != nil {
			return migration.Volume{}, err
		}
		strs[k] = s
	}
	return migration.VolumeOf(strs), nil
}

// specOf returns obj's spec, shared with obj; a missing spec is created, one of the wrong type is
// an error.
func specOf(obj *unstructured.Unstructured) (map[string]any, error) {
	spec, found, err := fields.NestedObject(obj.Object, "", "spec")
	if err != nil {
		return nil, err
	}
	if !found {
		spec = map[string]any{}
		obj.Object["spec"] = spec
	}
	return spec, nil
}

// setStorageClass sets spec.storageClassName to class and, when obj already carries it, the beta
// storage-class annotation (which the API server still honours over the field on older
// clusters). It returns what changed, for the log.
func setStorageClass(obj *unstructured.Unstructured, class string) ([]string, error) {
	spec, err := specOf(obj)
	if err != nil {
		return nil, err
	}
	var changes []string
	if old, ok := spec["storageClassName"]; !ok || old != class {
		changes = append(changes, fmt.Sprintf("spec.storageClassName %s -> %q", describeValue(old, ok), class))
		spec["storageClassName"] = class
	}
	a, err := fields.Metadata(obj.Object, "annotations", false)
	if err != nil {
		return nil, err
	}
	if old, ok := a[corev1.BetaStorageClassAnnotation]; ok && old != class {
		changes = append(changes, fmt.Sprintf("annotation %s %s -> %q", corev1.BetaStorageClassAnnotation, describeValue(old, true), class))
		a[corev1.BetaStorageClassAnnotation] = class
	}
	return changes, nil
}

// describeValue renders an old field value for the log.
func describeValue(v any, present bool) string {
	if !present {
		return "(unset)"
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%v", v)
}

// Package configmap keeps the ConfigMaps a build pod gets (its CA bundles and registry config) out
// of a restore: they carry the source cluster's certificates and the build controller re-creates
// them with the build on the destination.
//
// The restore action recognises such ConfigMaps itself (IsBuildPodConfigMap, on the item as backed
// up), so there is no backup action: marking them at backup cost one gRPC call per ConfigMap of
// every backup and bought nothing the restore does not see on its own. ConfigMaps that earlier
// versions or upstream OADP marked with oadp.openshift.io/skip-buildconfig-configmap-restore=true
// (annotation, or for compatibility a label of that key) are skipped as before.
package configmap

import (
	"strings"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/owners"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/13-configmap-restore"

// RetiredBackupName is the backup action earlier versions registered (see the package doc).
const RetiredBackupName = "openshift.io/05-configmap-backup"

// BuildConfigMapSuffixes are the suffixes the build controller appends to the build pod's name
// for the ConfigMaps it creates ("-ca", "-global-ca", "-sys-config").
var BuildConfigMapSuffixes = []string{"-ca", "-global-ca", "-sys-config"}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, "configmaps"),
	}
}

// IsBuildPodConfigMap reports whether obj is a ConfigMap the build controller created for a build
// pod: a build suffix on its name and a Pod among its owners, or the build-name annotation. An
// error names a metadata field of the wrong type.
func IsBuildPodConfigMap(obj *unstructured.Unstructured) (bool, error) {
	annotations, err := fields.Metadata(obj.Object, "annotations", false)
	if err != nil {
		return false, err
	}
	if annotations.Get(keys.BuildName) != "" {
		return true, nil
	}
	if !hasBuildSuffix(obj.GetName()) {
		return false, nil
	}
	pod, err := owners.OfKind(obj, "Pod")
	return pod != nil, err
}

func hasBuildSuffix(name string) bool {
	for _, s := range BuildConfigMapSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

// restore skips build-pod ConfigMaps.
//
// It skips marked or recognised build-pod ConfigMaps and keeps every other ConfigMap unchanged.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	build, err := IsBuildPodConfigMap(ri.FromBackup)
	if err != nil {
		return nil, err
	}
	if build || ri.Obj.GetAnnotations()[keys.SkipBuildConfigConfigMapRestore] == "true" ||
		ri.Obj.GetLabels()[keys.SkipBuildConfigConfigMapRestore] == "true" {
		ri.Log.Info("skipping build-pod ConfigMap: the build controller re-creates it on the destination")
		return action.Skip(ri.Obj), nil
	}
	return action.Keep(ri.Obj), nil
}

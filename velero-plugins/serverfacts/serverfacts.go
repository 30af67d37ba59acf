// Package serverfacts records the source cluster's facts on backed-up items and the destination's
// on restored items, so every restore action can read the source facts from the item itself
// regardless of the order Velero runs actions in.
package serverfacts

import (
	"strings"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/podspec"
)

// Registered names.
const (
	BackupName  = "openshift.io/01-common-backup"
	RestoreName = "openshift.io/01-common-restore"
)

// Resources are the items that carry image references whose rewriting needs the source facts
// (SPEC §4). Not routes: every item matched costs Velero a gRPC call, and the route backup
// records the one fact the route restore reads (the apps domain) itself.
var Resources = append(append([]string{"pods"}, podspec.WorkloadResources...),
	"buildconfigs.build.openshift.io", "imagestreams.image.openshift.io", "imagestreamtags.image.openshift.io")

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemBackupRegistration(BackupName, backup, Resources...),
		action.ItemRestoreRegistration(RestoreName, restore, Resources...),
	}
}

// backup annotates items with the source Kubernetes and OpenShift versions, registry hostname and
// other hostnames, and apps domain.
//
// It records the source facts.
func backup(bi *action.BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	a, err := fields.Metadata(bi.Obj.Object, "annotations", true)
	if err != nil {
		return nil, nil, err
	}
	// The key keeps upstream's meaning (Kubernetes major.minor); OpenShift's version has its own.
	setOrDelete(a, keys.BackupServerVersion, bi.Facts.KubeVersion)
	setOrDelete(a, keys.BackupOpenShiftVersion, bi.Facts.OpenShiftVersion)
	a[keys.BackupRegistryHostname] = bi.Facts.RegistryHostname
	// An empty host is recorded as "this cluster has no internal registry": say when it is
	// empty only because the lookup failed.
	bi.WarnUnknownFacts("the backup records no registry host on this item, so its restore rewrites none of its internal image references",
		clusterfacts.FactRegistryHostname)
	// The registry's other names (only this cluster knows them), so references written with them
	// are rewritten like the hostname. A value left by an earlier restore of the item is dropped.
	setOrDelete(a, keys.BackupRegistryExternalHostnames, strings.Join(bi.Facts.RegistryExternalHostnames, ","))
	if _, hostUnknown := bi.UnknownFacts.Of(clusterfacts.FactRegistryHostname); !hostUnknown {
		bi.WarnUnknownFacts("the backup records none of the registry's external hostnames on this item, so its restore rewrites no reference written with them",
			clusterfacts.FactRegistryExternalHostnames)
	}
	setOrDelete(a, keys.BackupAppsDomain, bi.Facts.AppsDomain)
	return bi.Obj, nil, nil
}

// setOrDelete sets a[key] to a non-empty value, and removes key for an empty one: an item restored
// from another cluster's backup carries that cluster's facts, which must not pass for this one's.
func setOrDelete(a map[string]any, key, value string) {
	if value == "" {
		delete(a, key)
		return
	}
	a[key] = value
}

// restore annotates items with the destination Kubernetes and OpenShift versions and registry
// hostname.
//
// It records the destination facts.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	a, err := fields.Metadata(ri.Obj.Object, "annotations", true)
	if err != nil {
		return nil, err
	}
	setOrDelete(a, keys.RestoreServerVersion, ri.Destination.KubeVersion)
	setOrDelete(a, keys.RestoreOpenShiftVersion, ri.Destination.OpenShiftVersion)
	a[keys.RestoreRegistryHostname] = ri.Destination.RegistryHostname
	return action.Keep(ri.Obj), nil
}

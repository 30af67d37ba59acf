// Package route restores Routes so that a host the source router generated is generated again by
// the destination on its own apps domain, while a host the user chose is kept. The backup records
// the source apps domain on each route whose host OpenShift marked generated, so the restore can
// tell the generated host from a customised one of the same <name>-<namespace>. form.
package route

import (
	"fmt"
	"strings"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
)

// Registered names.
const (
	BackupName  = "openshift.io/10-route-backup"
	RestoreName = "openshift.io/10-route-restore"
)

// Resource is the one resource the action handles.
const Resource = "routes.route.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemBackupRegistration(BackupName, backup, Resource),
		action.ItemRestoreRegistration(RestoreName, restore, Resource),
	}
}

// backup records the source apps domain (keys.BackupAppsDomain) on a route whose host OpenShift
// marked generated: the restore then clears the host only when it is exactly the one generated on
// that domain. Other routes are returned unchanged; the restore never looks at their domain.
func backup(bi *action.BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	a, err := fields.Metadata(bi.Obj.Object, "annotations", false)
	if err != nil {
		return nil, nil, err
	}
	if a.Get(keys.HostGenerated) != "true" {
		return bi.Obj, nil, nil
	}
	if bi.Facts.AppsDomain == "" {
		bi.WarnUnknownFacts("the restore judges its generated host by the <name>-<namespace>. form alone", clusterfacts.FactAppsDomain)
		if _, stale := a[keys.BackupAppsDomain]; !stale {
			return bi.Obj, nil, nil
		}
		// Left by an earlier restore from another cluster's backup: not this cluster's domain.
		delete(a, keys.BackupAppsDomain)
	} else {
		a[keys.BackupAppsDomain] = bi.Facts.AppsDomain
	}
	return bi.Obj, nil, nil
}

// restore clears spec.host when the source generated it.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	v, found, err := unstructured.NestedFieldNoCopy(ri.Obj.Object, "spec", "host")
	if err != nil {
		return nil, fmt.Errorf("spec.host: %w", err)
	}
	if !found || v == nil {
		return action.Keep(ri.Obj), nil
	}
	host, isString := v.(string)
	if !isString {
		return nil, fmt.Errorf("spec.host: expected a string, got %T", v)
	}
	if host == "" || ri.Obj.GetAnnotations()[keys.HostGenerated] != "true" {
		return action.Keep(ri.Obj), nil
	}
	if !Generated(host, ri.Obj.GetName(), ri.SourceNamespace, ri.Source.AppsDomain) {
		ri.Log.WithField("host", host).Info("route host was customised after it was generated; keeping it")
		return action.Keep(ri.Obj), nil
	}
	unstructured.RemoveNestedField(ri.Obj.Object, "spec", "host")
	ri.Log.WithField("host", host).Info("cleared generated route host; the destination generates it on its apps domain")
	return action.Keep(ri.Obj), nil
}

// Generated reports whether host is the one the router generates for route name in namespace ns
// on the apps domain (<name>-<ns>.<domain>). With no recorded domain, any host of that form
// counts. DNS names compare case-insensitively.
func Generated(host, name, ns, domain string) bool {
	prefix := strings.ToLower(name + "-" + ns + ".")
	host = strings.ToLower(host)
	if domain == "" {
		return strings.HasPrefix(host, prefix) && len(host) > len(prefix)
	}
	return host == prefix+strings.ToLower(strings.TrimSuffix(domain, "."))
}

// Package route restores Routes so that a host the source router generated is generated again by
// the destination on its own apps domain, while a host the user chose is kept. To tell the
// generated host from a customised one of the same <name>-<namespace>. form the restore needs the
// source apps domain, which costs no backup call: the source's default router wrote it into the
// route's status when it admitted the route (status.ingress[].routerCanonicalHostname is
// router-default.<apps domain>), and routes backed up by earlier versions carry it in
// openshift.io/backup-apps-domain.
package route

import (
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/10-route-restore"

// RetiredBackupName is the backup action earlier versions registered to record the apps domain
// on routes (one gRPC call per route of every backup).
const RetiredBackupName = "openshift.io/10-route-backup"

// defaultRouter is the router every OpenShift cluster has (the default IngressController), whose
// domain is the cluster's apps domain, the one generated hosts are made on.
const defaultRouter = "default"

// Resource is the one resource the action handles.
const Resource = "routes.route.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, Resource),
	}
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
	a, err := fields.Metadata(ri.Obj.Object, "annotations", false)
	if err != nil {
		return nil, err
	}
	if host == "" || a.Get(keys.HostGenerated) != "true" {
		return action.Keep(ri.Obj), nil
	}
	domain, fromStatus := SourceAppsDomain(ri.FromBackup, ri.Log)
	if !fromStatus {
		domain = ri.Source.AppsDomain
	} else if domain != ri.Source.AppsDomain {
		// Users saw the domain the decision used in this annotation with earlier versions.
		a[keys.BackupAppsDomain] = domain
	}
	if !Generated(host, ri.Obj.GetName(), ri.SourceNamespace, domain) {
		ri.Log.WithField("host", host).Info("route host was customised after it was generated; keeping it")
		return action.Keep(ri.Obj), nil
	}
	unstructured.RemoveNestedField(ri.Obj.Object, "spec", "host")
	ri.Log.WithField("host", host).Info("cleared generated route host; the destination generates it on its apps domain")
	return action.Keep(ri.Obj), nil
}

// Generated reports whether host is the one the router generates for route name in namespace ns
// on the apps domain (<name>-<ns>.<domain>). With no known domain (a route no default router
// admitted, backed up by this version), any host of that form counts. DNS names compare case-insensitively.
func Generated(host, name, ns, domain string) bool {
	prefix := strings.ToLower(name + "-" + ns + ".")
	host = strings.ToLower(host)
	if domain == "" {
		return strings.HasPrefix(host, prefix) && len(host) > len(prefix)
	}
	return host == prefix+strings.ToLower(strings.TrimSuffix(domain, "."))
}

// SourceAppsDomain returns the apps domain of the cluster the route was backed up on, as that
// cluster's default router recorded it when it admitted the route (status.ingress, entry of
// router "default": routerCanonicalHostname router-default.<domain>); ok is false when the route
// was not admitted by it. The router's record is the route's own and current at backup, unlike an
// openshift.io/backup-apps-domain annotation an earlier restore left on the route. A status of
// the wrong shape is logged and ignored: the restore then judges as without it.
func SourceAppsDomain(backedUp *unstructured.Unstructured, log logrus.FieldLogger) (domain string, ok bool) {
	ingress, found, err := unstructured.NestedSlice(backedUp.Object, "status", "ingress")
	if err != nil || !found {
		if err != nil {
			log.WithError(err).Warn("route status.ingress is not a list; judging the host without the source router's domain")
		}
		return "", false
	}
	for i, e := range ingress {
		entry, isMap := e.(map[string]any)
		if !isMap {
			log.Warnf("route status.ingress[%d] is not an object; ignored", i)
			continue
		}
		name, _ := entry["routerName"].(string)
		canonical, _ := entry["routerCanonicalHostname"].(string)
		prefix := "router-" + defaultRouter + "."
		if name == defaultRouter && strings.HasPrefix(canonical, prefix) && len(canonical) > len(prefix) {
			return strings.TrimSuffix(canonical[len(prefix):], "."), true
		}
	}
	return "", false
}

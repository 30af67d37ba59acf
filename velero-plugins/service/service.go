// Package service drops the external IPs of LoadBalancer services: they belong to the source
// cluster's network, and the destination's load balancer assigns its own.
package service

import (
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/11-service-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, "services"),
	}
}

// restore removes spec.externalIPs from a LoadBalancer service, logging what it dropped; services
// of other types are untouched.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	v, ok := ri.Obj.Object["spec"]
	if !ok || v == nil {
		return action.Keep(ri.Obj), nil
	}
	spec, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("spec: expected an object, got %T", v)
	}
	typ, ok := spec["type"].(string)
	if !ok && spec["type"] != nil {
		return nil, fmt.Errorf("spec.type: expected a string, got %T", spec["type"])
	}
	if typ != "LoadBalancer" {
		return action.Keep(ri.Obj), nil
	}
	if ips, ok := spec["externalIPs"]; ok {
		delete(spec, "externalIPs")
		ri.Log.Infof("dropped spec.externalIPs %v of LoadBalancer service", ips)
	}
	return action.Keep(ri.Obj), nil
}

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
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env), nil }},
	}
}

// Restore drops spec.externalIPs of LoadBalancer services.
type Restore struct{ env action.Env }

// NewRestore builds the action.
func NewRestore(env action.Env) *Restore { return &Restore{env: env} }

// AppliesTo selects services.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("services"), nil
}

// Execute removes spec.externalIPs from a LoadBalancer service, logging what it dropped; services
// of other types are untouched.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
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

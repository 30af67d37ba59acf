// Package hpa fixes HorizontalPodAutoscalers that target a DeploymentConfig through the legacy
// core "v1" apiVersion, which current clusters no longer resolve: the autoscaler would never find
// its target.
package hpa

import (
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/16-hpa-restore"

// DeploymentConfigAPIVersion is where DeploymentConfigs are served.
const DeploymentConfigAPIVersion = "apps.openshift.io/v1"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, "horizontalpodautoscalers.autoscaling"),
	}
}

// restore sets spec.scaleTargetRef.apiVersion to apps.openshift.io/v1 for kind DeploymentConfig
// with apiVersion "v1"; everything else is left as is.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	spec, ok := ri.Obj.Object["spec"]
	if !ok || spec == nil {
		return action.Keep(ri.Obj), nil
	}
	specMap, ok := spec.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("spec: expected an object, got %T", spec)
	}
	target, ok := specMap["scaleTargetRef"]
	if !ok || target == nil {
		return action.Keep(ri.Obj), nil
	}
	ref, ok := target.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("spec.scaleTargetRef: expected an object, got %T", target)
	}
	kind, err := optString(ref, "kind")
	if err != nil {
		return nil, err
	}
	apiVersion, err := optString(ref, "apiVersion")
	if err != nil {
		return nil, err
	}
	if kind == "DeploymentConfig" && apiVersion == "v1" {
		ref["apiVersion"] = DeploymentConfigAPIVersion
		ri.Log.Infof("scale target DeploymentConfig %v: apiVersion v1 -> %s", ref["name"], DeploymentConfigAPIVersion)
	}
	return action.Keep(ri.Obj), nil
}

func optString(ref map[string]any, field string) (string, error) {
	v, ok := ref[field]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("spec.scaleTargetRef.%s: expected a string, got %T", field, v)
	}
	return s, nil
}

// Package secret skips secrets the destination cluster generates itself: service-CA serving
// certificates (signed by the source's CA, useless elsewhere) and the dockercfg/token secrets
// minted per service account.
package secret

import (
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/12-secret-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, "secrets"),
	}
}

// restore decides from the secret's name, type and annotations only; its data is never read.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	s, err := header(ri.Obj.Object)
	if err != nil {
		return nil, err
	}
	if svc := s.Annotations[keys.ServingCertOriginatingService]; svc != "" {
		ri.Log.Infof("skipping serving-cert secret of service %s: the destination's service CA issues a new one", svc)
		return action.Skip(ri.Obj), nil
	}
	if pullsecret.IsRegenerated(s) {
		ri.Log.Infof("skipping %s secret: the destination generates it for its service account", s.Type)
		return action.Skip(ri.Obj), nil
	}
	return action.Keep(ri.Obj), nil
}

// header reads the secret's metadata and type as a typed Secret, leaving data and stringData out
// so that neither a malformed nor a sensitive value is ever decoded.
func header(obj map[string]any) (*corev1.Secret, error) {
	if t, ok := obj["type"]; ok && t != nil {
		if _, ok := t.(string); !ok {
			return nil, fmt.Errorf("type: expected a string, got %T", t)
		}
	}
	view := map[string]any{"metadata": obj["metadata"], "type": obj["type"]}
	s := &corev1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(view, s); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return s, nil
}

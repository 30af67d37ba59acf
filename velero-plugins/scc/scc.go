// Package scc remaps the service-account users and groups a SecurityContextConstraints grants,
// so an SCC restored under a namespace mapping still admits the restored service accounts.
package scc

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/14-scc-restore"

// Resource is the group-qualified resource of SCCs.
const Resource = "securitycontextconstraints.security.openshift.io"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		action.ItemRestoreRegistration(RestoreName, restore, Resource),
	}
}

// restore maps "system:serviceaccount:<ns>:<sa>" users and "system:serviceaccounts:<ns>" groups.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	if len(ri.Mapping) == 0 {
		return action.Keep(ri.Obj), nil
	}
	orig := ri.FromBackup.Object
	for _, f := range []struct {
		field string
		fn    func(string) string
	}{{"users", ri.Mapping.MapUser}, {"groups", ri.Mapping.MapGroup}} {
		changed, err := fields.RemapStrings(ri.Obj.Object, orig, f.field, f.fn)
		if err != nil {
			return nil, err
		}
		if changed {
			ri.Log.Infof("remapped service account namespaces in %s", f.field)
		}
	}
	return action.Keep(ri.Obj), nil
}

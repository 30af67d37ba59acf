// Package general is the registration table of the general plugin's actions, shared by both
// binaries: the migration plugin serves these unchanged, under the same names.
package general

import (
	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/serverfacts"
)

// Registrations returns every general action, in registered-name order.
func Registrations() []action.Registration {
	var all []action.Registration
	for _, rows := range [][]action.Registration{
		serverfacts.Registrations(),
	} {
		all = append(all, rows...)
	}
	return all
}

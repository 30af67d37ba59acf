// Package nonadmin skips OADP's non-admin custom resources: they are requests made to the source
// cluster's OADP controller, and restoring them would make the destination's controller act on
// them again (re-running backups or restores).
package nonadmin

import "github.com/velero-openshift/plugins/common/action"

// RestoreName is the registered name.
const RestoreName = "openshift.io/20-nonadmin-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{action.SkipRegistration(RestoreName,
		"non-admin OADP requests are not restored: the destination's controller would act on them again",
		"nonadminbackups.oadp.openshift.io", "nonadminrestores.oadp.openshift.io", "nonadminbackupstoragelocations.oadp.openshift.io")}
}

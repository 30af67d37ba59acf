// Package build skips Builds on restore: a Build is a record of one run, and the restored
// BuildConfig creates new ones on the destination (a restored Build would point at source-cluster
// pods and images, and could start a duplicate run).
package build

import "github.com/velero-openshift/plugins/common/action"

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/08-build-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{action.SkipRegistration(RestoreName,
		"Builds are not restored: the BuildConfig creates new builds", "builds.build.openshift.io")}
}

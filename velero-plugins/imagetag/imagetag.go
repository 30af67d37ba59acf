// Package imagetag skips ImageTags on restore: an ImageTag is a derived view of an ImageStream's
// spec and status tag, which the restored ImageStream (and its ImageStreamTags) recreate.
package imagetag

import "github.com/velero-openshift/plugins/common/action"

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/18-imagetag-restore"

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{action.SkipRegistration(RestoreName,
		"ImageTags are a view the restored image stream recreates", "imagetags.image.openshift.io")}
}

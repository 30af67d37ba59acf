// Command openshift-velero-plugin serves the general OpenShift backup and restore item actions to
// Velero. It is a registration table and nothing else.
package main

import (
	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/general"
	"github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

// Run by hand as `openshift-velero-plugin reclaim-images ...` it frees the images of deleted
// backups from a location's image store.
func main() { action.Serve(general.Registrations(), imagestream.ReclaimCommand()) }

// Command openshift-velero-plugin serves the general OpenShift backup and restore item actions to
// Velero. It is a registration table and nothing else.
package main

import (
	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/general"
)

func main() { action.Serve(general.Registrations()) }

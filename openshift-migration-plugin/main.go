// Command openshift-migration-plugin serves the general actions (same names, unchanged) for
// controller-driven cluster migration; migration-only actions are added to this table.
package main

import (
	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/general"
)

func main() { action.Serve(general.Registrations()) }

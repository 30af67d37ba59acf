// Command floorplugin is the baseline of `make bench-e2e`: a plugin binary that registers exactly
// the general plugin's actions, under the same names and with the same AppliesTo, whose backup and
// item-block actions do nothing (the item goes back unchanged, no related items). Velero then makes
// the same gRPC calls for the same items as with openshift-velero-plugin, so the difference between
// the two is what the actions themselves cost, and the difference between this and Velero alone is
// the cost of Velero's one-call-per-item plugin protocol.
package main

import (
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/general"
)

func main() {
	table := general.Registrations()
	for i := range table {
		table[i].New = floor(table[i])
	}
	action.Serve(table)
}

// floor keeps a registration's AppliesTo and replaces what it does at backup with nothing.
func floor(r action.Registration) func(action.Env) (any, error) {
	build := r.New
	return func(env action.Env) (any, error) {
		a, err := build(env)
		if err != nil {
			return nil, err
		}
		switch r.Kind {
		case action.KindBackup:
			return passBackup{a.(action.BackupAction)}, nil
		case action.KindItemBlock:
			return noRelated{a.(action.ItemBlockAction)}, nil
		}
		return a, nil
	}
}

type passBackup struct{ action.BackupAction }

func (passBackup) Execute(item runtime.Unstructured, _ *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	return item, nil, nil
}

type noRelated struct{ action.ItemBlockAction }

func (noRelated) GetRelatedItems(runtime.Unstructured, *velerov1.Backup) ([]velero.ResourceIdentifier, error) {
	return nil, nil
}

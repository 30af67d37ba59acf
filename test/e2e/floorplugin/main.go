// Command floorplugin is the baseline of `make bench-e2e`: a plugin binary that registers exactly
// the general plugin's actions, under the same names and with the same AppliesTo, whose actions do
// nothing (backup and restore hand the item back unchanged, no related or additional items).
// Velero then makes the same gRPC calls for the same items as with openshift-velero-plugin, on
// backup and on restore, so the difference between the two is what the actions themselves cost,
// and the difference between this and Velero alone is the cost of Velero's one-call-per-item
// plugin protocol.
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

// floor keeps a registration's AppliesTo and replaces what it does with nothing.
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
		case action.KindRestore, action.KindRestoreV2:
			return passRestore{a.(action.RestoreAction)}, nil
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

type passRestore struct{ action.RestoreAction }

func (passRestore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	return action.Keep(in.Item), nil
}

// AreAdditionalItemsReady: a floor restore returns no additional items, so there is nothing to wait for.
func (passRestore) AreAdditionalItemsReady([]velero.ResourceIdentifier, *velerov1.Restore) (bool, error) {
	return true, nil
}

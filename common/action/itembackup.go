package action

import (
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"
)

// ItemBackupFunc decides a backup item from its context alone (no clients of its own); it returns
// the item to back up and any additional items.
type ItemBackupFunc func(bi *BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error)

// itemBackup serves an ItemBackupFunc as a backup action: the backup counterpart of itemRestore.
type itemBackup struct {
	env       Env
	resources []string
	fn        ItemBackupFunc
}

// ItemBackupRegistration is the registration row of a backup action given as a function.
func ItemBackupRegistration(name string, fn ItemBackupFunc, resources ...string) Registration {
	return Registration{Name: name, Kind: KindBackup, New: func(env Env) (any, error) {
		return &itemBackup{env: env, resources: resources, fn: fn}, nil
	}}
}

// AppliesTo selects the action's resources.
func (a *itemBackup) AppliesTo() (velero.ResourceSelector, error) {
	return Resources(a.resources...), nil
}

// Execute builds the item's context and calls the function.
func (a *itemBackup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	bi, err := a.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	return a.fn(bi)
}

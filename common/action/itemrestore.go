package action

import "github.com/vmware-tanzu/velero/pkg/plugin/velero"

// ItemRestoreFunc decides a restore item from its context alone (no clients of its own).
type ItemRestoreFunc func(ri *RestoreItem) (*velero.RestoreItemActionExecuteOutput, error)

// itemRestore serves an ItemRestoreFunc as a restore action, so such actions are a function and a
// registration row instead of a struct, a constructor and two methods each.
type itemRestore struct {
	env       Env
	resources []string
	fn        ItemRestoreFunc
}

// ItemRestoreRegistration is the registration row of a restore action given as a function.
func ItemRestoreRegistration(name string, fn ItemRestoreFunc, resources ...string) Registration {
	return Registration{Name: name, Kind: KindRestore, New: func(env Env) (any, error) {
		return &itemRestore{env: env, resources: resources, fn: fn}, nil
	}}
}

// AppliesTo selects the action's resources.
func (a *itemRestore) AppliesTo() (velero.ResourceSelector, error) {
	return Resources(a.resources...), nil
}

// Execute builds the item's context and calls the function.
func (a *itemRestore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := a.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	return a.fn(ri)
}

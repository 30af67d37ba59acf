package action

import "github.com/vmware-tanzu/velero/pkg/plugin/velero"

// Skipper is a restore action that skips every item of its resources: for kinds the destination
// re-creates itself, or must not receive at all.
type Skipper struct {
	env       Env
	resources []string
	reason    string
}

// SkipRegistration is the registration row of a Skipper; reason is logged for every skipped item.
func SkipRegistration(name, reason string, resources ...string) Registration {
	return Registration{Name: name, Kind: KindRestore, New: func(env Env) (any, error) {
		return &Skipper{env: env, resources: resources, reason: reason}, nil
	}}
}

// AppliesTo selects the skipped resources.
func (s *Skipper) AppliesTo() (velero.ResourceSelector, error) { return Resources(s.resources...), nil }

// Execute skips the item.
func (s *Skipper) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	obj, err := Object(in.Item)
	if err != nil {
		return nil, err
	}
	s.env.Log.WithField("item", Describe(obj)).Infof("skipping: %s", s.reason)
	return Skip(in.Item), nil
}

// Package buildconfig restores BuildConfigs so their builds work on the destination: image
// references in the output, strategy and source images move to the destination registry and
// mapped namespaces, and the builder's generated push/pull secrets are renamed to the ones the
// destination minted for the same service account.
package buildconfig

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// RestoreName is the registered name of the restore action.
const RestoreName = "openshift.io/09-buildconfig-restore"

// Resource is the one resource the action handles.
const Resource = "buildconfigs.build.openshift.io"

// Strategies are the build strategies with an image (from) and a pull secret.
var Strategies = []string{"sourceStrategy", "dockerStrategy", "customStrategy"}

// lookupSlack bounds the API calls of a secret lookup beyond the configured wait.
const lookupSlack = 30 * time.Second

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
		finder := env.PullSecrets
		if finder == nil {
			if env.Clients == nil {
				return nil, fmt.Errorf("no API clients to look up destination pull secrets")
			}
			kube, err := env.Clients.Kube()
			if err != nil {
				return nil, err
			}
			finder = &pullsecret.Finder{Client: kube.CoreV1()}
		}
		return NewRestore(env, finder), nil
	}}}
}

// Restore rewrites a BuildConfig's image references and generated secret names.
type Restore struct {
	env     action.Env
	secrets *pullsecret.Finder
}

// NewRestore returns the restore action; secrets finds the destination's generated dockercfg
// secrets (shared so each service account is looked up once per process).
func NewRestore(env action.Env, secrets *pullsecret.Finder) *Restore {
	return &Restore{env: env, secrets: secrets}
}

// AppliesTo selects build configs.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// field is an object inside the BuildConfig with its name for messages.
type field struct {
	name string
	obj  map[string]any
}

// Execute rewrites references and renames secrets in place.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	refs, secrets, err := collect(ri.Obj.Object)
	if err != nil {
		return nil, err
	}
	// Read every secret name first, so a malformed item costs no API call.
	names := make([]string, len(secrets))
	for i, s := range secrets {
		if names[i], err = fields.String(s.obj, "name", s.name); err != nil {
			return nil, err
		}
	}
	for _, ref := range refs {
		if _, err := ri.Images.RewriteObjectRef(ref.obj, ref.name); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), ri.Config.PullSecretWait+lookupSlack)
	defer cancel()
	var renamed map[string]any
	for i, s := range secrets {
		if names[i] == "" {
			continue
		}
		to, err := r.secrets.Destination(ctx, ri.TargetNamespace, names[i], ri.Destination.RegistryEnabled, ri.Config.PullSecretWait)
		if err != nil {
			// The BuildConfig is still valid with the old name; only its builds would lack credentials.
			ri.Log.WithError(err).WithField("field", s.name+".name").Warn("could not look up the destination's generated secret; keeping the name")
			continue
		}
		if to != names[i] {
			s.obj["name"] = to
			if renamed == nil {
				renamed = map[string]any{}
			}
			renamed[s.name+".name"] = names[i] + " -> " + to
		}
	}
	if len(renamed) > 0 {
		ri.Log.WithFields(renamed).Info("renamed generated secret references to the destination's")
	}
	return action.Keep(ri.Obj), nil
}

// collect finds every image reference and every push/pull secret reference of a BuildConfig.
// Image change triggers are included so a trigger on a tag in a mapped namespace follows it.
func collect(obj map[string]any) (refs, secrets []field, err error) {
	spec, found, err := fields.NestedObject(obj, "", "spec")
	if err != nil || !found {
		return nil, nil, err
	}
	add := func(list *[]field, parent map[string]any, prefix, key string) error {
		m, found, err := fields.NestedObject(parent, prefix, key)
		if err == nil && found {
			*list = append(*list, field{name: prefix + "." + key, obj: m})
		}
		return err
	}
	output, found, err := fields.NestedObject(spec, "spec", "output")
	if err != nil {
		return nil, nil, err
	}
	if found {
		if err := add(&refs, output, "spec.output", "to"); err != nil {
			return nil, nil, err
		}
		if err := add(&secrets, output, "spec.output", "pushSecret"); err != nil {
			return nil, nil, err
		}
	}
	strategy, found, err := fields.NestedObject(spec, "spec", "strategy")
	if err != nil {
		return nil, nil, err
	}
	if found {
		for _, name := range Strategies {
			prefix := "spec.strategy." + name
			s, found, err := fields.NestedObject(strategy, "spec.strategy", name)
			if err != nil {
				return nil, nil, err
			}
			if !found {
				continue
			}
			if err := add(&refs, s, prefix, "from"); err != nil {
				return nil, nil, err
			}
			if err := add(&secrets, s, prefix, "pullSecret"); err != nil {
				return nil, nil, err
			}
		}
	}
	source, found, err := fields.NestedObject(spec, "spec", "source")
	if err != nil {
		return nil, nil, err
	}
	if found {
		images, err := fields.Objects(source, "spec.source", "images")
		if err != nil {
			return nil, nil, err
		}
		for i, img := range images {
			prefix := fmt.Sprintf("spec.source.images[%d]", i)
			if err := add(&refs, img, prefix, "from"); err != nil {
				return nil, nil, err
			}
			if err := add(&secrets, img, prefix, "pullSecret"); err != nil {
				return nil, nil, err
			}
		}
	}
	triggers, err := fields.Objects(spec, "spec", "triggers")
	if err != nil {
		return nil, nil, err
	}
	for i, t := range triggers {
		prefix := fmt.Sprintf("spec.triggers[%d]", i)
		ic, found, err := fields.NestedObject(t, prefix, "imageChange")
		if err != nil {
			return nil, nil, err
		}
		if found {
			if err := add(&refs, ic, prefix+".imageChange", "from"); err != nil {
				return nil, nil, err
			}
		}
	}
	return refs, secrets, nil
}

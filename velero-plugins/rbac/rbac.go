// Package rbac remaps the namespaces a (Cluster)RoleBinding names, so that bindings restored under
// a namespace mapping grant the restored service accounts, and skips the RoleBindings OpenShift
// creates in every project itself.
package rbac

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/nsmap"
)

// RestoreName is the registered name.
const RestoreName = "openshift.io/15-rolebinding-restore"

// Resources are the bindings of both API groups that serve them.
var Resources = []string{
	"rolebindings.rbac.authorization.k8s.io",
	"clusterrolebindings.rbac.authorization.k8s.io",
	"rolebindings.authorization.openshift.io",
	"clusterrolebindings.authorization.openshift.io",
}

// ProjectRoleBindings are created by OpenShift in every new project; restoring the source's copy
// would conflict with, or duplicate, the destination's own.
var ProjectRoleBindings = map[string]bool{
	"system:image-pullers":  true,
	"system:image-builders": true,
	"system:deployers":      true,
}

// lookupTimeout bounds the existence check of a project RoleBinding.
const lookupTimeout = 10 * time.Second

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) {
			if env.Clients == nil {
				return nil, errors.New("no API clients")
			}
			k, err := env.Clients.Kube()
			if err != nil {
				return nil, err
			}
			return NewRestore(env, k.RbacV1()), nil
		}},
	}
}

// Restore remaps binding subjects and skips project RoleBindings the destination creates itself.
type Restore struct {
	env  action.Env
	rbac rbacv1client.RoleBindingsGetter
}

// NewRestore builds the action; rbac is used to see whether the destination already has a
// project RoleBinding.
func NewRestore(env action.Env, rbac rbacv1client.RoleBindingsGetter) *Restore {
	return &Restore{env: env, rbac: rbac}
}

// AppliesTo selects Resources.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resources...), nil
}

// Execute skips project RoleBindings the destination owns and remaps namespaces in subjects,
// userNames, groupNames and roleRef, computed from the backed-up copy so that Velero's own
// rolebinding action having mapped subjects first does not map them twice.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	if skip, err := r.skipProjectBinding(ri); err != nil || skip {
		if err != nil {
			return nil, err
		}
		return action.Skip(ri.Obj), nil
	}
	if len(ri.Mapping) == 0 {
		return action.Keep(ri.Obj), nil
	}
	item, orig := ri.Obj.Object, ri.FromBackup.Object
	if err := remapSubjects(item, orig, ri.Mapping); err != nil {
		return nil, err
	}
	mapUser := func(s string) string { return ri.Mapping.MapUser(s) }
	mapGroup := func(s string) string { return ri.Mapping.MapGroup(s) }
	if _, err := fields.RemapStrings(item, orig, "userNames", mapUser); err != nil {
		return nil, err
	}
	if _, err := fields.RemapStrings(item, orig, "groupNames", mapGroup); err != nil {
		return nil, err
	}
	if err := remapRoleRef(item, orig, ri.Mapping); err != nil {
		return nil, err
	}
	return action.Keep(ri.Obj), nil
}

// skipProjectBinding reports whether the item is one of the RoleBindings OpenShift creates in
// every project and the destination namespace has (or will have) its own: the namespace is new
// under a mapping, or it already holds a binding of that name. A failed lookup is logged and the
// binding restored: Velero then reports an existing object as a warning, which is still correct.
func (r *Restore) skipProjectBinding(ri *action.RestoreItem) (bool, error) {
	name := ri.Obj.GetName()
	if ri.SourceNamespace == "" || !ProjectRoleBindings[name] {
		return false, nil
	}
	if ri.Mapping.IsMapped(ri.SourceNamespace) {
		ri.Log.Infof("skipping %s: the destination project %s creates its own", name, ri.TargetNamespace)
		return true, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	_, err := r.rbac.RoleBindings(ri.TargetNamespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		ri.Log.Infof("skipping %s: it already exists in %s", name, ri.TargetNamespace)
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	default:
		ri.Log.Warnf("could not check for an existing %s in %s, restoring it: %v", name, ri.TargetNamespace, err)
		return false, nil
	}
}

// remapSubjects maps the namespace of ServiceAccount subjects and the service-account user and
// group names of User/Group subjects (SystemUser/SystemGroup on the OpenShift API), entry by entry,
// reading the backed-up entry when the backed-up list still lines up with the item's.
func remapSubjects(item, orig map[string]any, m nsmap.Mapping) error {
	cur, err := fields.Objects(item, "", "subjects")
	if err != nil {
		return err
	}
	base, err := fields.Objects(orig, "", "subjects")
	if err != nil || len(base) != len(cur) {
		base = cur
	}
	for i, c := range cur {
		b, entry := base[i], fmt.Sprintf("subjects[%d]", i)
		kind, err := fields.String(b, "kind", entry)
		if err != nil {
			return err
		}
		var field, from, to string
		switch kind {
		case "ServiceAccount":
			field = "namespace"
		case "User", "SystemUser", "Group", "SystemGroup":
			field = "name"
		default:
			continue
		}
		if from, err = fields.String(b, field, entry); err != nil {
			return err
		}
		if _, err = fields.String(c, field, entry); err != nil {
			return err
		}
		switch kind {
		case "ServiceAccount":
			to = from
			if from != "" {
				to = m.Map(from)
			}
		case "User", "SystemUser":
			to = m.MapUser(from)
		default:
			to = m.MapGroup(from)
		}
		if to != from {
			c[field] = to
		}
	}
	return nil
}

// remapRoleRef maps roleRef.namespace, set on the OpenShift API when the binding refers to a
// namespaced Role.
func remapRoleRef(item, orig map[string]any, m nsmap.Mapping) error {
	ref, ok, err := fields.NestedObject(item, "", "roleRef")
	if err != nil || !ok {
		return err
	}
	base, ok, err := fields.NestedObject(orig, "", "roleRef")
	if err != nil || !ok {
		base = ref
	}
	if _, err := fields.String(ref, "namespace", "roleRef"); err != nil {
		return err
	}
	ns, err := fields.String(base, "namespace", "roleRef")
	if err != nil {
		return err
	}
	if ns != "" && m.IsMapped(ns) {
		ref["namespace"] = m.Map(ns)
	}
	return nil
}

// Package serviceaccount backs up, with each service account, the SecurityContextConstraints that
// grant it (so a restored workload is admitted as on the source), and on restore drops the
// references to the pull and token secrets the destination mints again for the account.
package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	securityv1client "github.com/openshift/client-go/security/clientset/versioned/typed/security/v1"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/nsmap"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/common/pullsecret"
	"github.com/velero-openshift/plugins/velero-plugins/scc"
)

// Registered names.
const (
	BackupName    = "openshift.io/02-serviceaccount-backup"
	ItemBlockName = "openshift.io/02-serviceaccount-itemblock"
	RestoreName   = "openshift.io/02-serviceaccount-restore"
)

// Resource is what every action of this package applies to.
const Resource = "serviceaccounts"

// SCCGroupResource identifies SCCs as additional / related items.
var SCCGroupResource = schema.GroupResource{Group: "security.openshift.io", Resource: "securitycontextconstraints"}

// listTimeout bounds the one SCC list call of a backup.
const listTimeout = 30 * time.Second

// Registrations returns this package's rows of the registration table. The backup and item block
// actions share one SCC index so a backup lists SCCs once, whichever asks first.
func Registrations() []action.Registration {
	index := NewSCCIndex()
	security := func(env action.Env) (securityv1client.SecurityV1Interface, error) {
		if env.Clients == nil {
			return nil, errors.New("no API clients")
		}
		c, err := env.Clients.Security()
		if err != nil {
			return nil, err
		}
		return c.SecurityV1(), nil
	}
	return []action.Registration{
		{Name: BackupName, Kind: action.KindBackup, New: func(env action.Env) (any, error) {
			c, err := security(env)
			if err != nil {
				return nil, err
			}
			return NewBackup(env, c, index), nil
		}},
		{Name: ItemBlockName, Kind: action.KindItemBlock, New: func(env action.Env) (any, error) {
			c, err := security(env)
			if err != nil {
				return nil, err
			}
			return NewItemBlock(env, c, index), nil
		}},
		action.ItemRestoreRegistration(RestoreName, restore, Resource),
	}
}

// SCCIndex answers which SCCs grant a service account, from one SCC list per backup. Safe for
// concurrent use (Velero backs up item blocks in parallel).
type SCCIndex struct {
	backups opcache.Cache[*grants]
}

// grants maps a user or group to the names of the SCCs that list it.
type grants struct {
	byUser, byGroup map[string][]string
}

// NewSCCIndex returns an empty index.
func NewSCCIndex() *SCCIndex { return &SCCIndex{} }

// Related returns the SCCs that grant service account sa of namespace ns, by name, sorted.
func (x *SCCIndex) Related(client securityv1client.SecurityContextConstraintsGetter, backup *velerov1.Backup, ns, sa string) ([]velero.ResourceIdentifier, error) {
	g, err := x.forBackup(client, backup)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range g.byUser[nsmap.ServiceAccountUser(ns, sa)] {
		seen[n] = true
	}
	for _, n := range g.byGroup[nsmap.ServiceAccountGroup(ns)] {
		seen[n] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	ids := make([]velero.ResourceIdentifier, len(names))
	for i, n := range names {
		ids[i] = velero.ResourceIdentifier{GroupResource: SCCGroupResource, Name: n}
	}
	return ids, nil
}

// forBackup lists SCCs the first time a backup asks; the lock is held across the call so that
// concurrent items of the same backup wait for that one list instead of each making their own.
func (x *SCCIndex) forBackup(client securityv1client.SecurityContextConstraintsGetter, backup *velerov1.Backup) (*grants, error) {
	return x.backups.Get(opcache.Op(backup), "", func() (*grants, error) { return list(client) })
}

func list(client securityv1client.SecurityContextConstraintsGetter) (*grants, error) {
	g := &grants{byUser: map[string][]string{}, byGroup: map[string][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	sccs, err := client.SecurityContextConstraints().List(ctx, metav1.ListOptions{})
	if err != nil {
		if notServed(err) {
			return g, nil // plain Kubernetes: nothing grants, nothing to add
		}
		return nil, fmt.Errorf("listing %s: %w", scc.Resource, err)
	}
	for _, s := range sccs.Items {
		for _, u := range s.Users {
			g.byUser[u] = append(g.byUser[u], s.Name)
		}
		for _, grp := range s.Groups {
			g.byGroup[grp] = append(g.byGroup[grp], s.Name)
		}
	}
	return g, nil
}

// notServed reports whether err says the cluster does not serve SCCs at all.
func notServed(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err) ||
		strings.Contains(err.Error(), "could not find the requested resource")
}

// sccLookup is what the backup and item block actions share: the SCC client, the per-backup
// SCC index, and finding the SCCs that grant a service account.
type sccLookup struct {
	env    action.Env
	client securityv1client.SecurityContextConstraintsGetter
	index  *SCCIndex
}

// newSCCLookup uses index, which may be shared between the two actions (nil: a new one).
func newSCCLookup(env action.Env, client securityv1client.SecurityContextConstraintsGetter, index *SCCIndex) sccLookup {
	if index == nil {
		index = NewSCCIndex()
	}
	return sccLookup{env: env, client: client, index: index}
}

// AppliesTo selects service accounts.
func (l sccLookup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// related returns the SCCs granting the service account item, and the item.
func (l sccLookup) related(item runtime.Unstructured, backup *velerov1.Backup) ([]velero.ResourceIdentifier, *unstructured.Unstructured, error) {
	bi, err := l.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	ns, name := bi.Obj.GetNamespace(), bi.Obj.GetName()
	if ns == "" || name == "" {
		return nil, nil, fmt.Errorf("metadata: service account without namespace or name")
	}
	ids, err := l.index.Related(l.client, backup, ns, name)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		bi.Log.Infof("adding SecurityContextConstraints %s, which grants this service account", id.Name)
	}
	return ids, bi.Obj, nil
}

// Backup returns the SCCs granting a service account as additional items.
type Backup struct{ sccLookup }

// NewBackup builds the backup action; index may be shared with the item block action (nil: a new one).
func NewBackup(env action.Env, client securityv1client.SecurityContextConstraintsGetter, index *SCCIndex) *Backup {
	return &Backup{newSCCLookup(env, client, index)}
}

// Execute returns the item unchanged with its SCCs as additional items.
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	ids, obj, err := b.related(item, backup)
	if err != nil {
		return nil, nil, err
	}
	return obj, ids, nil
}

// ItemBlock puts a service account and the SCCs granting it in one item block.
type ItemBlock struct{ sccLookup }

// NewItemBlock builds the item block action; index may be shared with the backup action (nil: a new one).
func NewItemBlock(env action.Env, client securityv1client.SecurityContextConstraintsGetter, index *SCCIndex) *ItemBlock {
	return &ItemBlock{newSCCLookup(env, client, index)}
}

// GetRelatedItems returns the SCCs granting the service account.
func (b *ItemBlock) GetRelatedItems(item runtime.Unstructured, backup *velerov1.Backup) ([]velero.ResourceIdentifier, error) {
	ids, _, err := b.related(item, backup)
	return ids, err
}

// restore drops the account's generated dockercfg and token secrets from its secret lists.
//
// It removes "<sa>-dockercfg-*" and "<sa>-token-*" from secrets and imagePullSecrets,
// keeping every other entry in order: the destination mints and links its own.
func restore(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
	sa := ri.Obj.GetName()
	for _, field := range []string{"secrets", "imagePullSecrets"} {
		v, ok := ri.Obj.Object[field]
		if !ok || v == nil {
			continue
		}
		entries, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected a list, got %T", field, v)
		}
		kept := make([]any, 0, len(entries))
		var dropped []string
		for i, e := range entries {
			ref, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: expected an object, got %T", field, i, e)
			}
			name, ok := ref["name"].(string)
			if !ok && ref["name"] != nil {
				return nil, fmt.Errorf("%s[%d].name: expected a string, got %T", field, i, ref["name"])
			}
			if pullsecret.IsGeneratedFor(name, sa) {
				dropped = append(dropped, name)
				continue
			}
			kept = append(kept, e)
		}
		if len(dropped) > 0 {
			ri.Obj.Object[field] = kept
			ri.Log.Infof("dropped %s %v: the destination generates its own", field, dropped)
		}
	}
	return action.Keep(ri.Obj), nil
}

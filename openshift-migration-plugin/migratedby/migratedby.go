// Package migratedby labels every item a migration restores with the MigMigration and MigPlan
// that restored it: the controller's rollback deletes what a migration created by these labels
// (SPEC §6). The restore action is the one action that applies to every resource, so it runs on
// every item of every restore and is kept to a map lookup and a label write. Velero creates
// restored namespaces itself from the backed-up Namespace and runs no restore action on them, so
// the backup action labels the backed-up Namespace instead (the Backup and Restore of one
// migration carry the same migrated-by labels).
package migratedby

import (
	"fmt"
	"sync"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// RestoreName and BackupName are the registered names of the migrated-by actions.
const (
	RestoreName = migration.NamePrefix + "07-migrated-by-restore"
	BackupName  = migration.NamePrefix + "07-migrated-by-backup"
)

// Labels are the keys copied from the Restore onto every item, in the order they are reported.
var Labels = []string{migration.MigratedByMigrationLabel, migration.MigratedByPlanLabel}

// Registrations returns this package's rows of the registration table.
func Registrations() []action.Registration {
	return []action.Registration{
		{Name: RestoreName, Kind: action.KindRestore, New: func(env action.Env) (any, error) { return NewRestore(env.Log), nil }},
		{Name: BackupName, Kind: action.KindBackup, New: func(action.Env) (any, error) { return Backup{}, nil }},
	}
}

// Backup labels the backed-up Namespace of a migration Backup with the Backup's migrated-by
// labels: Velero creates a restored namespace from that item's labels and annotations without
// running restore actions on it, so this is how a namespace the migration creates on the
// destination carries them. A namespace that already exists there is left as it is by Velero, and
// so is not deleted by a rollback that selects on these labels.
type Backup struct{}

// AppliesTo selects namespaces.
func (Backup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("namespaces"), nil
}

// Execute labels the item on a migration Backup carrying migrated-by labels; any other Backup
// leaves it unchanged.
func (Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	info := migration.OfBackup(backup)
	if !info.Migration || len(info.MigratedBy) == 0 {
		return item, nil, nil
	}
	obj, err := setLabels(item, info.MigratedBy)
	if err != nil {
		return nil, nil, err
	}
	return obj, nil, nil
}

// Restore is the migrated-by restore action. It deliberately does not build the per-item restore
// context (plugin config, cluster facts, mapping): nothing here needs them.
type Restore struct {
	log logrus.FieldLogger
	// warned holds the restores already warned about missing labels, by UID: one warning per
	// restore, not one per item. Velero may call Execute concurrently.
	warned sync.Map
}

// NewRestore builds the action.
func NewRestore(log logrus.FieldLogger) *Restore { return &Restore{log: log} }

// AppliesTo selects every resource, cluster-scoped ones included ("*" is Velero's wildcard; with
// no namespaces named, Velero also runs the action on cluster-scoped items).
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("*"), nil
}

// Execute sets the migrated-by labels of a migration Restore on the item.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	info := migration.OfRestore(in.Restore)
	if !info.Migration {
		return action.Keep(in.Item), nil
	}
	if len(info.MigratedBy) < len(Labels) {
		r.warnMissing(in, info.MigratedBy)
		if len(info.MigratedBy) == 0 {
			return action.Keep(in.Item), nil
		}
	}
	obj, err := setLabels(in.Item, info.MigratedBy)
	if err != nil {
		return nil, err
	}
	return action.Keep(obj), nil
}

// setLabels sets values as labels of item, in place; malformed metadata is an error naming the field.
func setLabels(item runtime.Unstructured, values map[string]string) (*unstructured.Unstructured, error) {
	obj, err := action.Object(item)
	if err != nil {
		return nil, err
	}
	if obj.Object["metadata"] == nil {
		return nil, fmt.Errorf("metadata: missing")
	}
	labels, err := fields.Metadata(obj.Object, "labels", true)
	if err != nil {
		return nil, err
	}
	for k, v := range values {
		labels[k] = v
	}
	return obj, nil
}

// warnMissing logs once per restore that the Restore lacks migrated-by labels: its items cannot
// be found by the controller's rollback.
func (r *Restore) warnMissing(in *velero.RestoreItemActionExecuteInput, present map[string]string) {
	key := string(in.Restore.UID)
	if key == "" {
		key = in.Restore.Namespace + "/" + in.Restore.Name
	}
	if _, seen := r.warned.LoadOrStore(key, struct{}{}); seen {
		return
	}
	var missing []string
	for _, k := range Labels {
		if present[k] == "" {
			missing = append(missing, k)
		}
	}
	r.log.WithField("restore", in.Restore.Namespace+"/"+in.Restore.Name).Warnf(
		"migration Restore has no label %v: restored items are not labelled with it, so a rollback cannot find them by it", missing)
}

package action

import (
	"fmt"
	"runtime/debug"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	biav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/backupitemaction/v2"
	riav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v2"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/config"
)

// guard holds what every guarded action shares.
type guard struct {
	name   string
	config config.Source
	log    logrus.FieldLogger
}

// run calls fn with panic recovery and the object named in any error.
func (g guard) run(item runtime.Unstructured, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			g.log.WithField("action", g.name).Errorf("recovered panic: %v\n%s", p, debug.Stack())
			err = fmt.Errorf("%s: %s: internal error (recovered panic): %v", g.name, describeItem(item), p)
		}
	}()
	if err = fn(); err != nil {
		err = fmt.Errorf("%s: %s: %w", g.name, describeItem(item), err)
	}
	return err
}

// Name returns the registered name (Velero asks each action for it).
func (g guard) Name() string { return g.name }

// disabled reports whether the plugin config switches this action off for the given Velero namespace.
func (g guard) disabled(veleroNamespace string) (bool, error) {
	cfg, err := g.config.Config(background(), veleroNamespace)
	if err != nil {
		return false, err
	}
	return cfg.Disabled(g.name), nil
}

// GuardedBackup serves a BackupAction as Velero's BackupItemAction v2.
type GuardedBackup struct {
	guard
	action BackupAction
}

var _ biav2.BackupItemAction = (*GuardedBackup)(nil)

// AppliesTo delegates to the action.
func (g *GuardedBackup) AppliesTo() (velero.ResourceSelector, error) { return g.action.AppliesTo() }

// Execute runs the action under the guard.
func (g *GuardedBackup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, string, []velero.ResourceIdentifier, error) {
	out, extra := item, []velero.ResourceIdentifier(nil)
	err := g.run(item, func() error {
		if backup == nil {
			return fmt.Errorf("no Backup given")
		}
		if off, err := g.disabled(backup.Namespace); err != nil || off {
			return err
		}
		var err error
		out, extra, err = g.action.Execute(item, backup)
		return err
	})
	if err != nil {
		return nil, nil, "", nil, err
	}
	return out, extra, "", nil, nil
}

// Progress is not supported: these actions are synchronous.
func (g *GuardedBackup) Progress(string, *velerov1.Backup) (velero.OperationProgress, error) {
	return velero.OperationProgress{}, biav2.AsyncOperationsNotSupportedError()
}

// Cancel is a no-op: these actions are synchronous.
func (g *GuardedBackup) Cancel(string, *velerov1.Backup) error { return nil }

// GuardedRestore serves a RestoreAction as Velero's RestoreItemAction (v1 and v2 shapes).
type GuardedRestore struct {
	guard
	action RestoreAction
}

var _ riav2.RestoreItemAction = (*GuardedRestore)(nil)

// AppliesTo delegates to the action.
func (g *GuardedRestore) AppliesTo() (velero.ResourceSelector, error) { return g.action.AppliesTo() }

// Execute runs the action under the guard.
func (g *GuardedRestore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	var out *velero.RestoreItemActionExecuteOutput
	var item runtime.Unstructured
	if in != nil {
		item = in.Item
	}
	err := g.run(item, func() error {
		if in == nil || in.Restore == nil || in.Item == nil {
			return fmt.Errorf("incomplete restore input (item or Restore missing)")
		}
		if off, err := g.disabled(in.Restore.Namespace); err != nil {
			return err
		} else if off {
			out = velero.NewRestoreItemActionExecuteOutput(in.Item)
			return nil
		}
		var err error
		out, err = g.action.Execute(in)
		if err == nil && out == nil {
			out = velero.NewRestoreItemActionExecuteOutput(in.Item)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Progress is not supported: these actions are synchronous.
func (g *GuardedRestore) Progress(string, *velerov1.Restore) (velero.OperationProgress, error) {
	return velero.OperationProgress{}, riav2.AsyncOperationsNotSupportedError()
}

// Cancel is a no-op: these actions are synchronous.
func (g *GuardedRestore) Cancel(string, *velerov1.Restore) error { return nil }

// AreAdditionalItemsReady delegates to a RestoreActionV2, and is true for other actions.
func (g *GuardedRestore) AreAdditionalItemsReady(items []velero.ResourceIdentifier, restore *velerov1.Restore) (ready bool, err error) {
	v2, ok := g.action.(RestoreActionV2)
	if !ok {
		return true, nil
	}
	err = g.run(nil, func() error {
		var err error
		ready, err = v2.AreAdditionalItemsReady(items, restore)
		return err
	})
	return ready, err
}

// GuardedItemBlock serves an ItemBlockAction under the guard.
type GuardedItemBlock struct {
	guard
	action ItemBlockAction
}

// AppliesTo delegates to the action.
func (g *GuardedItemBlock) AppliesTo() (velero.ResourceSelector, error) { return g.action.AppliesTo() }

// GetRelatedItems runs the action under the guard.
func (g *GuardedItemBlock) GetRelatedItems(item runtime.Unstructured, backup *velerov1.Backup) ([]velero.ResourceIdentifier, error) {
	var related []velero.ResourceIdentifier
	err := g.run(item, func() error {
		if backup == nil {
			return fmt.Errorf("no Backup given")
		}
		if off, err := g.disabled(backup.Namespace); err != nil || off {
			return err
		}
		var err error
		related, err = g.action.GetRelatedItems(item, backup)
		return err
	})
	return related, err
}

// GuardedDelete serves a DeleteAction under the guard: a panic is an error of the item, which
// Velero logs with the deletion.
type GuardedDelete struct {
	guard
	action DeleteAction
}

var _ velero.DeleteItemAction = (*GuardedDelete)(nil)

// AppliesTo delegates to the action.
func (g *GuardedDelete) AppliesTo() (velero.ResourceSelector, error) { return g.action.AppliesTo() }

// Execute runs the action under the guard.
func (g *GuardedDelete) Execute(in *velero.DeleteItemActionExecuteInput) error {
	var item runtime.Unstructured
	if in != nil {
		item = in.Item
	}
	return g.run(item, func() error {
		if in == nil || in.Backup == nil || in.Item == nil {
			return fmt.Errorf("incomplete delete input (item or Backup missing)")
		}
		if off, err := g.disabled(in.Backup.Namespace); err != nil || off {
			return err
		}
		return g.action.Execute(in)
	})
}

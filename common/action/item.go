package action

import (
	"fmt"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/nsmap"
)

// SourceFacts are the source cluster's facts as recorded on a backed-up item.
type SourceFacts struct {
	ServerVersion    string
	RegistryHostname string
	AppsDomain       string
}

// SourceFactsOf reads the facts the common backup action recorded on obj.
func SourceFactsOf(obj *unstructured.Unstructured) SourceFacts {
	a := obj.GetAnnotations()
	return SourceFacts{
		ServerVersion:    a[keys.BackupServerVersion],
		RegistryHostname: a[keys.BackupRegistryHostname],
		AppsDomain:       a[keys.BackupAppsDomain],
	}
}

// RestoreItem is everything a restore action decides from: the item, the Restore, the namespace
// mapping, the source facts recorded at backup and the destination facts of this cluster.
type RestoreItem struct {
	Obj *unstructured.Unstructured
	// FromBackup is the item as backed up (Velero's ItemFromBackup, else Obj): decisions and
	// computed values read it, because Velero clears ownerReferences and status on Obj before
	// the actions run, and another action may already have edited Obj.
	FromBackup      *unstructured.Unstructured
	Restore         *velerov1.Restore
	Mapping         nsmap.Mapping
	SourceNamespace string // the item's namespace in the backup
	TargetNamespace string // where it is restored
	Source          SourceFacts
	Destination     clusterfacts.Facts // registry hostname override applied
	Config          config.Config
	Images          imageref.Rewriter
	Log             logrus.FieldLogger
}

// RestoreItem builds the context of one restore item.
func (e Env) RestoreItem(in *velero.RestoreItemActionExecuteInput) (*RestoreItem, error) {
	obj, err := Object(in.Item)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config.Config(background(), in.Restore.Namespace)
	if err != nil {
		return nil, err
	}
	dest := e.Facts.Facts(background())
	if cfg.RestoreRegistryHostname != "" {
		dest.RegistryHostname = cfg.RestoreRegistryHostname
	}
	fromBackup := obj
	if in.ItemFromBackup != nil {
		if fromBackup, err = Object(in.ItemFromBackup); err != nil {
			return nil, fmt.Errorf("backed-up item: %w", err)
		}
	}
	src := SourceFactsOf(obj)
	if src.RegistryHostname == "" {
		src = SourceFactsOf(fromBackup)
	}
	mapping := nsmap.FromRestore(in.Restore)
	ns := obj.GetNamespace()
	return &RestoreItem{
		Obj:             obj,
		FromBackup:      fromBackup,
		Restore:         in.Restore,
		Mapping:         mapping,
		SourceNamespace: ns,
		TargetNamespace: mapping.Map(ns),
		Source:          src,
		Destination:     dest,
		Config:          cfg,
		Images:          imageref.Rewriter{SourceHost: src.RegistryHostname, DestinationHost: dest.RegistryHostname, Mapping: mapping},
		Log: e.Log.WithFields(logrus.Fields{
			"restore": in.Restore.Namespace + "/" + in.Restore.Name, "item": Describe(obj),
		}),
	}, nil
}

// BackupItem is everything a backup action decides from.
type BackupItem struct {
	Obj    *unstructured.Unstructured
	Backup *velerov1.Backup
	Facts  clusterfacts.Facts // registry hostname override applied
	Config config.Config
	Log    logrus.FieldLogger
}

// BackupItem builds the context of one backup item.
func (e Env) BackupItem(item runtime.Unstructured, backup *velerov1.Backup) (*BackupItem, error) {
	obj, err := Object(item)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config.Config(background(), backup.Namespace)
	if err != nil {
		return nil, err
	}
	facts := e.Facts.Facts(background())
	if cfg.BackupRegistryHostname != "" {
		facts.RegistryHostname = cfg.BackupRegistryHostname
	}
	return &BackupItem{
		Obj: obj, Backup: backup, Facts: facts, Config: cfg,
		Log: e.Log.WithFields(logrus.Fields{"backup": backup.Namespace + "/" + backup.Name, "item": Describe(obj)}),
	}, nil
}

// Skip returns the output that tells Velero not to restore the item.
func Skip(item runtime.Unstructured) *velero.RestoreItemActionExecuteOutput {
	return velero.NewRestoreItemActionExecuteOutput(item).WithoutRestore()
}

// Keep returns the output that restores the (possibly edited) item.
func Keep(item runtime.Unstructured) *velero.RestoreItemActionExecuteOutput {
	return velero.NewRestoreItemActionExecuteOutput(item)
}

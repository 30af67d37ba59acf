// Package action is the mechanics every action shares: the small interfaces actions implement,
// the guard that turns panics into errors, names the object in every error and honours the plugin
// config's disabled list, the per-item contexts (source and destination facts, namespace mapping,
// image rewriter), and the registration table both plugin binaries serve.
package action

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// Env is what every action is built with. Facts, Config and Clients are process-wide and cached;
// Log is Velero's logger for this plugin.
type Env struct {
	Log     logrus.FieldLogger
	Facts   clusterfacts.Source
	Config  config.Source
	Clients *clients.Set
	// PullSecrets finds destination dockercfg secrets, shared so each answer is looked up once.
	PullSecrets *pullsecret.Finder
	// FactWarnings dedupes the per-item warnings about unknown facts across actions; nil warns
	// every time.
	FactWarnings *FactWarnings
}

// BackupAction is a backup item action without asynchronous operations.
type BackupAction interface {
	AppliesTo() (velero.ResourceSelector, error)
	Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error)
}

// RestoreAction is a restore item action (served as v1 unless it is a RestoreActionV2).
type RestoreAction interface {
	AppliesTo() (velero.ResourceSelector, error)
	Execute(input *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error)
}

// RestoreActionV2 is a restore action that returns additional items and waits for them.
type RestoreActionV2 interface {
	RestoreAction
	AreAdditionalItemsReady(items []velero.ResourceIdentifier, restore *velerov1.Restore) (bool, error)
}

// ItemBlockAction groups related items into one item block at backup.
type ItemBlockAction interface {
	AppliesTo() (velero.ResourceSelector, error)
	GetRelatedItems(item runtime.Unstructured, backup *velerov1.Backup) ([]velero.ResourceIdentifier, error)
}

// DeleteAction is a delete item action: Velero calls it for each matching item of a backup being
// deleted, with the item as stored in the backup.
type DeleteAction interface {
	AppliesTo() (velero.ResourceSelector, error)
	Execute(input *velero.DeleteItemActionExecuteInput) error
}

// Resources returns a selector for exactly the named (group-qualified) resources.
func Resources(resources ...string) velero.ResourceSelector {
	return velero.ResourceSelector{IncludedResources: resources}
}

// Object views Velero's item as unstructured, sharing its map so edits happen in place.
func Object(item runtime.Unstructured) (*unstructured.Unstructured, error) {
	if item == nil {
		return nil, fmt.Errorf("no item")
	}
	if u, ok := item.(*unstructured.Unstructured); ok {
		return u, nil
	}
	content := item.UnstructuredContent()
	if content == nil {
		return nil, fmt.Errorf("item has no content")
	}
	return &unstructured.Unstructured{Object: content}, nil
}

// Describe names an object for messages: "kind ns/name".
func Describe(obj *unstructured.Unstructured) string {
	if obj == nil {
		return "<nil item>"
	}
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	if k := obj.GetKind(); k != "" {
		return k + " " + name
	}
	return name
}

// describeItem names an item safely even when its metadata has the wrong types.
func describeItem(item runtime.Unstructured) (desc string) {
	defer func() {
		if recover() != nil {
			desc = "<malformed item>"
		}
	}()
	if item == nil {
		return "<nil item>"
	}
	return Describe(&unstructured.Unstructured{Object: item.UnstructuredContent()})
}

// background is the context of calls made on Velero's behalf; Velero's interfaces carry none.
func background() context.Context { return context.Background() }

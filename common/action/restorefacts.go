package action

import (
	"context"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
)

// WithRestoreFacts makes the restore action of r also write, on every item it restores, the
// informational annotations users see on restored objects: the destination's Kubernetes and
// OpenShift versions and registry host (keys.RestoreServerVersion, RestoreOpenShiftVersion,
// RestoreRegistryHostname); on an item the backup recorded no source registry on, the source
// registry the restore rewrote from (keys.BackupRegistryHostname); and where no source version is
// recorded, the source's Kubernetes version as Velero recorded it on the Backup
// (keys.BackupServerVersion). Earlier versions wrote
// them with a restore action of their own, one more gRPC call per pod, workload and image item;
// the action that already handles the item writes them in the same call. An item the action
// skips gets nothing.
func WithRestoreFacts(r Registration) Registration {
	build := r.New
	r.New = func(env Env) (any, error) {
		a, err := build(env)
		if err != nil {
			return nil, err
		}
		ra, ok := a.(RestoreAction)
		if !ok {
			return a, nil // Wrap reports the wrong kind
		}
		s := &stampFacts{RestoreAction: ra, env: env}
		if v2, ok := a.(RestoreActionV2); ok {
			return &stampFactsV2{stampFacts: s, v2: v2}, nil
		}
		return s, nil
	}
	return r
}

// sourceVersions remembers, per restore, the source Kubernetes version Velero recorded on the
// Backup: one read per restore, shared by every action of the process.
var sourceVersions opcache.Cache[string]

// BackupReadTimeout bounds the one read of the Backup per restore.
const BackupReadTimeout = 5 * time.Second

var backupsGVR = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backups"}

type stampFacts struct {
	RestoreAction
	env Env
}

type stampFactsV2 struct {
	*stampFacts
	v2 RestoreActionV2
}

func (s *stampFactsV2) AreAdditionalItemsReady(items []velero.ResourceIdentifier, restore *velerov1.Restore) (bool, error) {
	return s.v2.AreAdditionalItemsReady(items, restore)
}

// Execute runs the action, then annotates the item it restores.
func (s *stampFacts) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	out, err := s.RestoreAction.Execute(in)
	if err != nil || out == nil || out.SkipRestore || out.UpdatedItem == nil {
		return out, err
	}
	ri, err := s.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	obj, err := Object(out.UpdatedItem)
	if err != nil {
		return nil, err
	}
	a, err := fields.Metadata(obj.Object, "annotations", true)
	if err != nil {
		return nil, err
	}
	setOrDelete(a, keys.RestoreServerVersion, ri.Destination.KubeVersion)
	setOrDelete(a, keys.RestoreOpenShiftVersion, ri.Destination.OpenShiftVersion)
	a[keys.RestoreRegistryHostname] = ri.Destination.RegistryHostname
	if ri.SourceAssumed {
		a[keys.BackupRegistryHostname] = ri.Source.RegistryHostname
	}
	if _, recorded := a[keys.BackupServerVersion]; !recorded {
		if v := s.sourceVersion(ri); v != "" {
			a[keys.BackupServerVersion] = v
		}
	}
	return out, nil
}

// sourceVersion is the source's Kubernetes "major.minor" Velero recorded on the restore's Backup
// (velero.io/source-cluster-k8s-*-version), "" when the Backup cannot be read (logged; the
// annotation is informational, so the item is restored all the same and the next item reads
// again) or records none.
func (s *stampFacts) sourceVersion(ri *RestoreItem) string {
	if s.env.Clients == nil || ri.Restore == nil {
		return ""
	}
	v, err := sourceVersions.Get(opcache.Op(ri.Restore), ri.Restore.Spec.BackupName, func() (string, error) {
		d, err := s.env.Clients.Dynamic()
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(background(), BackupReadTimeout)
		defer cancel()
		b, err := d.Resource(backupsGVR).Namespace(ri.Restore.Namespace).Get(ctx, ri.Restore.Spec.BackupName, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		a := b.GetAnnotations()
		return clusterfacts.KubeMajorMinor(a[velerov1.SourceClusterK8sMajorVersionAnnotation], a[velerov1.SourceClusterK8sMinorVersionAnnotation],
			a[velerov1.SourceClusterK8sGitVersionAnnotation]), nil
	})
	if err != nil {
		if ri.warnings.first("backup read " + opcache.Op(ri.Restore)) {
			ri.Log.WithError(err).Warnf("reading backup %s for its source Kubernetes version (read again for the next item): restored items are not annotated %s meanwhile",
				ri.Restore.Spec.BackupName, keys.BackupServerVersion)
		}
		return ""
	}
	return v
}

// setOrDelete sets a[key] to a non-empty value and removes key for an empty one: an item restored
// from another cluster's backup carries that cluster's facts, which must not pass for this one's.
func setOrDelete(a fields.StringMap, key, value string) {
	if value == "" {
		delete(a, key)
		return
	}
	a[key] = value
}

package actiontest

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/restorehooks"
)

// PodVolumeBackup is a PodVolumeBackup of Backup() (the backup Restore() restores) for one volume
// of pod podNS/pod, shaped as Velero writes it (labels, pod reference, tags) and completed with
// snapshot (empty: nothing was stored, as for an empty volume).
func PodVolumeBackup(podNS, pod, volume, snapshot string) *unstructured.Unstructured {
	b := Backup()
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
		"metadata": map[string]any{"namespace": VeleroNamespace, "name": b.Name + "-" + pod + "-" + volume,
			"labels": map[string]any{keys.VeleroBackupNameLabel: b.Name, "velero.io/backup-uid": string(b.UID)}},
		"spec": map[string]any{
			"pod":    map[string]any{"kind": "Pod", "namespace": podNS, "name": pod, "uid": pod + "-uid"},
			"volume": volume,
			"tags":   map[string]any{"backup": b.Name, "pod": pod, "ns": podNS, "volume": volume},
		},
		"status": map[string]any{"phase": "Completed", "snapshotID": snapshot},
	}}
}

// PodVolumeBackups is a dynamic client serving the given PodVolumeBackups (and listing them as
// Velero's CRD does).
func PodVolumeBackups(pvbs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{restorehooks.PodVolumeBackups: "PodVolumeBackupList"}, pvbs...)
}

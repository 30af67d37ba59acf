//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/label"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Keys the DeploymentConfig and pod restores write (OADP's post-restore cleanup selects on them).
const (
	annOriginalReplicas = "oadp.openshift.io/original-replicas"
	annOriginalPaused   = "oadp.openshift.io/original-paused"
	lblReplicasModified = "oadp.openshift.io/replicas-modified"
	lblDisconnected     = "oadp.openshift.io/disconnected-from-dc"
	actDCBackup         = "openshift.io/03-deploymentconfig-backup"
)

var podVolumeBackupsGVR = velerov1.SchemeGroupVersion.WithResource("podvolumebackups")

// dcWithVolume is what createDCWithVolume made on A.
type dcWithVolume struct {
	Name, Pod string
	PodUID    types.UID
	PVCUID    types.UID
}

// createDCWithVolume creates on c what OpenShift leaves behind for DeploymentConfig name at its
// first version with 2 replicas: the DC (status.latestVersion 1), its ReplicationController
// <name>-1 and one of its pods, which mounts PVC <name>-data as volume "data". podAnnotations go
// on the pod only (as `oc annotate pod` puts them).
func createDCWithVolume(ctx context.Context, t *testing.T, c *Cluster, ns, name, podSuffix string, podAnnotations map[string]string) dcWithVolume {
	t.Helper()
	core := c.Kube.CoreV1()
	claim := name + "-data"
	pvc, err := core.PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	image := fmt.Sprintf("%s/%s/%s:latest", c.Registry, ns, name)
	labels := map[string]any{"app": name, "deploymentconfig": name}
	volumes := []any{map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": claim}}}
	dc := createU(ctx, t, c, deploymentConfigsGVR, ns, map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": int64(2), "selector": labels,
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": name, "image": image,
					"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/data"}}}}, "volumes": volumes}},
			"triggers": []any{map[string]any{"type": "ConfigChange"}},
		},
	})
	dc.Object["status"] = map[string]any{"latestVersion": int64(1), "replicas": int64(2)}
	if _, err := c.Dynamic.Resource(deploymentConfigsGVR).Namespace(ns).UpdateStatus(ctx, dc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("%s: DC %s status: %v", c, name, err)
	}
	rcName := name + "-1"
	podLabels := map[string]string{"app": name, "deploymentconfig": name, "deployment": rcName}
	podSpec := corev1.PodSpec{
		Containers: []corev1.Container{{Name: name, Image: image, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
	}
	rc, err := core.ReplicationControllers(ns).Create(ctx, &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: rcName, Labels: map[string]string{"openshift.io/deployment-config.name": name},
			Annotations:     map[string]string{"openshift.io/deployment-config.name": name, "openshift.io/deployment.phase": "Complete"},
			OwnerReferences: ownerRef("apps.openshift.io/v1", "DeploymentConfig", name, dc.GetUID())},
		Spec: corev1.ReplicationControllerSpec{Selector: podLabels,
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: podSpec}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	annotations := map[string]string{"openshift.io/deployment-config.name": name, "openshift.io/deployment.name": rcName}
	for k, v := range podAnnotations {
		annotations[k] = v
	}
	pod, err := core.Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: rcName + "-" + podSuffix, Labels: podLabels, Annotations: annotations,
			OwnerReferences: ownerRef("v1", "ReplicationController", rcName, rc.UID)},
		Spec: podSpec,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return dcWithVolume{Name: name, Pod: pod.Name, PodUID: pod.UID, PVCUID: pvc.UID}
}

// createPodVolumeBackup creates on c the PodVolumeBackup of volume "data" of w's pod that a
// file-system backup of the pod would have written for backup (as c's Velero knows it), as
// Velero's backup sync puts it on the restoring cluster: Velero's labels (the backup's name as a
// valid label value, its UID, the PVC's UID), the PVC name annotation, owned by the Backup, and
// completed with a snapshot. The stack has no node agent to write one.
func createPodVolumeBackup(ctx context.Context, t *testing.T, c *Cluster, backup, sourceNS string, w dcWithVolume) {
	t.Helper()
	res := c.Dynamic.Resource(backupsGVR).Namespace(veleroNamespace)
	u, err := res.Get(ctx, backup, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: backup %s: %v", c, backup, err)
	}
	var b velerov1.Backup
	fromUnstructured(t, u, &b)
	now := metav1.Now()
	yes := true
	pvb := &velerov1.PodVolumeBackup{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: veleroNamespace, Name: fmt.Sprintf("%s-%s", b.Name, w.Pod[len(w.Pod)-5:]),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: velerov1.SchemeGroupVersion.String(), Kind: "Backup",
				Name: b.Name, UID: b.UID, Controller: &yes}},
			Labels: map[string]string{
				velerov1.BackupNameLabel: label.GetValidName(b.Name),
				velerov1.BackupUIDLabel:  string(b.UID),
				velerov1.PVCUIDLabel:     string(w.PVCUID),
			},
			Annotations: map[string]string{"velero.io/pvc-name": w.Name + "-data"},
		},
		Spec: velerov1.PodVolumeBackupSpec{
			Node:   "node-a-1",
			Pod:    corev1.ObjectReference{Kind: "Pod", Namespace: sourceNS, Name: w.Pod, UID: w.PodUID},
			Volume: "data",
			Tags: map[string]string{"backup": b.Name, "backup-uid": string(b.UID), "pod": w.Pod, "pod-uid": string(w.PodUID),
				"ns": sourceNS, "volume": "data", "pvc-uid": string(w.PVCUID)},
			BackupStorageLocation: b.Spec.StorageLocation,
			UploaderType:          "kopia",
		},
		Status: velerov1.PodVolumeBackupStatus{
			Phase:      velerov1.PodVolumeBackupPhaseCompleted,
			Path:       fmt.Sprintf("/host_pods/%s/volumes/kubernetes.io~csi/pvc-%s/mount", w.PodUID, w.PVCUID),
			SnapshotID: "5f0e3b9ac4d1e2f3a4b5c6d7e8f90a1b", StartTimestamp: &now, CompletionTimestamp: &now,
		},
	}
	if _, err := c.Dynamic.Resource(podVolumeBackupsGVR).Namespace(veleroNamespace).Create(ctx, toUnstructured(t, pvb, "PodVolumeBackup"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: creating PodVolumeBackup %s: %v", c, pvb.Name, err)
	}
}

// A DeploymentConfig whose pod had its volume backed up by file-system backup (a PodVolumeBackup
// of the backup): the pod is restored by itself and detached from the DC, and the DC is restored
// at 0 replicas so it does not start a second pod on the same volume. A DC whose pod merely
// opted its volume into file-system backup, with no PodVolumeBackup, is restored as it was and
// its pod left to it. The backup is taken on A and restored on B under a namespace mapping.
func TestDeploymentConfigWithPodVolumeBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a, b := newCluster(t, env, "a"), newCluster(t, env, "b")
	_, pluginsA := RegisteredPlugins(ctx, t, a)
	_, pluginsB := RegisteredPlugins(ctx, t, b)
	for _, p := range []struct {
		plugins map[string]bool
		name    string
	}{{pluginsA, actDCBackup}, {pluginsB, actPodRestore}, {pluginsB, actDCRestore}} {
		if !p.plugins[p.name] {
			veleroFailure(t, b, "the plugin does not register %s", p.name)
		}
	}

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	ns := "e2e-pvb-" + suffix
	target := ns + "-mapped"
	if _, err := a.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// db: its pod's volume has a PodVolumeBackup. cache: its pod opted the volume in with
	// Velero's annotation (evidence the live pod gives at backup), but has none.
	db := createDCWithVolume(ctx, t, a, ns, "db", "x7k2p", nil)
	cache := createDCWithVolume(ctx, t, a, ns, "cache", "q8zrt", map[string]string{"backup.velero.io/backup-volumes": "data"})

	// Velero warns about the pods and claims (the pod not scheduled, so its opted-in volume is
	// skipped; no PV bound): this stack runs no scheduler or provisioner.
	backup := RunBackup(ctx, t, a, "e2e-pvb-"+suffix, ns)
	if backup.Status.Phase != velerov1.BackupPhaseCompleted || backup.Status.Errors != 0 {
		veleroFailure(t, a, "backup %s: phase %s, %d errors, %d warnings", backup.Name, backup.Status.Phase, backup.Status.Errors, backup.Status.Warnings)
	}
	t.Logf("backup %s on A: %s, %d warnings", backup.Name, backup.Status.Phase, backup.Status.Warnings)
	WaitBackupSynced(ctx, t, b, backup.Name)
	createPodVolumeBackup(ctx, t, b, backup.Name, ns, db)
	prepareDestination(ctx, t, b, target)
	restore := RunRestore(ctx, t, b, backup.Name+"-restore", backup.Name, map[string]string{ns: target})
	t.Logf("restore %s on B: %s (%d warnings, %d errors)", restore.Name, restore.Status.Phase, restore.Status.Warnings, restore.Status.Errors)

	t.Run("Velero restores the pod volume: the one error is the node agent this stack does not run", func(t *testing.T) {
		res := openBucket(ctx, t, env, b).restoreResults(ctx, t, restore.Name)
		errs := res.Errors.all()
		if restore.Status.Errors != 1 || len(errs) != 1 || !strings.Contains(errs[0], "node agent") || restore.Status.Warnings != 0 {
			t.Fatalf("restore %s: phase %s, %d errors %q, %d warnings %q; want only the pod volume restore's node-agent error",
				restore.Name, restore.Status.Phase, restore.Status.Errors, errs, restore.Status.Warnings, res.Warnings.all())
		}
		t.Logf("restore %s: %s", restore.Name, errs[0])
	})
	t.Run("DC with a pod volume backup restored at 0 replicas", func(t *testing.T) {
		dc := getU(ctx, t, b, deploymentConfigsGVR, target, db.Name)
		replicas, _, _ := unstructured.NestedInt64(dc.Object, "spec", "replicas")
		paused, _, _ := unstructured.NestedBool(dc.Object, "spec", "paused")
		if replicas != 0 || paused {
			t.Errorf("DC %s: replicas %d paused %v, want 0 false", db.Name, replicas, paused)
		}
		a := dc.GetAnnotations()
		expect(t, "DC "+annOriginalReplicas, a[annOriginalReplicas], "2")
		expect(t, "DC "+annOriginalPaused, a[annOriginalPaused], "false")
		expect(t, "DC label "+lblReplicasModified, dc.GetLabels()[lblReplicasModified], restore.Name)
		for k := range a {
			if strings.HasPrefix(k, "openshift.io/dc-pod") {
				t.Errorf("DC %s keeps the backup's record %s", db.Name, k)
			}
		}
	})
	t.Run("its pod restored, detached from the DC", func(t *testing.T) {
		pod := getPod(ctx, t, b, target, db.Pod)
		if len(pod.OwnerReferences) != 0 {
			t.Errorf("pod %s owner references %v, want none", db.Pod, pod.OwnerReferences)
		}
		if _, ok := pod.Labels["deploymentconfig"]; ok {
			t.Errorf("pod %s keeps label deploymentconfig: %v", db.Pod, pod.Labels)
		}
		if _, ok := pod.Labels["deployment"]; ok {
			t.Errorf("pod %s keeps label deployment: %v", db.Pod, pod.Labels)
		}
		expect(t, "pod label "+lblDisconnected, pod.Labels[lblDisconnected], restore.Name)
		expect(t, "pod label app", pod.Labels["app"], db.Name)
		expect(t, "pod volume data claim", pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName, db.Name+"-data")
	})
	t.Run("its ReplicationController absent", func(t *testing.T) {
		absentIn(ctx, t, b, rcGVR, target, db.Name+"-1")
	})
	t.Run("DC whose pod only opted its volume in restored as it was, pod left to it", func(t *testing.T) {
		dc := getU(ctx, t, b, deploymentConfigsGVR, target, cache.Name)
		replicas, _, _ := unstructured.NestedInt64(dc.Object, "spec", "replicas")
		if replicas != 2 || dc.GetAnnotations()[annOriginalReplicas] != "" || dc.GetLabels()[lblReplicasModified] != "" {
			t.Errorf("DC %s: replicas %d, annotations %v, labels %v; want it untouched at 2", cache.Name, replicas, dc.GetAnnotations(), dc.GetLabels())
		}
		absentIn(ctx, t, b, podsGVR, target, cache.Pod)
	})
}

// absentIn asserts that the named object does not exist on c.
func absentIn(ctx context.Context, t *testing.T, c *Cluster, res schema.GroupVersionResource, ns, name string) {
	t.Helper()
	s := &scenario{B: c, TargetNS: ns}
	s.absent(ctx, t, res, name)
}

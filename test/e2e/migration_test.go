//go:build e2e

package e2e

// The migration suite (SPEC §6) on the real stack, both Velero servers running
// openshift-migration-plugin (hack/e2e.sh restarts them with it; the general suite runs against
// openshift-velero-plugin). The test plays MTC's mig-controller: a stage migration then a final
// migration with quiesce of one namespace from A to B, each Backup and Restore labelled and
// annotated as the controller does, the images going through the migration registry (reached by
// A and B under different addresses; A's side is stopped before the restores, so a restore that
// used the backup's address fails).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migratedby"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/namespace"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/quiesce"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/stagepod"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/volume"
)

// migrationActions are the migration actions the suite's checks depend on (README's action
// table): a server that does not list every one of them fails the suite (it is not running the
// migration binary, or the binary lost an action). The imagestream package's names are spelled
// here: importing it would link containers/image, which needs the containers_image_openpgp tag
// that `go test -tags e2e` does not set.
var migrationActions = []string{
	quiesce.BackupName, quiesce.RestoreName,
	volume.PVBackupName, volume.PVRestoreName, volume.PVCRestoreName,
	migration.Name("04-imagestream-backup"), migration.Name("04-imagestream-restore"),
	stagepod.RestoreName, namespace.RestoreName, migratedby.RestoreName, migratedby.BackupName,
}

// requireMigrationPlugin fails the test unless both Velero servers serve the migration binary:
// the general actions and the migration actions the checks depend on.
func requireMigrationPlugin(ctx context.Context, t *testing.T, env Env, clusters ...*Cluster) {
	t.Helper()
	for _, c := range clusters {
		version, plugins := RegisteredPlugins(ctx, t, c)
		if !strings.HasPrefix(version, "v"+env.Get(t, "VELERO_VERSION")) {
			t.Errorf("Velero on %s reports %s, want v%s.x", c, version, env.Get(t, "VELERO_VERSION"))
		}
		var served []string
		for name := range plugins {
			if strings.HasPrefix(name, migration.NamePrefix) {
				served = append(served, name)
			}
		}
		if len(served) == 0 || !plugins[actSABackup] || !plugins[actWorkloadRestore] {
			veleroFailure(t, c, "Velero %s does not serve the migration binary (%d migration.openshift.io/ actions; general %s: %v): "+
				"the migration suite needs both servers restarted with it (hack/stack.sh velero-restart %s migration, as hack/e2e.sh does)",
				version, len(served), actSABackup, plugins[actSABackup], c.Name)
		}
		for _, req := range migrationActions {
			if !plugins[req] {
				t.Errorf("%s: Velero %s does not list %s (it lists %v)", c, version, req, served)
			}
		}
		// The migration pod restore replaces the general one (SPEC §6).
		if plugins[actPodRestore] {
			t.Errorf("%s: the migration binary also serves the general %s, which %s replaces", c, actPodRestore, stagepod.RestoreName)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func TestMigrationStageThenFinal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a, b := newCluster(t, env, "a"), newCluster(t, env, "b")
	start := time.Now()
	step := func(what string) { t.Logf("%-36s %6.1fs", what, time.Since(start).Seconds()); start = time.Now() }
	requireMigrationPlugin(ctx, t, env, a, b)
	step("migration plugin listed on A and B")

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	ns := "e2e-mig-" + suffix
	plan := &migrationPlan{UID: string(uuid.NewUUID()), RegistryA: env.Get(t, "MIGRATION_REGISTRY_A"), RegistryB: env.Get(t, "MIGRATION_REGISTRY_B")}
	plan.StageLabelValue = plan.UID
	t.Logf("Velero %s; namespace %s; migration registry: %s from A, %s from B (one storage)", env.Get(t, "VELERO_VERSION"), ns, plan.RegistryA, plan.RegistryB)
	// A's registry host is not one of OpenShift's own: B is told, as for a backup and restore.
	nameSourceRegistry(ctx, t, b, a.Registry)
	smp := createMigrationSample(ctx, t, a, ns, suffix, plan)
	step("sample created on A, images pushed")
	report := &migrationReport{title: fmt.Sprintf("Migration of namespace %s from cluster A to B: a stage migration, then a final migration with quiesce\n"+
		"(Velero %s on both, openshift-migration-plugin; migration registry %s as A reaches it, %s as B does)",
		ns, env.Get(t, "VELERO_VERSION"), plan.RegistryA, plan.RegistryB)}
	defer report.write(t, env, ns)
	stageMig := migrationRun{UID: string(uuid.NewUUID()), Type: migration.TypeStage}
	finalMig := migrationRun{UID: string(uuid.NewUUID()), Type: migration.TypeFinal}
	stagePodsOnA := migration.StagePodLabel + "=true"

	// A stage migration: stage pod, stage backup, stage pod removed.
	createStagePod(ctx, t, a, smp)
	pvRows, restoreRows := stageBackupRows(smp), stageRestoreRows(smp)
	pvBefore := capture(ctx, a, ns, pvRows)
	stageBackup := plan.migrationBackup(ctx, t, a, ns+"-stage-backup", stageMig, migration.PhaseStageBackup, false, ns)
	report.add("1. stage backup on A", pvRows, pvBefore, capture(ctx, a, ns, pvRows))
	onA := capture(ctx, a, ns, restoreRows)
	deletePods(ctx, t, a, ns, stagePodsOnA)
	t.Run("stage backup: the moved PV is Retain on A, its policy recorded", func(t *testing.T) { checkMovedPVOnA(ctx, t, a, smp) })

	// The final migration: the initial backup quiesces, then a stage pod and the stage backup.
	before := map[string]*unstructured.Unstructured{}
	for _, w := range smp.Workloads {
		before[w.Name+"/"+w.Res.Resource] = getU(ctx, t, a, w.Res, ns, w.Name)
	}
	quiesceRows, workloads := workloadRows(smp, true), workloadRows(smp, false)
	beforeQuiesce := capture(ctx, a, ns, quiesceRows)
	initialBackup := plan.migrationBackup(ctx, t, a, ns+"-initial-backup", finalMig, migration.PhaseInitialBackup, true, ns)
	quiesced := capture(ctx, a, ns, quiesceRows)
	report.add("3. initial backup with quiesce on A", quiesceRows, beforeQuiesce, quiesced)
	t.Run("initial backup with quiesce: A's workloads stopped, previous values recorded", func(t *testing.T) {
		checkQuiescedOnA(ctx, t, a, smp, before)
	})
	createStagePod(ctx, t, a, smp)
	finalStageBackup := plan.migrationBackup(ctx, t, a, ns+"-final-stage-backup", finalMig, migration.PhaseStageBackup, false, ns)
	deletePods(ctx, t, a, ns, stagePodsOnA)
	step("3 backups on A")

	// From here on the migration registry is reachable only under B's address.
	if out, err := stack(ctx, t, env, "stop-component", "migration-registry-a"); err != nil {
		t.Fatalf("stopping the migration registry's A side: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := stack(context.Background(), t, env, "start-component", "migration-registry-a"); err != nil {
			t.Errorf("starting the migration registry's A side again: %v\n%s", err, out)
		}
	})
	for _, bk := range []*velerov1.Backup{stageBackup, initialBackup, finalStageBackup} {
		WaitBackupSynced(ctx, t, b, bk.Name)
	}
	step("backups synced to B")
	bk := openBucket(ctx, t, env, b)
	imgs := &scenario{A: a, B: b, SourceNS: ns, TargetNS: ns, Sample: &sample{Images: smp.Images}, Backup: stageBackup}

	// The stage migration's stage restore.
	r1 := plan.migrationRestore(ctx, t, b, ns+"-stage-restore", stageBackup.Name, stageMig, migration.PhaseStageRestore)
	step("stage restore on B")
	report.add("2. stage restore on B (A -> B)", restoreRows, onA, capture(ctx, b, ns, restoreRows))
	t.Run("stage restore of the stage migration", func(t *testing.T) {
		if r1.Status.Warnings != 0 {
			t.Errorf("restore %s: %d warnings, want none: %v", r1.Name, r1.Status.Warnings, bk.restoreResults(ctx, t, r1.Name).Warnings.all())
		}
		t.Run("stage pods: stage image sleeping, only their PVC volumes, no init containers, no node pinning", func(t *testing.T) { checkStagePods(ctx, t, b, smp) })
		t.Run("copied PVC: target storage class and access mode, no selected node", func(t *testing.T) { checkCopiedPVC(ctx, t, b, smp) })
		t.Run("snapshot-copied PVC and its PV absent", func(t *testing.T) {
			if _, err := b.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, migPVCSnap, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("PVC %s/%s (copy by snapshot) on B after a stage migration's stage restore: %v, want it absent", ns, migPVCSnap, err)
			}
			checkAbsentPVs(ctx, t, b, smp.PVSnap, smp.PVCopy)
		})
		t.Run("moved PV restored as is: same NFS export, Retain; its PVC bound to it", func(t *testing.T) { checkMovedOnB(ctx, t, a, b, smp) })
		t.Run("namespace: A's SCC ranges kept", func(t *testing.T) { checkNamespace(ctx, t, a, b, ns) })
		t.Run("images: in the migration registry, then in B's registry with the same digests", func(t *testing.T) {
			checkImagesInMigrationRegistry(ctx, t, plan.RegistryB, ns, smp.Images)
			imgs.Restore = r1
			checkImagesInRegistry(ctx, t, imgs)
			checkImageStreamsWithImages(ctx, t, imgs)
		})
		t.Run("migrated-by labels of this restore on every restored item", func(t *testing.T) { checkMigratedBy(ctx, t, bk, b, r1, plan, stageMig, true) })
	})
	// The controller removes the stage pods once the data is copied.
	deletePods(ctx, t, b, ns, migration.IncludedInStageBackupLabel+"="+plan.StageLabelValue)

	// The final migration's stage restore: snapshot copies now.
	snapRows := finalStageRestoreRows()
	snapBefore := capture(ctx, b, ns, snapRows)
	r2 := plan.migrationRestore(ctx, t, b, ns+"-final-stage-restore", finalStageBackup.Name, finalMig, migration.PhaseStageRestore)
	step("final migration's stage restore on B")
	report.add("4. final migration's stage restore on B", snapRows, snapBefore, capture(ctx, b, ns, snapRows))
	t.Run("stage restore of the final migration", func(t *testing.T) {
		onlyExpectedWarnings(ctx, t, bk, r2)
		t.Run("snapshot-copied PVC restored: target class \"\", no selected node", func(t *testing.T) {
			pvc, err := b.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, migPVCSnap, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("PVC %s/%s (copy by snapshot) after the final migration's stage restore: %v", ns, migPVCSnap, err)
			}
			if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "" {
				t.Errorf("PVC %s storageClassName = %v, want \"\" (the target class, set even when empty)", migPVCSnap, strPtr(pvc.Spec.StorageClassName))
			}
			if v, ok := pvc.Annotations[annSelectedNode]; ok {
				t.Errorf("PVC %s keeps %s=%s", migPVCSnap, annSelectedNode, v)
			}
		})
		t.Run("stage pods again", func(t *testing.T) { checkStagePods(ctx, t, b, smp) })
		t.Run("migrated-by labels of this restore on every item it created", func(t *testing.T) { checkMigratedBy(ctx, t, bk, b, r2, plan, finalMig, false) })
	})

	// The final restore: the workloads of the initial backup.
	r3 := plan.migrationRestore(ctx, t, b, ns+"-final-restore", initialBackup.Name, finalMig, migration.PhaseFinalRestore)
	step("final restore on B")
	report.add("5. final restore on B (A before quiesce -> B)", workloads, beforeQuiesce[:len(workloads)], capture(ctx, b, ns, workloads))
	t.Run("final restore", func(t *testing.T) {
		onlyExpectedWarnings(ctx, t, bk, r3)
		t.Run("workloads with their values before the quiesce, no quiesce records", func(t *testing.T) { checkWorkloadsOnB(ctx, t, b, smp, before) })
		t.Run("migrated-by labels of this restore on every item it created", func(t *testing.T) { checkMigratedBy(ctx, t, bk, b, r3, plan, finalMig, false) })
		t.Run("pod and Deployment run the images B's registry holds", func(t *testing.T) {
			imgs.Restore = r3
			checkWorkloadsRunRestoredImages(ctx, t, imgs)
		})
	})

	t.Run("rollback: openshift-migration-plugin unquiesce brings A's workloads back exactly", func(t *testing.T) {
		bin := filepath.Join(env.Get(t, "PLUGIN_BIN_DIR"), "openshift-migration-plugin")
		for i := 1; i <= 2; i++ { // the second run finds nothing to undo and changes nothing
			out, err := exec.CommandContext(ctx, bin, "unquiesce", "--kubeconfig", a.Kubeconfig, "--namespace", ns).CombinedOutput()
			if err != nil {
				t.Fatalf("run %d: %s unquiesce --kubeconfig %s --namespace %s: %v\n%s", i, bin, a.Kubeconfig, ns, err, out)
			}
			t.Logf("unquiesce run %d:\n%s", i, strings.TrimSpace(string(out)))
			checkUnquiescedOnA(ctx, t, a, smp, before)
		}
	})
	report.add("6. rollback on A: openshift-migration-plugin unquiesce", quiesceRows, quiesced, capture(ctx, a, ns, quiesceRows))
	step("checks")
}

func strPtr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Quote(*p)
}

// checkAbsentPVs: the copied volumes' PVs are not restored (Velero provisions a Delete PV anew).
func checkAbsentPVs(ctx context.Context, t *testing.T, c *Cluster, names ...string) {
	t.Helper()
	for _, name := range names {
		_, err := c.Kube.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			t.Errorf("%s: PV %s exists, want it absent", c, name)
		} else if !apierrors.IsNotFound(err) {
			t.Errorf("%s: PV %s: %v", c, name, err)
		}
	}
}

// checkMovedPVOnA: the PV backup action set Retain on the live moved PV and recorded the policy it
// had; the copied PVs are not touched.
func checkMovedPVOnA(ctx context.Context, t *testing.T, a *Cluster, s *migrationSample) {
	pv, err := a.Kube.CoreV1().PersistentVolumes().Get(ctx, s.PVMove, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	expect(t, "A: moved PV "+s.PVMove+" reclaim policy", string(pv.Spec.PersistentVolumeReclaimPolicy), string(corev1.PersistentVolumeReclaimRetain))
	expect(t, "A: moved PV "+s.PVMove+" annotation "+migration.OrigReclaimPolicyAnnotation, pv.Annotations[migration.OrigReclaimPolicyAnnotation], string(corev1.PersistentVolumeReclaimDelete))
	for _, name := range []string{s.PVCopy, s.PVSnap} {
		pv, err := a.Kube.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		expect(t, "A: copied PV "+name+" reclaim policy", string(pv.Spec.PersistentVolumeReclaimPolicy), string(corev1.PersistentVolumeReclaimDelete))
		if v, ok := pv.Annotations[migration.OrigReclaimPolicyAnnotation]; ok {
			t.Errorf("A: copied PV %s has %s=%s", name, migration.OrigReclaimPolicyAnnotation, v)
		}
	}
}

// checkMovedOnB: the moved PV is restored as is (Velero does so only for Retain), pointing at the
// same NFS export; its PVC is bound to it and lost the source's selected node.
func checkMovedOnB(ctx context.Context, t *testing.T, a, b *Cluster, s *migrationSample) {
	pv, err := b.Kube.CoreV1().PersistentVolumes().Get(ctx, s.PVMove, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: moved PV %s not restored: %v", b, s.PVMove, err)
	}
	expect(t, "B: moved PV reclaim policy", string(pv.Spec.PersistentVolumeReclaimPolicy), string(corev1.PersistentVolumeReclaimRetain))
	if pv.Spec.NFS == nil {
		t.Fatalf("B: moved PV %s has no NFS source: %+v", s.PVMove, pv.Spec.PersistentVolumeSource)
	}
	expect(t, "B: moved PV nfs.server", pv.Spec.NFS.Server, migNFSServer)
	expect(t, "B: moved PV nfs.path", pv.Spec.NFS.Path, s.NFSPathMove)
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != s.NS || pv.Spec.ClaimRef.Name != migPVCMove {
		t.Errorf("B: moved PV claimRef = %+v, want %s/%s", pv.Spec.ClaimRef, s.NS, migPVCMove)
	}
	pvc, err := b.Kube.CoreV1().PersistentVolumeClaims(s.NS).Get(ctx, migPVCMove, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: moved PVC: %v", b, err)
	}
	expect(t, "B: moved PVC volumeName", pvc.Spec.VolumeName, s.PVMove)
	expect(t, "B: moved PVC storageClassName", strPtr(pvc.Spec.StorageClassName), strconv.Quote("nfs"))
	if v, ok := pvc.Annotations[annSelectedNode]; ok {
		t.Errorf("B: moved PVC keeps %s=%s", annSelectedNode, v)
	}
}

// checkCopiedPVC: the file-system copy's PVC asks for the target class and access mode, loses the
// source's selected node, and (its PV was Delete, so Velero does not restore it) binds anew.
func checkCopiedPVC(ctx context.Context, t *testing.T, b *Cluster, s *migrationSample) {
	pvc, err := b.Kube.CoreV1().PersistentVolumeClaims(s.NS).Get(ctx, migPVCCopy, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: copied PVC: %v", b, err)
	}
	expect(t, "B: copied PVC storageClassName", strPtr(pvc.Spec.StorageClassName), strconv.Quote(migTargetClass))
	expect(t, "B: copied PVC annotation "+annBetaStorageClass, pvc.Annotations[annBetaStorageClass], migTargetClass)
	if got := fmt.Sprint(pvc.Spec.AccessModes); got != fmt.Sprint([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}) {
		t.Errorf("B: copied PVC accessModes = %s, want [ReadWriteMany]", got)
	}
	if v, ok := pvc.Annotations[annSelectedNode]; ok {
		t.Errorf("B: copied PVC keeps %s=%s", annSelectedNode, v)
	}
	if pvc.Spec.Selector != nil {
		t.Errorf("B: copied PVC keeps selector %v", pvc.Spec.Selector)
	}
	expect(t, "B: copied PVC volumeName (its Delete PV is provisioned anew)", pvc.Spec.VolumeName, "")
}

// checkStagePods: the stage pod and the labelled application pod come back as stage pods.
func checkStagePods(ctx context.Context, t *testing.T, b *Cluster, s *migrationSample) {
	for _, want := range []struct {
		pod     string
		label   string
		volumes map[string]string   // volume -> claim
		mounts  map[string][]string // container -> mounted volumes
	}{
		{migStagePod, migration.StagePodLabel, map[string]string{"data": migPVCCopy, "moved": migPVCMove},
			map[string][]string{"app": {"data", "moved"}, "sidecar": {"data"}}},
		{migAppPod, migration.ApplicationPodLabel, map[string]string{"moved": migPVCMove},
			map[string][]string{"standalone": {"moved"}}},
	} {
		p := getPod(ctx, t, b, s.NS, want.pod)
		what := "B: stage pod " + want.pod
		expect(t, what+" label "+want.label, p.Labels[want.label], "true")
		expect(t, what+" label "+migration.IncludedInStageBackupLabel, p.Labels[migration.IncludedInStageBackupLabel], s.StageLabel[migration.IncludedInStageBackupLabel])
		if len(p.Spec.InitContainers) != 0 {
			t.Errorf("%s: init containers %v, want none", what, p.Spec.InitContainers)
		}
		vols := map[string]string{}
		for _, v := range p.Spec.Volumes {
			claim := "(not a PVC)"
			if v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
			vols[v.Name] = claim
		}
		if !reflect.DeepEqual(vols, want.volumes) {
			t.Errorf("%s: volumes %v, want %v", what, vols, want.volumes)
		}
		mounts := map[string][]string{}
		for _, c := range p.Spec.Containers {
			expect(t, what+" container "+c.Name+" image", c.Image, migStageImage)
			expect(t, what+" container "+c.Name+" command", strings.Join(append(append([]string{}, c.Command...), c.Args...), " "), "sleep infinity")
			for _, m := range c.VolumeMounts {
				mounts[c.Name] = append(mounts[c.Name], m.Name)
			}
		}
		if !reflect.DeepEqual(mounts, want.mounts) {
			t.Errorf("%s: mounts %v, want %v", what, mounts, want.mounts)
		}
		if p.Spec.NodeName != "" || len(p.Spec.NodeSelector) != 0 || p.Spec.Affinity != nil {
			t.Errorf("%s: node pinning kept: nodeName %q, nodeSelector %v, affinity %v", what, p.Spec.NodeName, p.Spec.NodeSelector, p.Spec.Affinity)
		}
	}
}

// checkNamespace: Velero creates the namespace itself from the backup's copy (it runs no restore
// item action on namespaces, v1.14.1 and v1.18.3 alike), so A's SCC ranges are kept.
func checkNamespace(ctx context.Context, t *testing.T, a, b *Cluster, ns string) {
	nb, err := b.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	na, err := a.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	for _, k := range []string{annSCCUIDRange, annSCCMCS, annSCCSupplemental} {
		expect(t, "B: namespace annotation "+k, nb.Annotations[k], na.Annotations[k])
	}
	t.Logf("B: namespace %s labels %v", ns, nb.Labels)
}

// checkImagesInMigrationRegistry: every image of the streams is in the migration registry (read
// through B's address) under <namespace>/<stream>, by digest.
func checkImagesInMigrationRegistry(ctx context.Context, t *testing.T, registry, ns string, im *imageSample) {
	client := &http.Client{Timeout: 30 * time.Second}
	for _, is := range im.streams() {
		for _, img := range im.images[is] {
			url := fmt.Sprintf("http://%s/v2/%s/%s/manifests/%s", registry, ns, is, img.Digest)
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", img.MediaType)
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("migration registry: %v", err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("migration registry %s: HEAD %s: %s, want the image the backup copied there", registry, url, resp.Status)
				continue
			}
			expect(t, "migration registry "+ns+"/"+is+"@"+img.Digest.String()+" digest", resp.Header.Get("Docker-Content-Digest"), img.Digest.String())
		}
	}
}

// checkMigratedBy: every item the restore created (or updated), cluster-scoped ones included,
// carries the Restore's migrated-by labels. That includes a namespace the restore created: Velero
// creates it from the backup's copy (no restore item action runs on it), which
// migration.openshift.io/07-migrated-by-backup labelled with the Backup's (same) values.
func checkMigratedBy(ctx context.Context, t *testing.T, bk *bucket, b *Cluster, r *velerov1.Restore, plan *migrationPlan, m migrationRun, wantClusterScoped bool) {
	items := bk.restoredItems(ctx, t, r.Name)
	resourceOf := restMapper(t, b)
	want := map[string]string{migration.MigratedByMigrationLabel: m.UID, migration.MigratedByPlanLabel: plan.UID}
	var checked, clusterScoped []string
	for _, it := range items {
		if it.Action != "created" && it.Action != "updated" {
			continue
		}
		u := getU(ctx, t, b, resourceOf(it.GVK), it.Namespace, it.Name)
		for k, v := range want {
			if got := u.GetLabels()[k]; got != v {
				t.Errorf("B: %s: label %s = %q, want %q (restore %s)", it, k, got, v, r.Name)
			}
		}
		checked = append(checked, it.String())
		if it.Namespace == "" {
			clusterScoped = append(clusterScoped, it.String())
		}
	}
	sort.Strings(checked)
	t.Logf("restore %s: %d items created or updated: %s", r.Name, len(checked), strings.Join(checked, ", "))
	if len(checked) == 0 {
		t.Errorf("restore %s created nothing", r.Name)
	}
	if wantClusterScoped && len(clusterScoped) == 0 {
		t.Errorf("restore %s created no cluster-scoped item (the moved PV)", r.Name)
	}
}

// nestedValue reads the value at path of u (nil when absent), numbers as int64.
func nestedValue(u *unstructured.Unstructured, path []string) any {
	v, found, err := unstructured.NestedFieldCopy(u.Object, path...)
	if err != nil || !found {
		return nil
	}
	return v
}

// quiesceRecords returns the quiesce records on u: the preQuiesce* annotations.
func quiesceRecords(u *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for k, v := range u.GetAnnotations() {
		if strings.HasPrefix(k, migQuiesceRecordsKey) {
			out[k] = v
		}
	}
	return out
}

// sameRecords compares quiesce records, the node selector one as JSON.
func sameRecords(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return false
		}
		if k == migration.PreQuiesceNodeSelectorAnnotation {
			var gm, wm map[string]string
			if json.Unmarshal([]byte(g), &gm) != nil || json.Unmarshal([]byte(w), &wm) != nil || !reflect.DeepEqual(gm, wm) {
				return false
			}
			continue
		}
		if g != w {
			return false
		}
	}
	return true
}

// pausable kinds carry spec.paused, which the quiesce clears (a paused rollout would not scale).
func pausable(w quiesceCase) bool { return w.Res == deploymentsGVR || w.Res == deploymentConfigsGVR }

// checkQuiescedOnA: each workload stopped on the live source with its previous values recorded
// with the controller's keys; one already stopped, and a ReplicaSet a Deployment owns, untouched.
func checkQuiescedOnA(ctx context.Context, t *testing.T, a *Cluster, s *migrationSample, before map[string]*unstructured.Unstructured) {
	for _, w := range s.Workloads {
		u := getU(ctx, t, a, w.Res, s.NS, w.Name)
		orig := before[w.Name+"/"+w.Res.Resource]
		what := fmt.Sprintf("A: %s %s %s", w.What, w.Name, strings.Join(w.Field, "."))
		got, records := nestedValue(u, w.Field), quiesceRecords(u)
		if w.Stopped == nil {
			if !reflect.DeepEqual(u.Object["spec"], orig.Object["spec"]) {
				t.Errorf("%s: spec changed by the quiesce: %v, was %v", what, u.Object["spec"], orig.Object["spec"])
			}
			if len(records) != 0 {
				t.Errorf("%s: left alone, but records %v", what, records)
			}
			continue
		}
		if !reflect.DeepEqual(got, w.Stopped) {
			t.Errorf("%s = %v, want %v after the quiesce", what, got, w.Stopped)
		}
		want := w.Records
		if pausable(w) {
			if p, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); p {
				t.Errorf("A: %s %s: still paused after the quiesce", w.What, w.Name)
			}
			if _, ok := records[migration.PreQuiescePausedAnnotation]; ok && want[migration.PreQuiescePausedAnnotation] == "" {
				// Recording "false" for a workload that was not paused is the controller's habit: allowed.
				want = withEntries(want, migration.PreQuiescePausedAnnotation, strconv.FormatBool(w.Paused))
			}
		}
		if !sameRecords(records, want) {
			t.Errorf("A: %s %s: quiesce records %v, want %v", w.What, w.Name, records, want)
		}
	}
}

// checkWorkloadsOnB: the final restore brings the workloads with the values they had before the
// quiesce (the backed-up items keep them) and without quiesce records or the quiesce selector.
func checkWorkloadsOnB(ctx context.Context, t *testing.T, b *Cluster, s *migrationSample, before map[string]*unstructured.Unstructured) {
	for _, w := range s.Workloads {
		u := getU(ctx, t, b, w.Res, s.NS, w.Name)
		orig := before[w.Name+"/"+w.Res.Resource]
		what := fmt.Sprintf("B: %s %s %s", w.What, w.Name, strings.Join(w.Field, "."))
		if got, want := nestedValue(u, w.Field), nestedValue(orig, w.Field); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v (its value before the quiesce)", what, got, want)
		}
		if pausable(w) {
			got, _, _ := unstructured.NestedBool(u.Object, "spec", "paused")
			want, _, _ := unstructured.NestedBool(orig.Object, "spec", "paused")
			if got != want {
				t.Errorf("B: %s %s spec.paused = %v, want %v", w.What, w.Name, got, want)
			}
		}
		if r := quiesceRecords(u); len(r) != 0 {
			t.Errorf("B: %s %s carries quiesce records %v", w.What, w.Name, r)
		}
	}
}

// userAnnotations are u's annotations without the API server's DaemonSet template generation,
// which it counts up on every template change (the quiesce and the unquiesce are two).
func userAnnotations(u *unstructured.Unstructured) map[string]string {
	a := u.GetAnnotations()
	delete(a, appsv1.DeprecatedTemplateGeneration)
	return a
}

// checkUnquiescedOnA: after the rollback each workload's spec, labels and annotations are exactly
// what they were before the quiesce (no records left).
func checkUnquiescedOnA(ctx context.Context, t *testing.T, a *Cluster, s *migrationSample, before map[string]*unstructured.Unstructured) {
	for _, w := range s.Workloads {
		u := getU(ctx, t, a, w.Res, s.NS, w.Name)
		orig := before[w.Name+"/"+w.Res.Resource]
		if !reflect.DeepEqual(u.Object["spec"], orig.Object["spec"]) {
			t.Errorf("A: %s %s: spec after unquiesce\n  %v\nwant (before the quiesce)\n  %v", w.What, w.Name, u.Object["spec"], orig.Object["spec"])
		}
		if got, want := userAnnotations(u), userAnnotations(orig); !reflect.DeepEqual(got, want) {
			t.Errorf("A: %s %s: annotations after unquiesce %v, want %v", w.What, w.Name, got, want)
		}
		if !reflect.DeepEqual(u.GetLabels(), orig.GetLabels()) {
			t.Errorf("A: %s %s: labels after unquiesce %v, want %v", w.What, w.Name, u.GetLabels(), orig.GetLabels())
		}
	}
}

// duplicateRegistration is how Velero (pkg/plugin/clientmgmt/process/registry.go, v1.14.1 and
// v1.18.3) refuses a second plugin registering a kind and name already registered.
var duplicateRegistration = regexp.MustCompile(`unable to register plugin \(kind=(\w+), name=([^,]+), command=([^)]+)\) because another plugin is already registered for this kind and name \(command=([^)]+)\)`)

// TestMigrationBothPluginBinaries: a Velero whose plugin dir holds both binaries. Velero starts
// every plugin binary to list its registrations, registers them in the order of the directory
// listing, and refuses a kind and name registered twice: the server exits 1 before serving
// anything (both binaries register the general actions under the same names). The test asserts
// exactly that, then restarts A's server with the migration binary only.
func TestMigrationBothPluginBinaries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a := newCluster(t, env, "a")
	requireMigrationPlugin(ctx, t, env, a)
	t.Cleanup(func() {
		if out, err := stack(context.Background(), t, env, "velero-restart", "a", "migration"); err != nil {
			t.Errorf("restarting velero-a with the migration binary: %v\n%s", err, out)
		}
	})
	t0 := time.Now()
	out, err := stack(ctx, t, env, "velero-restart", "a", "both")
	if err != nil {
		t.Fatalf("velero-restart a both: %v\n%s", err, out)
	}
	t.Logf("Velero %s, plugin dir with both binaries (%.1fs):\n%s", env.Get(t, "VELERO_VERSION"), time.Since(t0).Seconds(), strings.TrimSpace(out))
	exited := regexp.MustCompile(`velero-a with both plugin binaries: exited with code (\d+): (.*)`).FindStringSubmatch(out)
	if exited == nil {
		t.Fatalf("Velero with both plugin binaries did not exit: %s", out)
	}
	if exited[1] != "1" {
		t.Errorf("Velero exited with code %s, want 1", exited[1])
	}
	m := duplicateRegistration.FindStringSubmatch(exited[2])
	if m == nil {
		t.Fatalf("Velero exited, but not refusing a duplicate registration: %s", exited[2])
	}
	kind, name, dup, first := m[1], m[2], filepath.Base(m[3]), filepath.Base(m[4])
	if !strings.HasPrefix(name, "openshift.io/") {
		t.Errorf("duplicate %s %s: want a general action (both binaries serve them)", kind, name)
	}
	// Velero lists the plugin dir in name order: the migration binary registers first.
	if first != "openshift-migration-plugin" || dup != "openshift-velero-plugin" {
		t.Errorf("duplicate registration: %s refused after %s, want openshift-velero-plugin refused after openshift-migration-plugin", dup, first)
	}
	status, err := stack(ctx, t, env, "status")
	if err != nil || !strings.Contains(status, "velero-a stopped") {
		t.Errorf("after the refusal velero-a must not run: %v\n%s", err, status)
	}
}

//go:build e2e

package e2e

// The namespace the migration suite migrates from A to B, made as OpenShift and MTC's
// mig-controller would have left it (no controller runs on this stack): volumes the plan copies
// (by file system and by snapshot) and moves, a stage pod and an application pod labelled for
// the stage backups, image streams with real images in A's registry, and one workload of every
// kind the quiesce stops.

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// Names in the migrated namespace; PV names get the run's suffix (PVs are cluster-scoped).
const (
	migPVCMove    = "moved"     // move: the PV is restored as is on B, same NFS export
	migPVCCopy    = "copied"    // copy by file system: B gets the target storage class and access mode
	migPVCSnap    = "snapshot"  // copy by snapshot: skipped by a stage migration's stage restore
	migStagePod   = "stage-app" // MTC's stage pod for the volumes no running pod mounts
	migAppPod     = "standalone-h7x2q"
	migStageImage = "quay.io/konveyor/rsync-transfer:e2e" // the Restores' stage-pod-image

	migSourceClass = "standard"
	migTargetClass = "gp3-csi"
	migNFSServer   = "nfs.example.com"
	migNode        = "node-a1"

	annSelectedNode      = "volume.kubernetes.io/selected-node"
	annBetaStorageClass  = "volume.beta.kubernetes.io/storage-class"
	annSCCUIDRange       = "openshift.io/sa.scc.uid-range"
	annSCCMCS            = "openshift.io/sa.scc.mcs"
	annSCCSupplemental   = "openshift.io/sa.scc.supplemental-groups"
	migSCCUIDRange       = "1000650000/10000"
	migQuiesceRecordsKey = "migration.openshift.io/preQuiesce" // prefix of every quiesce record (see quiesceRecords)
)

var (
	pvsGVR          = gvr("", "v1", "persistentvolumes")
	pvcsGVR         = gvr("", "v1", "persistentvolumeclaims")
	deploymentsGVR  = gvr("apps", "v1", "deployments")
	statefulSetsGVR = gvr("apps", "v1", "statefulsets")
	daemonSetsGVR   = gvr("apps", "v1", "daemonsets")
	cronJobsGVR     = gvr("batch", "v1", "cronjobs")
	jobsGVR         = gvr("batch", "v1", "jobs")
)

// migrationSample is what createMigrationSample made on A.
type migrationSample struct {
	NS                     string
	PVMove, PVCopy, PVSnap string // PV names
	NFSPathMove            string
	Images                 *imageSample
	Workloads              []quiesceCase
	StageLabel             map[string]string // the label stage backups select
}

// quiesceCase is one workload on A and what the quiesce must do to it: Stopped is the value of
// Field after the quiesce (nil: the workload was already stopped and is left alone), Records the
// quiesce records it must carry then (the controller's keys; none when left alone).
type quiesceCase struct {
	What    string
	Res     schema.GroupVersionResource
	Name    string
	Field   []string
	Stopped any
	Records map[string]string
	Paused  bool // spec.paused before the quiesce (Deployments and DeploymentConfigs): unpaused while stopped
}

// createMigrationSample creates the namespace on A.
func createMigrationSample(ctx context.Context, t *testing.T, a *Cluster, ns, suffix string, plan *migrationPlan) *migrationSample {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: creating the migration sample: %v", a, err)
		}
	}
	s := &migrationSample{NS: ns, PVMove: "mig-move-" + suffix, PVCopy: "mig-copy-" + suffix, PVSnap: "mig-snap-" + suffix,
		NFSPathMove: "/exports/" + ns + "/moved",
		StageLabel:  map[string]string{migration.IncludedInStageBackupLabel: plan.StageLabelValue}}
	core := a.Kube.CoreV1()
	// The namespace carries the SCC ranges OpenShift assigned it (file ownership on moved volumes
	// depends on them) and the stage label (stage backups hold namespaces).
	must(core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: s.StageLabel,
		Annotations: map[string]string{annSCCUIDRange: migSCCUIDRange, annSCCMCS: "s0:c26,c15", annSCCSupplemental: migSCCUIDRange}}},
		metav1.CreateOptions{}))

	// Volumes, bound as the PV controller leaves them, annotated by the controller's plan.
	type volume struct {
		pv, pvc, class string
		modes          []corev1.PersistentVolumeAccessMode
		pvAnn, pvcAnn  map[string]string
	}
	copyAnn := func(method, target string, extra ...string) map[string]string {
		return withEntries(map[string]string{migration.MigrateTypeAnnotation: migration.ActionCopy, migration.CopyMethodAnnotation: method,
			migration.TargetStorageClassAnnotation: target}, extra...)
	}
	moveAnn := map[string]string{migration.MigrateTypeAnnotation: migration.ActionMove}
	rwo, rwx := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	for _, v := range []volume{
		{s.PVMove, migPVCMove, "nfs", rwx, moveAnn, withEntries(moveAnn, annSelectedNode, migNode)},
		{s.PVCopy, migPVCCopy, migSourceClass, rwo, copyAnn(migration.CopyFilesystem, migTargetClass),
			copyAnn(migration.CopyFilesystem, migTargetClass, migration.TargetAccessModeAnnotation, string(corev1.ReadWriteMany),
				annSelectedNode, migNode, annBetaStorageClass, migSourceClass)},
		// Target class "" on purpose: the destination's default class, set even when empty.
		{s.PVSnap, migPVCSnap, migSourceClass, rwo, copyAnn(migration.CopySnapshot, ""),
			copyAnn(migration.CopySnapshot, "", annSelectedNode, migNode)},
	} {
		src := corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: migNFSServer, Path: "/exports/" + ns + "/" + v.pvc}}
		pv, err := core.PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: v.pv, Annotations: withEntries(v.pvAnn, "pv.kubernetes.io/bound-by-controller", "yes")},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   v.modes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				StorageClassName:              v.class,
				PersistentVolumeSource:        src,
				ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: v.pvc},
			},
		}, metav1.CreateOptions{})
		must(pv, err)
		pv.Status.Phase = corev1.VolumeBound
		must(core.PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}))
		class := v.class
		pvc, err := core.PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: v.pvc, Labels: s.StageLabel,
				Annotations: withEntries(v.pvcAnn, "pv.kubernetes.io/bind-completed", "yes")},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      v.modes,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				StorageClassName: &class,
				VolumeName:       v.pv,
			},
		}, metav1.CreateOptions{})
		must(pvc, err)
		pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: v.modes,
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
		must(core.PersistentVolumeClaims(ns).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}))
	}
	must(core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"mode": "production"}}, metav1.CreateOptions{}))

	// Image streams with real images in A's registry (images_test.go), labelled for the stage backups.
	s.Images = createImageSample(ctx, t, a, ns)
	for _, is := range s.Images.streams() {
		u, err := a.Dynamic.Resource(imageStreamsGVR).Namespace(ns).Get(ctx, is, metav1.GetOptions{})
		must(u, err)
		u.SetLabels(withEntries(u.GetLabels(), migration.IncludedInStageBackupLabel, plan.StageLabelValue))
		must(a.Dynamic.Resource(imageStreamsGVR).Namespace(ns).Update(ctx, u, metav1.UpdateOptions{}))
	}

	s.Workloads = createQuiesceWorkloads(ctx, t, a, ns, s)
	return s
}

// withEntries returns a copy of m with the key/value pairs added.
func withEntries(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func int32Ptr(i int32) *int32 { return &i }

// createQuiesceWorkloads creates one workload of every kind the quiesce stops, plus two it must
// leave alone (already stopped, or owned by a Deployment), and returns what the quiesce must do.
func createQuiesceWorkloads(ctx context.Context, t *testing.T, a *Cluster, ns string, s *migrationSample) []quiesceCase {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: creating the workloads: %v", a, err)
		}
	}
	img := fmt.Sprintf("%s/%s/%s:latest", a.Registry, ns, isRuntime)
	template := func(app string, nodeSelector map[string]string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{NodeSelector: nodeSelector, Containers: []corev1.Container{{Name: app, Image: img}}}}
	}
	sel := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	apps, batch := a.Kube.AppsV1().Deployments(ns), a.Kube.BatchV1()
	web, err := apps.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: int32Ptr(3), Selector: sel("web"), Template: template("web", nil)}}, metav1.CreateOptions{})
	must(web, err)
	must(apps.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "idle"},
		Spec: appsv1.DeploymentSpec{Replicas: int32Ptr(0), Selector: sel("idle"), Template: template("idle", nil)}}, metav1.CreateOptions{}))
	webRS := map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b4"}
	must(a.Kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7c9b4", Labels: webRS, OwnerReferences: ownerRef("apps/v1", "Deployment", "web", web.UID)},
		Spec: appsv1.ReplicaSetSpec{Replicas: int32Ptr(3), Selector: &metav1.LabelSelector{MatchLabels: webRS},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webRS},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: img}}}}}}, metav1.CreateOptions{}))
	standalone, err := a.Kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "standalone"},
		Spec: appsv1.ReplicaSetSpec{Replicas: int32Ptr(2), Selector: sel("standalone"), Template: template("standalone", nil)}}, metav1.CreateOptions{})
	must(standalone, err)
	createApplicationPod(ctx, t, a, s, standalone.UID)
	must(a.Kube.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: int32Ptr(2), ServiceName: "db", Selector: sel("db"), Template: template("db", nil)}}, metav1.CreateOptions{}))
	must(a.Kube.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel("agent"), Template: template("agent", map[string]string{"node-role.kubernetes.io/worker": ""})}}, metav1.CreateOptions{}))
	jobTemplate := func(app string) corev1.PodTemplateSpec {
		tp := template(app, nil)
		tp.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		return tp
	}
	for _, c := range []struct {
		name    string
		suspend bool
	}{{"report", false}, {"nightly", true}} {
		must(batch.CronJobs(ns).Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: c.name},
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", Suspend: &c.suspend,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobTemplate(c.name)}}}}, metav1.CreateOptions{}))
	}
	must(batch.Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate-db"},
		Spec: batchv1.JobSpec{Parallelism: int32Ptr(2), Completions: int32Ptr(4), Template: jobTemplate("migrate-db")}}, metav1.CreateOptions{}))
	dcLabels := map[string]any{"app": "frontend"}
	createU(ctx, t, a, deploymentConfigsGVR, ns, map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "metadata": map[string]any{"name": "frontend"},
		"spec": map[string]any{"replicas": int64(2), "paused": true, "selector": dcLabels,
			"template": map[string]any{"metadata": map[string]any{"labels": dcLabels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "frontend", "image": img}}}}},
	})

	replicas, spec := []string{"spec", "replicas"}, "spec"
	return []quiesceCase{
		{What: "Deployment", Res: deploymentsGVR, Name: "web", Field: replicas, Stopped: int64(0),
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "3"}},
		{What: "Deployment (images)", Res: deploymentsGVR, Name: imagesWorkload, Field: replicas, Stopped: int64(0),
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "1"}},
		{What: "Deployment already at 0 (left alone)", Res: deploymentsGVR, Name: "idle", Field: replicas},
		{What: "DeploymentConfig, paused", Res: deploymentConfigsGVR, Name: "frontend", Field: replicas, Stopped: int64(0), Paused: true,
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "2", migration.PreQuiescePausedAnnotation: "true"}},
		{What: "StatefulSet", Res: statefulSetsGVR, Name: "db", Field: replicas, Stopped: int64(0),
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "2"}},
		{What: "owner-less ReplicaSet", Res: replicaSetsGVR, Name: "standalone", Field: replicas, Stopped: int64(0),
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "2"}},
		{What: "ReplicaSet owned by a Deployment (left alone)", Res: replicaSetsGVR, Name: "web-5d8f7c9b4", Field: replicas},
		{What: "CronJob", Res: cronJobsGVR, Name: "report", Field: []string{spec, "suspend"}, Stopped: true,
			Records: map[string]string{migration.PreQuiesceSuspendAnnotation: "true"}}, // the controller's record: "we suspended it"
		{What: "CronJob already suspended (left alone)", Res: cronJobsGVR, Name: "nightly", Field: []string{spec, "suspend"}},
		{What: "Job", Res: jobsGVR, Name: "migrate-db", Field: []string{spec, "parallelism"}, Stopped: int64(0),
			Records: map[string]string{migration.PreQuiesceReplicasAnnotation: "2"}},
		{What: "DaemonSet", Res: daemonSetsGVR, Name: "agent", Field: []string{spec, "template", "spec", "nodeSelector"},
			Stopped: map[string]any{"node-role.kubernetes.io/worker": "", migration.QuiesceDaemonSetSelector: "true"},
			Records: map[string]string{migration.PreQuiesceNodeSelectorAnnotation: `{"node-role.kubernetes.io/worker":""}`}},
	}
}

// volumes used by the stage and application pods.
func pvcVolume(name, claim string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func configVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}
}

func mountsOf(names ...string) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for _, n := range names {
		out = append(out, corev1.VolumeMount{Name: n, MountPath: "/" + n})
	}
	return out
}

// createApplicationPod creates the running pod of the owner-less ReplicaSet, labelled in place
// for the stage backups as the controller does (is-application-pod): it mounts the moved volume.
func createApplicationPod(ctx context.Context, t *testing.T, a *Cluster, s *migrationSample, owner types.UID) {
	t.Helper()
	img := fmt.Sprintf("%s/%s/%s:latest", a.Registry, s.NS, isRuntime)
	if _, err := a.Kube.CoreV1().Pods(s.NS).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: migAppPod,
		Labels:          withEntries(s.StageLabel, migration.ApplicationPodLabel, "true", "app", "standalone"),
		OwnerReferences: ownerRef("apps/v1", "ReplicaSet", "standalone", owner)},
		Spec: corev1.PodSpec{
			NodeName:   migNode,
			Containers: []corev1.Container{{Name: "standalone", Image: img, VolumeMounts: mountsOf("moved", "config")}},
			Volumes:    []corev1.Volume{pvcVolume("moved", migPVCMove), configVolume("config")},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: pod %s/%s: %v", a, s.NS, migAppPod, err)
	}
}

// createStagePod does on A what the controller does before a stage backup: a stage pod mounting
// the volumes no running pod mounts, with what a copy of an application pod brings along (an init
// container, config and scratch volumes, node pinning) and one volume listed in exclude-pvcs.
func createStagePod(ctx context.Context, t *testing.T, a *Cluster, s *migrationSample) {
	t.Helper()
	img := fmt.Sprintf("%s/%s/%s:latest", a.Registry, s.NS, isRuntime)
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{migNode}}}}}}}}
	if _, err := a.Kube.CoreV1().Pods(s.NS).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: migStagePod,
		Labels:      withEntries(s.StageLabel, migration.StagePodLabel, "true", "app", "data"),
		Annotations: map[string]string{migration.ExcludePVCsAnnotation: "snap"}},
		Spec: corev1.PodSpec{
			NodeName:       migNode,
			NodeSelector:   map[string]string{"kubernetes.io/hostname": migNode, "node-role.kubernetes.io/app": ""},
			Affinity:       affinity,
			InitContainers: []corev1.Container{{Name: "init", Image: img, Command: []string{"/bin/init"}, VolumeMounts: mountsOf("data", "config")}},
			Containers: []corev1.Container{
				{Name: "app", Image: img, VolumeMounts: mountsOf("data", "moved", "snap", "config", "scratch")},
				{Name: "sidecar", Image: img, VolumeMounts: mountsOf("data", "scratch")},
			},
			Volumes: []corev1.Volume{pvcVolume("data", migPVCCopy), pvcVolume("moved", migPVCMove), pvcVolume("snap", migPVCSnap),
				configVolume("config"), {Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: pod %s/%s: %v", a, s.NS, migStagePod, err)
	}
}

// deletePods does what the controller does after a stage migration: it removes the stage pods
// (on A those labelled is-stage-pod; on B every pod the stage restore made, all stage pods
// there). Grace period 0: no kubelet runs here to confirm a termination.
func deletePods(ctx context.Context, t *testing.T, c *Cluster, ns, selector string) {
	t.Helper()
	zero := int64(0)
	err := c.Kube.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("%s: deleting pods %s in %s: %v", c, selector, ns, err)
	}
}

// getU reads an object from c (namespace "" for cluster-scoped ones).
func getU(ctx context.Context, t *testing.T, c *Cluster, res schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := c.Dynamic.Resource(res).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %s %s/%s: %v", c, res.Resource, ns, name, err)
	}
	return u
}

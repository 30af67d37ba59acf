package deploymentconfig

import (
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
)

// backedUpPod is pod as Velero backs it up: owned by its ReplicationController, with the source facts.
func backedUpPod(t *testing.T, p *corev1.Pod) *unstructured.Unstructured {
	t.Helper()
	p = p.DeepCopy()
	yes := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController",
		Name: p.Labels[keys.DeploymentLabel], UID: "rc-uid", Controller: &yes}}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("v1")
	u.SetKind("Pod")
	return actiontest.FromSource(u)
}

// The DeploymentConfig restore and the pod restore decide from the same evidence: the DC is
// scaled to 0 exactly when at least one of its pods is restored (and detached from it). Each case
// runs the real actions in Velero's order: the DC backup over the live pods, then, at restore,
// the pod restore over every backed-up pod and the DC restore over the backed-up DC.
func TestDeploymentConfigScaledDownExactlyWhenAPodIsRestored(t *testing.T) {
	// The pods have the template's volumes and the token volume the ServiceAccount admission adds.
	podInfo := corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{}}}
	token := func(suffix string) podOpt {
		return volume(corev1.Volume{Name: "kube-api-access-" + suffix, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}})
	}
	web1 := dcPodOf("app", "web-1-x7k2p", "web", "web-1", t0, volume(pvcVol), volume(podInfo), token("q8zrt"))
	web2 := dcPodOf("app", "web-2-b2c4d", "web", "web-2", t0.Add(time.Hour), volume(pvcVol), volume(podInfo), token("mn4pl"))
	dc := dcObject("app", "web")
	dc.Object["spec"].(map[string]any)["template"] = map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": "web", keys.DeploymentConfigLabel: "web"}},
		"spec": map[string]any{"volumes": []any{
			map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}},
			map[string]any{"name": "podinfo", "downwardAPI": map[string]any{}},
		}},
	}
	dc.Object["status"] = map[string]any{"latestVersion": int64(2)}
	withAnnotation := func(p *corev1.Pod, k, v string) *corev1.Pod {
		p = p.DeepCopy()
		annotated(k, v)(p)
		return p
	}
	snapshot := func(pod, volume string) runtime.Object {
		return actiontest.PodVolumeBackup("app", pod, volume, "snap-1")
	}
	mapped := map[string]string{"app": "app-copy"}
	tests := []struct {
		name      string
		pods      []*corev1.Pod // backed up
		gone      int           // how many of pods (the first ones) were deleted before the DC was backed up
		defaultFS bool
		pvbs      []runtime.Object
		restore   *velerov1.Restore
		want      bool
	}{
		{"a pod volume backup with data", []*corev1.Pod{web1}, 0, false, []runtime.Object{snapshot(web1.Name, "data")}, actiontest.Restore(nil), true},
		{"the older pod has the pod volume backup", []*corev1.Pod{web1, web2}, 0, false, []runtime.Object{snapshot(web1.Name, "data")}, actiontest.Restore(mapped), true},
		{"volume annotation, no pod volume backup", []*corev1.Pod{withAnnotation(web1, keys.VeleroBackupVolumes, "data")}, 0, false, nil, actiontest.Restore(nil), false},
		{"defaultVolumesToFsBackup, no pod volume backup", []*corev1.Pod{web1}, 0, true, nil, actiontest.Restore(nil), false},
		{"pod volume backup without a snapshot", []*corev1.Pod{web1}, 0, true,
			[]runtime.Object{actiontest.PodVolumeBackup("app", web1.Name, "data", "")}, actiontest.Restore(nil), false},
		{"pod volume backup of the token volume", []*corev1.Pod{web1}, 0, false, []runtime.Object{snapshot(web1.Name, "kube-api-access-q8zrt")}, actiontest.Restore(nil), false},
		{"pod volume backup of a downwardAPI volume", []*corev1.Pod{web1}, 0, false, []runtime.Object{snapshot(web1.Name, "podinfo")}, actiontest.Restore(nil), false},
		{"pod volume backup of another DC's pod", []*corev1.Pod{web1}, 0, false, []runtime.Object{snapshot("db-1-ccccc", "data")}, actiontest.Restore(nil), false},
		{"hook annotations", []*corev1.Pod{withAnnotation(web1, keys.VeleroPostRestoreHookCommand, `["/bin/true"]`)}, 0, false, nil, actiontest.Restore(nil), true},
		{"restore hook selects the pods in the target namespace", []*corev1.Pod{web1}, 0, false, nil,
			hookRestore(mapped, "app-copy", map[string]string{"app": "web"}), true},
		{"restore hook selects other pods", []*corev1.Pod{web1}, 0, false, nil, hookRestore(nil, "", map[string]string{"app": "db"}), false},
		{"pod backed up, then deleted before the DC was", []*corev1.Pod{web1}, 1, false, []runtime.Object{snapshot(web1.Name, "data")}, actiontest.Restore(nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var live []runtime.Object
			for _, p := range tt.pods[tt.gone:] {
				live = append(live, p)
			}
			backup := backupWith(&tt.defaultFS)
			dc, _, err := actiontest.RunBackup(t, backupReg(fake.NewSimpleClientset(live...)), actiontest.Env(), dc.DeepCopy(), backup)
			if err != nil {
				t.Fatal(err)
			}
			dc = actiontest.FromSource(dc)

			env := actiontest.Env()
			pods := actiontest.Registration(pod.RestoreName, action.KindRestore,
				pod.NewRestore(env, fake.NewSimpleClientset().CoreV1(), actiontest.PodVolumeBackups(tt.pvbs...), nil))
			var detached []string
			for _, p := range tt.pods {
				out, err := actiontest.RunRestore(t, pods, env, backedUpPod(t, p), tt.restore)
				if err != nil {
					t.Fatalf("pod %s: %v", p.Name, err)
				}
				got, _ := action.Object(out.UpdatedItem)
				if !out.SkipRestore && got.GetLabels()[keys.DisconnectedFromDC] != "" {
					detached = append(detached, p.Name)
				}
			}
			scaled := scaledDown(t, restoreRegWith(tt.pvbs...), dc, tt.restore)
			if scaled != (len(detached) > 0) {
				t.Fatalf("DC scaled down = %v, but pods restored and detached: %v", scaled, detached)
			}
			if scaled != tt.want {
				t.Fatalf("DC scaled down and pods restored = %v (%v), want %v", scaled, detached, tt.want)
			}
		})
	}
}

// backupReg is the DC backup registration listing the live pods of kube.
func backupReg(kube *fake.Clientset) action.Registration {
	return actiontest.Registration(BackupName, action.KindBackup, NewBackup(actiontest.Env(), kube.CoreV1()))
}

package deploymentconfig

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func dcPodOf(ns, name, dc, deployment string, created time.Time, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created),
		Labels: map[string]string{"app": dc, keys.DeploymentConfigLabel: dc, keys.DeploymentLabel: deployment}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func annotated(k, v string) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func volume(v corev1.Volume) podOpt {
	return func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, v) }
}

var (
	configMapVol = corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}
	secretVol    = corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}
	projectedVol = corev1.Volume{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}
	emptyDirVol  = corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	pvcVol       = corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}
)

func sourcePods() *fake.Clientset {
	return fake.NewSimpleClientset(
		dcPodOf("app", "web-1-aaaaa", "web", "web-1", t0, volume(configMapVol)),
		dcPodOf("app", "web-2-bbbbb", "web", "web-2", t0.Add(time.Hour), annotated(keys.VeleroBackupVolumes, "data"), volume(pvcVol)),
		dcPodOf("app", "db-1-ccccc", "db", "db-1", t0, annotated(keys.VeleroPostRestoreHookCommand, `["/bin/true"]`)),
		dcPodOf("app", "cache-1-ddddd", "cache", "cache-1", t0, volume(emptyDirVol), volume(configMapVol)),
		dcPodOf("app", "cfg-1-eeeee", "cfg", "cfg-1", t0, volume(configMapVol), volume(secretVol), volume(projectedVol)),
		dcPodOf("app", "optout-1-fffff", "optout", "optout-1", t0, volume(pvcVol), annotated("backup.velero.io/backup-volumes-excludes", "data")),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "standalone", Labels: map[string]string{"app": "web"}}},
		dcPodOf("other", "web-1-zzzzz", "web", "web-1", t0, annotated(keys.VeleroInitRestoreHookImage, "busybox")),
	)
}

func dcObject(ns, name string) *unstructured.Unstructured {
	return actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", ns, name, map[string]any{
		"spec": map[string]any{"replicas": int64(3), "selector": map[string]any{keys.DeploymentConfigLabel: name}},
	})
}

func backupWith(defaultFS *bool) *velerov1.Backup {
	b := actiontest.Backup()
	b.Spec.DefaultVolumesToFsBackup = defaultFS
	return b
}

func boolPtr(b bool) *bool { return &b }

func TestBackupAnnotatesPods(t *testing.T) {
	tests := []struct {
		name       string
		ns, dc     string
		defaultFS  *bool
		volumes    string
		hooks      string
		wantLabels map[string]string // nil: annotation absent
	}{
		{"volume annotation, labels of newest pod", "app", "web", nil, "true", "false",
			map[string]string{"app": "web", keys.DeploymentConfigLabel: "web", keys.DeploymentLabel: "web-2"}},
		{"hook annotation", "app", "db", nil, "false", "true",
			map[string]string{"app": "db", keys.DeploymentConfigLabel: "db", keys.DeploymentLabel: "db-1"}},
		{"emptyDir without default fs backup", "app", "cache", boolPtr(false), "false", "false",
			map[string]string{"app": "cache", keys.DeploymentConfigLabel: "cache", keys.DeploymentLabel: "cache-1"}},
		{"emptyDir with default fs backup", "app", "cache", boolPtr(true), "true", "false",
			map[string]string{"app": "cache", keys.DeploymentConfigLabel: "cache", keys.DeploymentLabel: "cache-1"}},
		{"only configMap/secret/projected with default fs backup", "app", "cfg", boolPtr(true), "false", "false",
			map[string]string{"app": "cfg", keys.DeploymentConfigLabel: "cfg", keys.DeploymentLabel: "cfg-1"}},
		{"opted-out volume with default fs backup", "app", "optout", boolPtr(true), "false", "false",
			map[string]string{"app": "optout", keys.DeploymentConfigLabel: "optout", keys.DeploymentLabel: "optout-1"}},
		{"no pods", "app", "idle", boolPtr(true), "false", "false", nil},
		{"same name in another namespace", "other", "web", nil, "false", "true",
			map[string]string{"app": "web", keys.DeploymentConfigLabel: "web", keys.DeploymentLabel: "web-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, sourcePods().CoreV1()))
			dc := dcObject(tt.ns, tt.dc)
			dc.SetAnnotations(map[string]string{"keep": "me", keys.DCPodLabels: `{"stale":"x"}`})
			before := dc.DeepCopy()
			out, extra, err := actiontest.RunBackup(t, reg, env, dc, backupWith(tt.defaultFS))
			if err != nil || len(extra) != 0 {
				t.Fatalf("Execute: %v extra %v", err, extra)
			}
			a := out.GetAnnotations()
			if a[keys.DCPodsHaveVolumeBackups] != tt.volumes || a[keys.DCPodsHaveRestoreHooks] != tt.hooks {
				t.Fatalf("volumes %q hooks %q, want %q %q", a[keys.DCPodsHaveVolumeBackups], a[keys.DCPodsHaveRestoreHooks], tt.volumes, tt.hooks)
			}
			raw, ok := a[keys.DCPodLabels]
			if tt.wantLabels == nil {
				if ok {
					t.Fatalf("labels annotation %q present for a DC without pods", raw)
				}
			} else {
				var got map[string]string
				if err := json.Unmarshal([]byte(raw), &got); err != nil || !reflect.DeepEqual(got, tt.wantLabels) {
					t.Fatalf("labels %q (%v), want %v", raw, err, tt.wantLabels)
				}
			}
			if a["keep"] != "me" {
				t.Fatal("existing annotation lost")
			}
			// Nothing but the three annotations changed.
			for _, k := range []string{keys.DCPodsHaveVolumeBackups, keys.DCPodsHaveRestoreHooks, keys.DCPodLabels} {
				delete(a, k)
			}
			out.SetAnnotations(a)
			delete(before.Object["metadata"].(map[string]any)["annotations"].(map[string]any), keys.DCPodLabels)
			if !reflect.DeepEqual(out.Object, before.Object) {
				t.Fatalf("item changed beyond the annotations:\n%v\n%v", out.Object, before.Object)
			}
		})
	}
}

func podLists(c *fake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			n++
		}
	}
	return n
}

func TestBackupListsOncePerNamespacePerBackup(t *testing.T) {
	env := actiontest.Env()
	kube := sourcePods()
	reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, kube.CoreV1()))
	b1 := actiontest.Backup()
	for _, dc := range []string{"web", "db", "cache", "idle"} {
		if _, _, err := actiontest.RunBackup(t, reg, env, dcObject("app", dc), b1); err != nil {
			t.Fatal(err)
		}
	}
	if n := podLists(kube); n != 1 {
		t.Fatalf("%d pod lists for one namespace, want 1", n)
	}
	if sel := kube.Actions()[0].(k8stesting.ListAction).GetListRestrictions().Labels.String(); sel != keys.DeploymentConfigLabel {
		t.Fatalf("selector %q", sel)
	}
	if _, _, err := actiontest.RunBackup(t, reg, env, dcObject("other", "web"), b1); err != nil {
		t.Fatal(err)
	}
	b2 := actiontest.Backup()
	b2.UID = "backup-2"
	if _, _, err := actiontest.RunBackup(t, reg, env, dcObject("app", "web"), b2); err != nil {
		t.Fatal(err)
	}
	if n := podLists(kube); n != 3 {
		t.Fatalf("%d pod lists, want 3 (two namespaces, then a new backup)", n)
	}
}

func TestBackupErrors(t *testing.T) {
	env := actiontest.Env()
	kube := sourcePods()
	fail := true
	kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, errors.New("etcd timeout")
		}
		return false, nil, nil
	})
	reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, kube.CoreV1()))
	_, _, err := actiontest.RunBackup(t, reg, env, dcObject("app", "web"), actiontest.Backup())
	actiontest.ErrorNames(t, err, "listing pods", "app/web")
	fail = false
	out, _, err := actiontest.RunBackup(t, reg, env, dcObject("app", "web"), actiontest.Backup())
	if err != nil || out.GetAnnotations()[keys.DCPodsHaveVolumeBackups] != "true" {
		t.Fatalf("a failed list was cached: %v", err)
	}

	bad := dcObject("app", "web")
	bad.Object["metadata"].(map[string]any)["annotations"] = "x"
	if _, _, err := actiontest.RunBackup(t, reg, env, bad, actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "metadata.annotations") {
		t.Fatalf("malformed annotations: %v", err)
	}
}

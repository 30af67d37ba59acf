package stagepod

import (
	"reflect"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/pullsecret"
	"github.com/velero-openshift/plugins/common/restorehooks"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/velero-plugins/pod"
)

const (
	src        = actiontest.SourceRegistry
	dst        = actiontest.DestinationRegistry
	stageImage = "registry.example.com/rhmtc/rsync-transfer:v1.8"
)

// destination is a fake destination cluster: node n1, and in each namespace the default SA with
// the dockercfg secret the destination minted for it.
func destination(namespaces ...string) *fake.Clientset {
	objs := []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{pod.HostnameLabel: "n1"}}}}
	for _, ns := range namespaces {
		objs = append(objs,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default", UID: "sa-uid",
				Annotations: map[string]string{keys.InternalRegistryPullSecretRef: "default-dockercfg-zzzzz"}}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default-dockercfg-zzzzz",
				Annotations:     map[string]string{keys.InternalRegistryAuthTokenSA: "default"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ServiceAccount", Name: "default", UID: "sa-uid"}}},
				Type: corev1.SecretTypeDockercfg})
	}
	return fake.NewSimpleClientset(objs...)
}

type fixture struct {
	env     action.Env
	reg     action.Registration // the migration pod restore
	general action.Registration // the general pod restore on the same clients
}

func newFixture(t testing.TB, cfg config.Config, namespaces ...string) *fixture {
	t.Helper()
	env := actiontest.Env()
	env.Config = config.Static(cfg)
	kube := destination(namespaces...)
	pvbs := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{restorehooks.PodVolumeBackups: "PodVolumeBackupList"})
	finder := &pullsecret.Finder{Client: kube.CoreV1(), Poll: 10 * time.Millisecond}
	general := pod.NewRestore(env, kube.CoreV1(), pvbs, finder)
	return &fixture{
		env:     env,
		reg:     actiontest.Registration(RestoreName, action.KindRestore, NewRestore(env, general)),
		general: actiontest.Registration(pod.RestoreName, action.KindRestore, general),
	}
}

func defaultConfig() config.Config {
	cfg := config.Default()
	cfg.PullSecretWait = 0
	return cfg
}

// migrationRestore is a migration's stage Restore; stageImage "" leaves the annotation off.
func migrationRestore(image string, mapping map[string]string) *velerov1.Restore {
	r := actiontest.Restore(mapping)
	r.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.StageRestoreLabel: "mig-uid"}
	r.Annotations = map[string]string{migration.TypeAnnotation: string(migration.TypeStage)}
	if image != "" {
		r.Annotations[migration.StagePodImageAnnotation] = image
	}
	return r
}

// appPod is an application pod labelled for the stage backup: PVC volumes data and logs, a
// config map and a projected token volume, an init container, probes, node pinning.
func appPod() *unstructured.Unstructured {
	return actiontest.FromSource(actiontest.Object("v1", "Pod", "app", "web-1", map[string]any{
		"spec": map[string]any{
			"nodeName":     "src-node-1",
			"nodeSelector": map[string]any{pod.HostnameLabel: "src-node-1", "node-role.kubernetes.io/worker": ""},
			"affinity":     map[string]any{"nodeAffinity": map[string]any{"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{}}},
			"tolerations":  []any{map[string]any{"key": "dedicated", "operator": "Exists"}},
			"initContainers": []any{map[string]any{"name": "migrate", "image": src + "/app/migrate:v1",
				"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/data"}}}},
			"ephemeralContainers": []any{map[string]any{"name": "debug", "image": "busybox"}},
			"containers": []any{
				map[string]any{"name": "web", "image": src + "/app/web:v1", "args": []any{"--serve"},
					"command":        []any{"/bin/web"},
					"env":            []any{map[string]any{"name": "MODE", "value": "prod"}},
					"livenessProbe":  map[string]any{"httpGet": map[string]any{"port": int64(8080)}},
					"readinessProbe": map[string]any{"httpGet": map[string]any{"port": int64(8080)}},
					"startupProbe":   map[string]any{"httpGet": map[string]any{"port": int64(8080)}},
					"lifecycle":      map[string]any{"preStop": map[string]any{"exec": map[string]any{"command": []any{"stop"}}}},
					"volumeMounts": []any{
						map[string]any{"name": "data", "mountPath": "/data"},
						map[string]any{"name": "logs", "mountPath": "/logs"},
						map[string]any{"name": "config", "mountPath": "/etc/web"},
						map[string]any{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
					}},
				map[string]any{"name": "block", "image": "quay.io/example/block:2",
					"volumeDevices": []any{map[string]any{"name": "raw", "devicePath": "/dev/raw"}, map[string]any{"name": "logs", "devicePath": "/dev/logs"}}},
			},
			"imagePullSecrets": []any{map[string]any{"name": "default-dockercfg-abcde"}, map[string]any{"name": "my-registry"}},
			"volumes": []any{
				map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "web-data"}},
				map[string]any{"name": "logs", "persistentVolumeClaim": map[string]any{"claimName": "web-logs"}},
				map[string]any{"name": "raw", "persistentVolumeClaim": map[string]any{"claimName": "web-raw"}},
				map[string]any{"name": "config", "configMap": map[string]any{"name": "web-config"}},
				map[string]any{"name": "kube-api-access", "projected": map[string]any{"sources": []any{}}},
			},
		},
	}))
}

// labelled marks a pod for the stage backup (as the controller does) and sets annotations.
func labelled(obj *unstructured.Unstructured, annotations map[string]string) *unstructured.Unstructured {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l["app"] = "web"
	l[migration.IncludedInStageBackupLabel] = "mig-uid"
	l[migration.StagePodLabel] = "true"
	obj.SetLabels(l)
	a := obj.GetAnnotations()
	for k, v := range annotations {
		a[k] = v
	}
	obj.SetAnnotations(a)
	return obj
}

func ownedBy(obj *unstructured.Unstructured, kind string) *unstructured.Unstructured {
	obj.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion": "apps/v1", "kind": kind, "name": "web-5d8", "uid": "owner-uid", "controller": true}}
	return obj
}

// wantStagePod is the stage pod expected from appPod with logs excluded, restored into ns.
func wantStagePod(from *unstructured.Unstructured) *unstructured.Unstructured {
	want := actiontest.ResetLikeVelero(from.DeepCopy())
	spec := want.Object["spec"].(map[string]any)
	for _, k := range []string{"nodeName", "nodeSelector", "affinity", "initContainers", "ephemeralContainers"} {
		delete(spec, k)
	}
	spec["volumes"] = []any{
		map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "web-data"}},
		map[string]any{"name": "raw", "persistentVolumeClaim": map[string]any{"claimName": "web-raw"}},
	}
	spec["containers"] = []any{
		map[string]any{"name": "web", "image": stageImage, "command": []any{"sleep", "infinity"},
			"env":          []any{map[string]any{"name": "MODE", "value": "prod"}},
			"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/data"}}},
		map[string]any{"name": "block", "image": stageImage, "command": []any{"sleep", "infinity"},
			"volumeDevices": []any{map[string]any{"name": "raw", "devicePath": "/dev/raw"}}},
	}
	spec["imagePullSecrets"] = []any{map[string]any{"name": "default-dockercfg-zzzzz"}, map[string]any{"name": "my-registry"}}
	return want
}

func output(t *testing.T, out *velero.RestoreItemActionExecuteOutput) *unstructured.Unstructured {
	t.Helper()
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestStagePod(t *testing.T) {
	exclude := map[string]string{migration.ExcludePVCsAnnotation: " logs ,unknown"}
	tests := []struct {
		name    string
		item    *unstructured.Unstructured
		mapping map[string]string
	}{
		{"bare stage pod", labelled(appPod(), exclude), nil},
		{"application pod owned by a ReplicaSet, no volume backups", ownedBy(labelled(appPod(), exclude), "ReplicaSet"), nil},
		{"DeploymentConfig pod keeps its labels", ownedBy(labelled(appPod(), map[string]string{
			migration.ExcludePVCsAnnotation: "logs", keys.DeploymentConfigAnnotation: "web"}), "ReplicationController"), nil},
		{"mapped namespace", labelled(appPod(), exclude), map[string]string{"app": "app2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "app"
			if tt.mapping != nil {
				target = tt.mapping["app"]
			}
			f := newFixture(t, defaultConfig(), target)
			if tt.item.GetAnnotations()[keys.DeploymentConfigAnnotation] != "" {
				l := tt.item.GetLabels()
				l[keys.DeploymentConfigLabel], l[keys.DeploymentLabel] = "web", "web-1"
				tt.item.SetLabels(l)
			}
			want := wantStagePod(tt.item)
			out, err := actiontest.RunRestore(t, f.reg, f.env, tt.item, migrationRestore(stageImage, tt.mapping))
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore {
				t.Fatal("stage pod skipped")
			}
			if got := output(t, out); !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("stage pod\n got %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

// TestStagePodKeepsAddedInitContainers: Velero's own restore actions run before plugins, so its
// restore-wait init container (which the node agent needs running to restore the volumes) and
// restore-hook init containers are already on the item; they stay, the application's go.
func TestStagePodKeepsAddedInitContainers(t *testing.T) {
	from := labelled(appPod(), map[string]string{migration.ExcludePVCsAnnotation: "logs"})
	// A stale restore-wait from an earlier restore on the source, replaced by Velero's fresh one.
	fromSpec := from.Object["spec"].(map[string]any)
	fromSpec["initContainers"] = append(fromSpec["initContainers"].([]any), map[string]any{"name": "restore-wait", "image": "velero:old"})
	item := actiontest.ResetLikeVelero(from.DeepCopy())
	wait := map[string]any{"name": "restore-wait", "image": "velero/velero:v1.18.3",
		"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/restores/data"}, map[string]any{"name": "logs", "mountPath": "/restores/logs"}}}
	hook := map[string]any{"name": "warm-cache", "image": "busybox", "volumeMounts": []any{map[string]any{"name": "config", "mountPath": "/c"}}}
	item.Object["spec"].(map[string]any)["initContainers"] = []any{wait, map[string]any{"name": "migrate", "image": "x"}, hook}

	f := newFixture(t, defaultConfig(), "app")
	out, err := actiontest.RunRestoreInput(t, f.reg, f.env, &velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: from, Restore: migrationRestore(stageImage, nil)})
	if err != nil {
		t.Fatal(err)
	}
	got := output(t, out).Object["spec"].(map[string]any)["initContainers"]
	want := []any{
		map[string]any{"name": "restore-wait", "image": "velero/velero:v1.18.3",
			"volumeMounts": []any{map[string]any{"name": "data", "mountPath": "/restores/data"}}},
		map[string]any{"name": "warm-cache", "image": "busybox"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("initContainers\n got %v\nwant %v", got, want)
	}
}

func TestStagePodWithoutExcludes(t *testing.T) {
	f := newFixture(t, defaultConfig(), "app")
	out, err := actiontest.RunRestore(t, f.reg, f.env, labelled(appPod(), nil), migrationRestore(stageImage, nil))
	if err != nil {
		t.Fatal(err)
	}
	var names []any
	for _, v := range output(t, out).Object["spec"].(map[string]any)["volumes"].([]any) {
		names = append(names, v.(map[string]any)["name"])
	}
	if want := []any{"data", "logs", "raw"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("volumes %v, want %v", names, want)
	}
}

// TestDelegation: every pod that is not restored as a stage pod gets exactly the general pod
// restore's outcome.
func TestDelegation(t *testing.T) {
	nonMigration := actiontest.Restore(nil)
	nonMigration.Annotations = map[string]string{migration.StagePodImageAnnotation: stageImage}
	tests := []struct {
		name     string
		item     func() *unstructured.Unstructured
		restore  *velerov1.Restore
		wantSkip bool
		check    func(t *testing.T, got *unstructured.Unstructured)
	}{
		{"owned pod without volumes, not labelled: skipped", func() *unstructured.Unstructured { return ownedBy(appPod(), "ReplicaSet") },
			migrationRestore(stageImage, nil), true, nil},
		{"labelled owned pod, migration without stage image: skipped", func() *unstructured.Unstructured { return ownedBy(labelled(appPod(), nil), "ReplicaSet") },
			migrationRestore("", nil), true, nil},
		{"labelled owned pod, not a migration: skipped", func() *unstructured.Unstructured { return ownedBy(labelled(appPod(), nil), "ReplicaSet") },
			nonMigration, true, nil},
		{"bare pod, not labelled: internal image rewritten", appPod, migrationRestore(stageImage, map[string]string{"app": "app2"}), false,
			func(t *testing.T, got *unstructured.Unstructured) {
				c := got.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				if c["image"] != dst+"/app2/web:v1" || c["args"] == nil {
					t.Fatalf("general behaviour not applied: %v", c)
				}
			}},
		{"labelled bare pod, not a migration: general", func() *unstructured.Unstructured { return labelled(appPod(), nil) }, nonMigration, false,
			func(t *testing.T, got *unstructured.Unstructured) {
				if img := got.Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]; img != dst+"/app/web:v1" {
					t.Fatalf("image %v", img)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := "app"
			if m := tt.restore.Spec.NamespaceMapping["app"]; m != "" {
				ns = m
			}
			f := newFixture(t, defaultConfig(), ns)
			out, err := actiontest.RunRestore(t, f.reg, f.env, tt.item(), tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			general, err := actiontest.RunRestore(t, f.general, f.env, tt.item(), tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tt.wantSkip || general.SkipRestore != tt.wantSkip {
				t.Fatalf("skip = %v (general %v), want %v", out.SkipRestore, general.SkipRestore, tt.wantSkip)
			}
			got := output(t, out)
			if want := output(t, general); !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("differs from the general pod restore\n got %v\nwant %v", got.Object, want.Object)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

// TestGeneralDisabled: disabling the general pod restore by its name switches off the delegated
// part here too; stage pods are migration behaviour and still restored.
func TestGeneralDisabled(t *testing.T) {
	cfg := defaultConfig()
	cfg.DisabledActions = map[string]bool{pod.RestoreName: true}
	f := newFixture(t, cfg, "app")
	item := ownedBy(appPod(), "ReplicaSet")
	want := actiontest.ResetLikeVelero(item.DeepCopy())
	out, err := actiontest.RunRestore(t, f.reg, f.env, item, migrationRestore(stageImage, nil))
	if err != nil {
		t.Fatal(err)
	}
	if out.SkipRestore || !reflect.DeepEqual(output(t, out).Object, want.Object) {
		t.Fatalf("disabled general restore still applied: skip=%v %v", out.SkipRestore, output(t, out).Object)
	}
	out, err = actiontest.RunRestore(t, f.reg, f.env, labelled(appPod(), nil), migrationRestore(stageImage, nil))
	if err != nil {
		t.Fatal(err)
	}
	if img := output(t, out).Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]; img != stageImage {
		t.Fatalf("stage pod not restored with the general restore disabled: image %v", img)
	}
}

func TestMalformed(t *testing.T) {
	spec := func(o *unstructured.Unstructured) map[string]any { return o.Object["spec"].(map[string]any) }
	meta := func(o *unstructured.Unstructured) map[string]any { return o.Object["metadata"].(map[string]any) }
	container := func(o *unstructured.Unstructured) map[string]any {
		return spec(o)["containers"].([]any)[0].(map[string]any)
	}
	tests := []struct {
		name  string
		edit  func(o *unstructured.Unstructured)
		field string
	}{
		{"labels not an object", func(o *unstructured.Unstructured) { meta(o)["labels"] = "x" }, "metadata.labels"},
		{"annotations not an object", func(o *unstructured.Unstructured) { meta(o)["annotations"] = []any{} }, "metadata.annotations"},
		{"exclude-pvcs not a string", func(o *unstructured.Unstructured) {
			meta(o)["annotations"].(map[string]any)[migration.ExcludePVCsAnnotation] = int64(1)
		}, "metadata.annotations." + migration.ExcludePVCsAnnotation},
		{"no spec", func(o *unstructured.Unstructured) { delete(o.Object, "spec") }, "spec"},
		{"spec not an object", func(o *unstructured.Unstructured) { o.Object["spec"] = "x" }, "spec"},
		{"volumes not a list", func(o *unstructured.Unstructured) { spec(o)["volumes"] = map[string]any{} }, "spec.volumes"},
		{"volume not an object", func(o *unstructured.Unstructured) { spec(o)["volumes"] = []any{"x"} }, "spec.volumes[0]"},
		{"volume name not a string", func(o *unstructured.Unstructured) {
			spec(o)["volumes"] = []any{map[string]any{"name": int64(1)}}
		}, "spec.volumes[0].name"},
		{"persistentVolumeClaim not an object", func(o *unstructured.Unstructured) {
			spec(o)["volumes"] = []any{map[string]any{"name": "d", "persistentVolumeClaim": "c"}}
		}, "spec.volumes[0].persistentVolumeClaim"},
		{"containers not a list", func(o *unstructured.Unstructured) { spec(o)["containers"] = "x" }, "spec.containers"},
		{"container not an object", func(o *unstructured.Unstructured) { spec(o)["containers"] = []any{"x"} }, "spec.containers[0]"},
		{"volumeMounts not a list", func(o *unstructured.Unstructured) { container(o)["volumeMounts"] = "x" }, "spec.containers[0].volumeMounts"},
		{"mount name not a string", func(o *unstructured.Unstructured) {
			container(o)["volumeMounts"] = []any{map[string]any{"mountPath": "/x", "name": true}}
		}, "spec.containers[0].volumeMounts[0].name"},
		{"volumeDevices entry not an object", func(o *unstructured.Unstructured) {
			spec(o)["containers"].([]any)[1].(map[string]any)["volumeDevices"] = []any{int64(1)}
		}, "spec.containers[1].volumeDevices[0]"},
		{"initContainers not a list", func(o *unstructured.Unstructured) { spec(o)["initContainers"] = "x" }, "spec.initContainers"},
		{"init container name not a string", func(o *unstructured.Unstructured) {
			spec(o)["initContainers"] = []any{map[string]any{"name": int64(1)}}
		}, "spec.initContainers[0].name"},
		{"pull secret entry malformed", func(o *unstructured.Unstructured) { spec(o)["imagePullSecrets"] = []any{"x"} }, "spec.imagePullSecrets[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig(), "app")
			item := labelled(appPod(), nil)
			tt.edit(item)
			_, err := actiontest.RunRestore(t, f.reg, f.env, item, migrationRestore(stageImage, nil))
			actiontest.ErrorNames(t, err, tt.field, "Pod app/web-1", RestoreName)
			actiontest.NoPanic(t, []byte(tt.name), err)
		})
	}
}

func TestRegistrations(t *testing.T) {
	regs := Registrations()
	if len(regs) != 1 || regs[0].Name != "migration.openshift.io/05-pod-restore" || regs[0].Kind != action.KindRestore {
		t.Fatalf("registrations %+v", regs)
	}
	if _, err := regs[0].New(actiontest.Env()); err == nil {
		t.Fatal("built without API clients")
	}
	env := actiontest.Env()
	env.Clients = clients.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	if got := actiontest.AppliesTo(t, action.Registration{Name: regs[0].Name, Kind: regs[0].Kind, New: func(action.Env) (any, error) {
		return regs[0].New(env)
	}}); !reflect.DeepEqual(got, []string{"pods"}) {
		t.Fatalf("AppliesTo %v", got)
	}
}

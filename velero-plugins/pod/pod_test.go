package pod

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/pullsecret"
	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

// destination returns a fake destination cluster: nodes, and in each namespace the default SA with
// the dockercfg secret the destination minted for it (4.16+ style).
func destination(namespaces []string, nodes ...string) *fake.Clientset {
	var objs []runtime.Object
	for _, n := range nodes {
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{HostnameLabel: n}}})
	}
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

func testEnv() action.Env {
	env := actiontest.Env()
	cfg := config.Default()
	cfg.PullSecretWait = 0
	env.Config = config.Static(cfg)
	return env
}

type fixture struct {
	kube *fake.Clientset
	dyn  *dynamicfake.FakeDynamicClient
	reg  action.Registration
	env  action.Env
}

func newFixture(kube *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) *fixture {
	env := testEnv()
	finder := &pullsecret.Finder{Client: kube.CoreV1(), Poll: 10 * time.Millisecond}
	a := NewRestore(env, kube.CoreV1(), dyn, finder)
	return &fixture{kube: kube, dyn: dyn, env: env, reg: actiontest.Registration(RestoreName, action.KindRestore, a)}
}

// podObject is a realistic backed-up pod in namespace app.
func podObject() *unstructured.Unstructured {
	return actiontest.FromSource(actiontest.Object("v1", "Pod", "app", "web-1-abcde", map[string]any{
		"spec": map[string]any{
			"nodeName":     "src-node-1",
			"nodeSelector": map[string]any{HostnameLabel: "src-node-1", "node-role.kubernetes.io/worker": ""},
			"containers": []any{
				map[string]any{"name": "web", "image": src + "/app/web:v1"},
				map[string]any{"name": "proxy", "image": "quay.io/example/proxy:2"},
			},
			"imagePullSecrets": []any{map[string]any{"name": "default-dockercfg-abcde"}, map[string]any{"name": "my-registry"}},
			"volumes":          []any{map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}}},
		},
	}))
}

func run(t *testing.T, f *fixture, item *unstructured.Unstructured, restore *velerov1.Restore) (*unstructured.Unstructured, bool, error) {
	t.Helper()
	out, err := actiontest.RunRestore(t, f.reg, f.env, item, restore)
	if err != nil {
		return nil, false, err
	}
	obj, oerr := action.Object(out.UpdatedItem)
	if oerr != nil {
		t.Fatal(oerr)
	}
	return obj, out.SkipRestore, nil
}

func TestRestoreStandalonePod(t *testing.T) {
	tests := []struct {
		name    string
		mapping map[string]string
		target  string
	}{
		{"same namespace", nil, "app"},
		{"mapped namespace", map[string]string{"app": "app-copy"}, "app-copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(destination([]string{tt.target}, "dst-node-1"), actiontest.PodVolumeBackups())
			item := podObject()
			want := item.DeepCopy()
			spec := want.Object["spec"].(map[string]any)
			delete(spec, "nodeName")
			spec["nodeSelector"] = map[string]any{"node-role.kubernetes.io/worker": ""}
			spec["containers"].([]any)[0].(map[string]any)["image"] = dst + "/" + tt.target + "/web:v1"
			spec["imagePullSecrets"].([]any)[0].(map[string]any)["name"] = "default-dockercfg-zzzzz"

			got, skip, err := run(t, f, item, actiontest.Restore(tt.mapping))
			if err != nil || skip {
				t.Fatalf("Execute: %v skip=%v", err, skip)
			}
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("restored pod\n got %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func ownedBy(obj *unstructured.Unstructured, kind, name string, controller bool) *unstructured.Unstructured {
	obj.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion": "v1", "kind": kind, "name": name, "uid": "owner-uid", "controller": controller}}
	return obj
}

func withMeta(obj *unstructured.Unstructured, labels, annotations map[string]string) *unstructured.Unstructured {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		l[k] = v
	}
	obj.SetLabels(l)
	a := obj.GetAnnotations()
	for k, v := range annotations {
		a[k] = v
	}
	obj.SetAnnotations(a)
	return obj
}

func dcPod() *unstructured.Unstructured {
	return withMeta(ownedBy(podObject(), "ReplicationController", "web-1", true),
		map[string]string{"app": "web", keys.DeploymentLabel: "web-1", keys.DeploymentConfigLabel: "web"},
		map[string]string{keys.DeploymentConfigAnnotation: "web"})
}

func TestRestoreSkipsAndKeeps(t *testing.T) {
	hookSpec := func(ns string, sel map[string]string) *velerov1.Restore {
		r := actiontest.Restore(map[string]string{"app": "app-copy"})
		spec := velerov1.RestoreResourceHookSpec{Name: "warm", IncludedNamespaces: []string{ns},
			PostHooks: []velerov1.RestoreResourceHook{{Exec: &velerov1.ExecRestoreHook{Command: []string{"true"}}}}}
		if sel != nil {
			spec.LabelSelector = &metav1.LabelSelector{MatchLabels: sel}
		}
		r.Spec.Hooks.Resources = []velerov1.RestoreResourceHookSpec{spec}
		return r
	}
	tests := []struct {
		name       string
		item       *unstructured.Unstructured
		restore    *velerov1.Restore
		pvbs       []runtime.Object
		wantSkip   bool
		wantDetach bool
	}{
		{"build pod", withMeta(podObject(), nil, map[string]string{keys.BuildName: "web-3"}), actiontest.Restore(nil), nil, true, false},
		{"replicaset pod without reasons", ownedBy(podObject(), "ReplicaSet", "web-5d8", true), actiontest.Restore(nil), nil, true, false},
		{"dc pod without reasons", dcPod(), actiontest.Restore(nil), nil, true, false},
		{"non-controller owner only", ownedBy(podObject(), "ConfigMap", "x", false), actiontest.Restore(nil), nil, false, false},
		{"replicaset pod with volume annotation but no pod volume backup", withMeta(ownedBy(podObject(), "ReplicaSet", "web-5d8", true), nil, map[string]string{keys.VeleroBackupVolumes: "data"}),
			actiontest.Restore(nil), nil, true, false},
		{"replicaset pod with pod volume backup", ownedBy(podObject(), "ReplicaSet", "web-5d8", true), actiontest.Restore(nil),
			[]runtime.Object{actiontest.PodVolumeBackup("app", "web-1-abcde", "data", "snap")}, false, false},
		{"pod volume backup of another pod", ownedBy(podObject(), "ReplicaSet", "web-5d8", true), actiontest.Restore(nil),
			[]runtime.Object{actiontest.PodVolumeBackup("app", "web-1-other", "data", "snap")}, true, false},
		{"dc pod with volume annotation but no pod volume backup", withMeta(dcPod(), nil, map[string]string{keys.VeleroBackupVolumes: "data"}), actiontest.Restore(nil), nil, true, false},
		{"dc pod with pod volume backup without a snapshot", dcPod(), actiontest.Restore(nil), []runtime.Object{actiontest.PodVolumeBackup("app", "web-1-abcde", "data", "")}, true, false},
		{"dc pod with pod volume backup is detached", dcPod(), actiontest.Restore(nil), []runtime.Object{actiontest.PodVolumeBackup("app", "web-1-abcde", "data", "snap")}, false, true},
		{"dc pod with hook annotation", withMeta(dcPod(), nil, map[string]string{keys.VeleroPostRestoreHookCommand: "true"}), actiontest.Restore(nil), nil, false, true},
		{"dc pod with restore hook in target namespace", dcPod(), hookSpec("app-copy", map[string]string{"app": "web"}), nil, false, true},
		{"restore hook names the source namespace only", dcPod(), hookSpec("app", nil), nil, true, false},
		{"restore hook selects other pods", dcPod(), hookSpec("app-copy", map[string]string{"app": "db"}), nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tt.restore.Spec.NamespaceMapping["app"]
			if ns == "" {
				ns = "app"
			}
			f := newFixture(destination([]string{ns}, "dst-node-1"), actiontest.PodVolumeBackups(tt.pvbs...))
			before := actiontest.ResetLikeVelero(tt.item.DeepCopy())
			got, skip, err := run(t, f, tt.item, tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			if skip != tt.wantSkip {
				t.Fatalf("skip = %v, want %v", skip, tt.wantSkip)
			}
			if skip {
				if !reflect.DeepEqual(got.Object, before.Object) {
					t.Fatalf("skipped item was changed")
				}
				return
			}
			l := got.GetLabels()
			_, hasDC := l[keys.DeploymentConfigLabel]
			_, hasDeployment := l[keys.DeploymentLabel]
			detached := l[keys.DisconnectedFromDC] == tt.restore.Name && !hasDC && !hasDeployment
			if detached != tt.wantDetach {
				t.Fatalf("detached = %v, want %v (labels %v)", detached, tt.wantDetach, l)
			}
			if before.GetLabels()["app"] != "" && l["app"] != before.GetLabels()["app"] {
				t.Fatalf("unrelated label lost: %v", l)
			}
			if _, ok := l[keys.DisconnectedFromDC]; ok && !tt.wantDetach {
				t.Fatalf("not a DC pod but labelled disconnected: %v", l)
			}
		})
	}
}

func TestDetachLongRestoreName(t *testing.T) {
	f := newFixture(destination([]string{"app"}), actiontest.PodVolumeBackups(actiontest.PodVolumeBackup("app", "web-1-abcde", "data", "snap")))
	r := actiontest.Restore(nil)
	r.Name = strings.Repeat("r", 80)
	got, _, err := run(t, f, dcPod(), r)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.GetLabels()[keys.DisconnectedFromDC]; len(v) != 63 || !strings.HasPrefix(v, r.Name[:57]) {
		t.Fatalf("label value %q is not a valid label value for the restore name", v)
	}
}

func TestNodePinning(t *testing.T) {
	tests := []struct {
		name         string
		nodeSelector any
		nodeName     any
		nodes        []string
		wantSelector any // nil: field absent
		wantNodeName any
	}{
		{"node exists: kept", map[string]any{HostnameLabel: "n1"}, "n1", []string{"n1"}, map[string]any{HostnameLabel: "n1"}, "n1"},
		{"node absent: dropped, others kept", map[string]any{HostnameLabel: "old", "topology.kubernetes.io/zone": "a"}, "old", []string{"n1"},
			map[string]any{"topology.kubernetes.io/zone": "a"}, nil},
		{"only hostname: field removed", map[string]any{HostnameLabel: "old"}, nil, []string{"n1"}, nil, nil},
		{"empty hostname dropped", map[string]any{HostnameLabel: "", "role": "infra"}, nil, []string{"n1"}, map[string]any{"role": "infra"}, nil},
		{"no hostname pin: untouched", map[string]any{"role": "infra"}, nil, nil, map[string]any{"role": "infra"}, nil},
		{"nodeName only", nil, "old", []string{"n1"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := podObject()
			spec := item.Object["spec"].(map[string]any)
			delete(spec, "nodeSelector")
			delete(spec, "nodeName")
			if tt.nodeSelector != nil {
				spec["nodeSelector"] = tt.nodeSelector
			}
			if tt.nodeName != nil {
				spec["nodeName"] = tt.nodeName
			}
			f := newFixture(destination([]string{"app"}, tt.nodes...), actiontest.PodVolumeBackups())
			got, _, err := run(t, f, item, actiontest.Restore(nil))
			if err != nil {
				t.Fatal(err)
			}
			gs := got.Object["spec"].(map[string]any)
			if !reflect.DeepEqual(gs["nodeSelector"], tt.wantSelector) {
				t.Errorf("nodeSelector = %v, want %v", gs["nodeSelector"], tt.wantSelector)
			}
			if !reflect.DeepEqual(gs["nodeName"], tt.wantNodeName) {
				t.Errorf("nodeName = %v, want %v", gs["nodeName"], tt.wantNodeName)
			}
		})
	}
}

func nodeLists(c *fake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "nodes" {
			n++
		}
	}
	return n
}

func TestNodesListedOncePerRestore(t *testing.T) {
	f := newFixture(destination([]string{"app"}, "n1"), actiontest.PodVolumeBackups())
	for i := 0; i < 3; i++ {
		if _, _, err := run(t, f, podObject(), actiontest.Restore(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if n := nodeLists(f.kube); n != 1 {
		t.Fatalf("%d node lists for one restore, want 1", n)
	}
	r2 := actiontest.Restore(nil)
	r2.UID = "other-restore"
	if _, _, err := run(t, f, podObject(), r2); err != nil {
		t.Fatal(err)
	}
	if n := nodeLists(f.kube); n != 2 {
		t.Fatalf("%d node lists for two restores, want 2", n)
	}
}

func TestNodeListFailureKeepsPinning(t *testing.T) {
	kube := destination([]string{"app"})
	kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	f := newFixture(kube, actiontest.PodVolumeBackups())
	got, _, err := run(t, f, podObject(), actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	if sel, _ := got.Object["spec"].(map[string]any)["nodeSelector"].(map[string]any); sel[HostnameLabel] != "src-node-1" {
		t.Fatalf("pinning dropped without knowing the nodes: %v", sel)
	}
}

func TestPullSecrets(t *testing.T) {
	t.Run("no destination secret keeps the name", func(t *testing.T) {
		f := newFixture(destination(nil, "n1"), actiontest.PodVolumeBackups())
		got, _, err := run(t, f, podObject(), actiontest.Restore(nil))
		if err != nil {
			t.Fatal(err)
		}
		names := got.Object["spec"].(map[string]any)["imagePullSecrets"].([]any)
		if names[0].(map[string]any)["name"] != "default-dockercfg-abcde" || names[1].(map[string]any)["name"] != "my-registry" {
			t.Fatalf("imagePullSecrets = %v", names)
		}
	})
	t.Run("no finder: error only when a rename is needed", func(t *testing.T) {
		env := testEnv()
		kube := destination([]string{"app"}, "n1")
		reg := actiontest.Registration(RestoreName, action.KindRestore, NewRestore(env, kube.CoreV1(), actiontest.PodVolumeBackups(), nil))
		_, err := actiontest.RunRestore(t, reg, env, podObject(), actiontest.Restore(nil))
		actiontest.ErrorNames(t, err, "imagePullSecrets", "default-dockercfg-abcde")
		item := podObject()
		item.Object["spec"].(map[string]any)["imagePullSecrets"] = []any{map[string]any{"name": "my-registry"}}
		if _, err := actiontest.RunRestore(t, reg, env, item, actiontest.Restore(nil)); err != nil {
			t.Fatalf("no rename needed but: %v", err)
		}
	})
	t.Run("answers are cached by the finder", func(t *testing.T) {
		f := newFixture(destination([]string{"app"}, "n1"), actiontest.PodVolumeBackups())
		for i := 0; i < 3; i++ {
			if _, _, err := run(t, f, podObject(), actiontest.Restore(nil)); err != nil {
				t.Fatal(err)
			}
		}
		gets := 0
		for _, a := range f.kube.Actions() {
			if a.GetVerb() == "get" && a.GetResource().Resource == "serviceaccounts" {
				gets++
			}
		}
		if gets != 1 {
			t.Fatalf("%d service account lookups, want 1", gets)
		}
	})
}

func TestBadInputIsNamedError(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(obj *unstructured.Unstructured)
		field string
	}{
		{"nodeSelector not an object", func(o *unstructured.Unstructured) { spec(o)["nodeSelector"] = "x" }, "spec.nodeSelector"},
		{"hostname not a string", func(o *unstructured.Unstructured) { spec(o)["nodeSelector"] = map[string]any{HostnameLabel: int64(3)} }, "spec.nodeSelector[kubernetes.io/hostname]"},
		{"nodeName not a string", func(o *unstructured.Unstructured) { spec(o)["nodeName"] = true }, "spec.nodeName"},
		{"bad internal image", func(o *unstructured.Unstructured) {
			spec(o)["containers"].([]any)[0].(map[string]any)["image"] = src + "/App/Web:v1"
		}, "spec.containers[0].image"},
		{"image not a string", func(o *unstructured.Unstructured) {
			spec(o)["containers"].([]any)[1].(map[string]any)["image"] = int64(5)
		}, "spec.containers[1].image"},
		{"pull secret entry malformed", func(o *unstructured.Unstructured) { spec(o)["imagePullSecrets"] = []any{"x"} }, "spec.imagePullSecrets[0]"},
		{"ownerReferences malformed", func(o *unstructured.Unstructured) {
			o.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"kind": int64(1)}}
		}, "metadata.ownerReferences[0].kind"},
		{"labels malformed on detach", func(o *unstructured.Unstructured) {
			ownedBy(o, "ReplicationController", "web-1", true)
			withMeta(o, nil, map[string]string{keys.DeploymentConfigAnnotation: "web", keys.VeleroPostRestoreHookCommand: "true"})
			o.Object["metadata"].(map[string]any)["labels"] = []any{"x"}
		}, "metadata.labels"},
		{"a label not a string on detach", func(o *unstructured.Unstructured) {
			ownedBy(o, "ReplicationController", "web-1", true)
			withMeta(o, nil, map[string]string{keys.DeploymentConfigAnnotation: "web", keys.VeleroPostRestoreHookCommand: "true"})
			o.Object["metadata"].(map[string]any)["labels"] = map[string]any{"tier": int64(1)}
		}, "metadata.labels.tier: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(destination([]string{"app"}, "n1"), actiontest.PodVolumeBackups())
			item := podObject()
			tt.edit(item)
			_, _, err := run(t, f, item, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.field, "app/web-1-abcde")
			if strings.Contains(err.Error(), "recovered panic") {
				t.Fatalf("panicked: %v", err)
			}
		})
	}
}

func spec(o *unstructured.Unstructured) map[string]any { return o.Object["spec"].(map[string]any) }

// TestRegistrationNeedsClients: the registration refuses to build without API clients
// (general_test pins names, kinds and resources).
func TestRegistrationNeedsClients(t *testing.T) {
	if _, err := Registrations()[0].New(testEnv()); err == nil {
		t.Fatal("New without clients succeeded")
	}
}

// A pod running as a custom service account references that account's generated dockercfg
// secret, which the secret restore skips: it is swapped to the one the destination minted for the
// same account (dashes in the account name included); user-named secrets stay.
func TestRestoreSwapsPullSecretsOfAnyServiceAccount(t *testing.T) {
	finder, kube := actiontest.MintedSecrets("app2/db", "app2/my-app", "app2/default")
	env := testEnv()
	reg := actiontest.Registration(RestoreName, action.KindRestore, NewRestore(env, kube.CoreV1(), actiontest.PodVolumeBackups(), finder))
	item := podObject()
	spec(item)["serviceAccountName"] = "db"
	spec(item)["imagePullSecrets"] = []any{
		map[string]any{"name": "db-dockercfg-abcde"},
		map[string]any{"name": "my-app-dockercfg-fghij"},
		map[string]any{"name": "default-dockercfg-abcde"},
		map[string]any{"name": "db-pull-secret"},
	}
	out, err := actiontest.RunRestore(t, reg, env, item, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil || out.SkipRestore {
		t.Fatalf("Execute: %v", err)
	}
	got, _ := action.Object(out.UpdatedItem)
	var names []string
	for _, s := range spec(got)["imagePullSecrets"].([]any) {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	want := []string{actiontest.Minted("db"), actiontest.Minted("my-app"), actiontest.Minted("default"), "db-pull-secret"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("imagePullSecrets = %v, want %v", names, want)
	}
}

// A failure to list PodVolumeBackups is never cached into "no volumes": a quick failure is
// retried within the item, a lasting one fails that item only, naming what failed, and the next
// item lists again.
func TestRestoreWhenPodVolumeBackupListFails(t *testing.T) {
	internal := apierrors.NewInternalError(errors.New("etcdserver: leader changed"))
	timeout := fmt.Errorf("client rate limiter: %w", context.DeadlineExceeded)
	tests := []struct {
		name      string
		errs      []error
		firstErr  bool // the first pod fails
		wantLists int  // after both pods
	}{
		{"a blip is retried within the item", []error{internal}, false, 2},
		{"an outage fails one item, the next lists again", []error{internal, internal, internal}, true, 4},
		{"a client-side timeout is not retried within the item", []error{timeout}, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(destination([]string{"app"}, "n1"), actiontest.PodVolumeBackups(actiontest.PodVolumeBackup("app", "web-1-abcde", "data", "snap")))
			calls := retrytest.FailFirst(&f.dyn.Fake, "list", "podvolumebackups", tt.errs...)
			restore := actiontest.Restore(nil)
			got, skip, err := run(t, f, dcPod(), restore)
			if tt.firstErr {
				actiontest.ErrorNames(t, err, "PodVolumeBackups", "app/web-1-abcde")
			} else if err != nil || skip || got.GetLabels()[keys.DisconnectedFromDC] == "" {
				t.Fatalf("first pod: skip %v, err %v; want restored and detached", skip, err)
			}
			got, skip, err = run(t, f, dcPod(), restore)
			if err != nil || skip {
				t.Fatalf("second pod: skip %v, err %v; want restored", skip, err)
			}
			if got.GetLabels()[keys.DisconnectedFromDC] == "" {
				t.Fatalf("second pod not detached: labels %v", got.GetLabels())
			}
			if *calls != tt.wantLists {
				t.Fatalf("%d PodVolumeBackup lists, want %d", *calls, tt.wantLists)
			}
		})
	}
}

package replicationcontroller

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

func dcObj(ns, name string, paused bool) *unstructured.Unstructured {
	return actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", ns, name, map[string]any{
		"spec": map[string]any{"replicas": int64(1), "paused": paused}})
}

func dcClient(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{DeploymentConfigs: "DeploymentConfigList"}, objs...)
}

// rcObj is an RC in namespace app; owner "" means none, "annotation:<dc>" the DC annotation only.
func rcObj(name, owner string) *unstructured.Unstructured {
	rc := actiontest.FromSource(actiontest.Object("v1", "ReplicationController", "app", name, map[string]any{
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"deployment": name},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"deployment": name}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "image": src + "/app/web:v1"},
					map[string]any{"name": "proxy", "image": "quay.io/example/proxy:2"},
				}},
			},
		},
	}))
	switch {
	case strings.HasPrefix(owner, "annotation:"):
		a := rc.GetAnnotations()
		a[keys.DeploymentConfigAnnotation] = strings.TrimPrefix(owner, "annotation:")
		rc.SetAnnotations(a)
	case owner != "":
		rc.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
			"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig", "name": owner, "uid": "dc-uid", "controller": true}}
	}
	return rc
}

func dcLists(c *dynamicfake.FakeDynamicClient) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" {
			n++
		}
	}
	return n
}

func TestBackupMarksRCsOfPausedDCs(t *testing.T) {
	tests := []struct {
		name      string
		rc        *unstructured.Unstructured
		wantMark  bool
		wantLists int
	}{
		{"owner reference, paused", rcObj("web-3", "web"), true, 1},
		{"owner reference, running", rcObj("api-1", "api"), false, 1},
		{"annotation only, paused", rcObj("web-2", "annotation:web"), true, 1},
		{"DC gone", rcObj("old-1", "old"), false, 1},
		{"standalone RC", rcObj("plain", ""), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := dcClient(dcObj("app", "web", true), dcObj("app", "api", false), dcObj("other", "old", true))
			env := actiontest.Env()
			reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, client))
			want := tt.rc.DeepCopy()
			if tt.wantMark {
				a := want.GetAnnotations()
				a[keys.PausedOwnerRef] = "true"
				want.SetAnnotations(a)
			}
			out, _, err := actiontest.RunBackup(t, reg, env, tt.rc, actiontest.Backup())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Fatalf("backed-up RC\n got %v\nwant %v", out.Object, want.Object)
			}
			if n := dcLists(client); n != tt.wantLists {
				t.Fatalf("%d DC lists, want %d", n, tt.wantLists)
			}
		})
	}
}

func TestBackupListsOncePerNamespacePerBackup(t *testing.T) {
	client := dcClient(dcObj("app", "web", true))
	env := actiontest.Env()
	reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, client))
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		if _, _, err := actiontest.RunBackup(t, reg, env, rcObj(name, "web"), actiontest.Backup()); err != nil {
			t.Fatal(err)
		}
	}
	if n := dcLists(client); n != 1 {
		t.Fatalf("%d lists, want 1", n)
	}
	b2 := actiontest.Backup()
	b2.UID = "backup-2"
	if _, _, err := actiontest.RunBackup(t, reg, env, rcObj("web-1", "web"), b2); err != nil {
		t.Fatal(err)
	}
	if n := dcLists(client); n != 2 {
		t.Fatalf("%d lists after a second backup, want 2", n)
	}
}

func TestBackupErrors(t *testing.T) {
	env := actiontest.Env()
	t.Run("list failure is an error and not cached", func(t *testing.T) {
		client := dcClient(dcObj("app", "web", true))
		fail := true
		client.PrependReactor("list", "deploymentconfigs", func(k8stesting.Action) (bool, runtime.Object, error) {
			if fail {
				return true, nil, errors.New("timeout")
			}
			return false, nil, nil
		})
		reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, client))
		if _, _, err := actiontest.RunBackup(t, reg, env, rcObj("web-1", "web"), actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "listing DeploymentConfigs") {
			t.Fatalf("err = %v", err)
		}
		fail = false
		out, _, err := actiontest.RunBackup(t, reg, env, rcObj("web-1", "web"), actiontest.Backup())
		if err != nil || out.GetAnnotations()[keys.PausedOwnerRef] != "true" {
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("no DeploymentConfig API", func(t *testing.T) {
		client := dcClient()
		client.PrependReactor("list", "deploymentconfigs", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "apps.openshift.io", Resource: "deploymentconfigs"}, "")
		})
		reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, client))
		out, _, err := actiontest.RunBackup(t, reg, env, rcObj("web-1", "web"), actiontest.Backup())
		if err != nil || out.GetAnnotations()[keys.PausedOwnerRef] != "" {
			t.Fatalf("err %v annotations %v", err, out.GetAnnotations())
		}
	})
	t.Run("malformed input", func(t *testing.T) {
		reg := actiontest.Registration(BackupName, action.KindBackup, NewBackup(env, dcClient(dcObj("app", "web", true))))
		bad := rcObj("web-1", "")
		bad.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"kind": true}}
		if _, _, err := actiontest.RunBackup(t, reg, env, bad, actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "metadata.ownerReferences[0].kind") {
			t.Fatalf("err = %v", err)
		}
		bad = rcObj("web-1", "web")
		bad.Object["metadata"].(map[string]any)["annotations"] = []any{}
		if _, _, err := actiontest.RunBackup(t, reg, env, bad, actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "metadata.annotations") {
			t.Fatalf("err = %v", err)
		}
		bad = rcObj("web-1", "web")
		bad.Object["metadata"].(map[string]any)["annotations"] = map[string]any{"note": int64(1)}
		if _, _, err := actiontest.RunBackup(t, reg, env, bad, actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "metadata.annotations.note: expected a string") {
			t.Fatalf("an annotation not a string: err = %v", err)
		}
	})
}

func restoreReg() action.Registration {
	return Registrations()[1]
}

func TestRestore(t *testing.T) {
	marked := func(rc *unstructured.Unstructured) *unstructured.Unstructured {
		a := rc.GetAnnotations()
		a[keys.PausedOwnerRef] = "true"
		rc.SetAnnotations(a)
		return rc
	}
	tests := []struct {
		name     string
		rc       *unstructured.Unstructured
		mapping  map[string]string
		wantSkip bool
		image    string
	}{
		{"owned by a DC", rcObj("web-3", "web"), nil, true, ""},
		{"annotated with a DC", rcObj("web-3", "annotation:web"), nil, true, ""},
		{"owned by a paused DC", marked(rcObj("web-3", "web")), map[string]string{"app": "app2"}, false, dst + "/app2/web:v1"},
		{"standalone", rcObj("plain", ""), nil, false, dst + "/app/web:v1"},
		{"standalone, mapped", rcObj("plain", ""), map[string]string{"app": "app2"}, false, dst + "/app2/web:v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := actiontest.ResetLikeVelero(tt.rc.DeepCopy())
			out, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), tt.rc, actiontest.Restore(tt.mapping))
			if err != nil {
				t.Fatal(err)
			}
			if out.SkipRestore != tt.wantSkip {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.wantSkip)
			}
			if !tt.wantSkip {
				want.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = tt.image
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("restored RC\n got %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func TestRestoreReadsOwnerFromBackup(t *testing.T) {
	// Velero clears ownerReferences on the item before restore actions run.
	fromBackup := rcObj("web-3", "web")
	item := fromBackup.DeepCopy()
	delete(item.Object["metadata"].(map[string]any), "ownerReferences")
	w, _ := action.Wrap(restoreReg(), actiontest.Env())
	out, err := w.(*action.GuardedRestore).Execute(&velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: fromBackup, Restore: actiontest.Restore(nil)})
	if err != nil || !out.SkipRestore {
		t.Fatalf("skip = %v, err %v", out != nil && out.SkipRestore, err)
	}
}

func TestRestoreBadInput(t *testing.T) {
	bad := rcObj("plain", "")
	bad.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = src + "/App/X"
	_, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), bad, actiontest.Restore(nil))
	actiontest.ErrorNames(t, err, "spec.template.spec.containers[0].image", "app/plain")
	bad = rcObj("plain", "")
	bad.Object["metadata"].(map[string]any)["ownerReferences"] = "x"
	if _, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), bad, actiontest.Restore(nil)); err == nil || !strings.Contains(err.Error(), "metadata.ownerReferences") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzExecute feeds arbitrary JSON objects as ReplicationControllers to the restore action.
func FuzzExecute(f *testing.F) {
	data, _ := json.Marshal(rcObj("web-3", "web").Object)
	f.Add(data)
	f.Add([]byte(`{"metadata":{"ownerReferences":[null,{"kind":"DeploymentConfig"}],"annotations":{"openshift.io/paused-owner-ref":"true"}},"spec":{"template":{"spec":{"initContainers":[{"image":"image-registry.openshift-image-registry.svc:5000/a/b"}]}}}}`))
	f.Add([]byte(`{"metadata":7,"spec":{"template":[]}}`))
	reg, env := restoreReg(), actiontest.Env()
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "v1", "ReplicationController")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, reg, env, item, actiontest.Restore(map[string]string{"a": "b"}))
		actiontest.NoPanic(t, data, err)
	})
}

// A restored ReplicationController's pod template gets the pod's pull-secret swap: generated
// dockercfg secrets of any service account become the destination's, user-named ones stay.
func TestRestoreSwapsPullSecretsOfAnyServiceAccount(t *testing.T) {
	finder, _ := actiontest.MintedSecrets("app2/db", "app2/my-app")
	env := actiontest.Env()
	env.PullSecrets = finder
	rc := rcObj("plain", "")
	spec := rc.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["serviceAccountName"] = "db"
	spec["imagePullSecrets"] = []any{
		map[string]any{"name": "db-dockercfg-abcde"}, map[string]any{"name": "my-app-dockercfg-fghij"}, map[string]any{"name": "registry-creds"},
	}
	out, err := actiontest.RunRestore(t, restoreReg(), env, rc, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil || out.SkipRestore {
		t.Fatalf("Execute: %v", err)
	}
	got, _ := action.Object(out.UpdatedItem)
	secrets, _, _ := unstructured.NestedSlice(got.Object, "spec", "template", "spec", "imagePullSecrets")
	var names []string
	for _, s := range secrets {
		names = append(names, s.(map[string]any)["name"].(string))
	}
	if want := []string{actiontest.Minted("db"), actiontest.Minted("my-app"), "registry-creds"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("imagePullSecrets = %v, want %v", names, want)
	}
}

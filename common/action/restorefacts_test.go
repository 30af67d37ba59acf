package action_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
)

// backupServer serves the Backup of actiontest.Restore with the source version Velero records,
// counting the reads.
func backupServer(t *testing.T, reads *atomic.Int32) *rest.Config {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/velero.io/v1/namespaces/velero/backups/backup-1" {
			http.NotFound(w, r)
			return
		}
		reads.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&velerov1.Backup{
			TypeMeta: metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "Backup"},
			ObjectMeta: metav1.ObjectMeta{Name: "backup-1", Namespace: "velero", Annotations: map[string]string{
				velerov1.SourceClusterK8sMajorVersionAnnotation: "1", velerov1.SourceClusterK8sMinorVersionAnnotation: "29+",
				velerov1.SourceClusterK8sGitVersionAnnotation: "v1.29.7+4510e9c"}}})
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func stamped(name string, skip bool, kind action.Kind) action.Registration {
	r := action.ItemRestoreRegistration(name, func(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
		if skip {
			return action.Skip(ri.Obj), nil
		}
		return action.Keep(ri.Obj), nil
	}, "pods")
	r.Kind = kind
	return action.WithRestoreFacts(r)
}

// The action that restores a pod, workload or image item writes the informational annotations
// the common restore action wrote in a call of its own: the destination facts always, and the
// source registry and Kubernetes version where the backup recorded none (the Kubernetes version
// from the Backup, read once per restore). Facts a backup recorded stay as they are; a skipped
// item is left alone.
func TestWithRestoreFacts(t *testing.T) {
	pod := func(a map[string]string) *unstructured.Unstructured {
		u := actiontest.Object("v1", "Pod", "app", "web", nil)
		u.SetAnnotations(a)
		return u
	}
	for _, tt := range []struct {
		name       string
		item       *unstructured.Unstructured
		skip       bool
		configured string
		want       map[string]string
	}{
		{name: "nothing recorded", item: pod(map[string]string{"app": "web"}), want: map[string]string{"app": "web",
			keys.RestoreServerVersion: "1.32", keys.RestoreOpenShiftVersion: "4.18.1", keys.RestoreRegistryHostname: actiontest.DestinationRegistry,
			keys.BackupRegistryHostname: "image-registry.openshift-image-registry.svc:5000", keys.BackupServerVersion: "1.29"}},
		{name: "nothing recorded, source registry configured", item: pod(nil), configured: "registry.a.example.com:5000", want: map[string]string{
			keys.RestoreServerVersion: "1.32", keys.RestoreOpenShiftVersion: "4.18.1", keys.RestoreRegistryHostname: actiontest.DestinationRegistry,
			keys.BackupRegistryHostname: "registry.a.example.com:5000", keys.BackupServerVersion: "1.29"}},
		{name: "recorded by an earlier version", item: pod(map[string]string{keys.BackupRegistryHostname: "registry.a.example.com:5000",
			keys.BackupServerVersion: "1.27", keys.RestoreOpenShiftVersion: "4.12.0"}), want: map[string]string{
			keys.BackupRegistryHostname: "registry.a.example.com:5000", keys.BackupServerVersion: "1.27",
			keys.RestoreServerVersion: "1.32", keys.RestoreOpenShiftVersion: "4.18.1", keys.RestoreRegistryHostname: actiontest.DestinationRegistry}},
		{name: "registry recorded (an image stream whose images were copied), no version", item: pod(map[string]string{
			keys.BackupRegistryHostname: "registry.a.example.com:5000"}), want: map[string]string{
			keys.BackupRegistryHostname: "registry.a.example.com:5000", keys.BackupServerVersion: "1.29",
			keys.RestoreServerVersion: "1.32", keys.RestoreOpenShiftVersion: "4.18.1", keys.RestoreRegistryHostname: actiontest.DestinationRegistry}},
		{name: "skipped", item: pod(map[string]string{"app": "web"}), skip: true, want: map[string]string{"app": "web"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var reads atomic.Int32
			env := actiontest.Env()
			env.Clients = clients.NewForConfig(backupServer(t, &reads))
			cfg := config.Default()
			cfg.BackupRegistryHostname = tt.configured
			env.Config = config.Static(cfg)
			restore := actiontest.Restore(nil)
			restore.UID = types.UID("restore-" + t.Name())
			for i := 0; i < 3; i++ {
				out, err := actiontest.RunRestore(t, stamped("test/restore", tt.skip, action.KindRestore), env, tt.item.DeepCopy(), restore)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := action.Object(out.UpdatedItem)
				if a := got.GetAnnotations(); len(a) != len(tt.want) {
					t.Fatalf("annotations = %v, want %v", a, tt.want)
				}
				for k, v := range tt.want {
					if got.GetAnnotations()[k] != v {
						t.Errorf("%s = %q, want %q", k, got.GetAnnotations()[k], v)
					}
				}
			}
			if n := reads.Load(); n > 1 {
				t.Errorf("the Backup was read %d times for 3 items of one restore, want at most once", n)
			}
		})
	}
}

// notReady is a v2 restore action whose additional items are never ready.
type notReady struct{}

func (notReady) AppliesTo() (velero.ResourceSelector, error) { return action.Resources("pods"), nil }
func (notReady) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	return action.Keep(in.Item), nil
}
func (notReady) AreAdditionalItemsReady([]velero.ResourceIdentifier, *velerov1.Restore) (bool, error) {
	return false, nil
}

// A wrapped v2 action is still served as v2 (Velero asks it whether additional items are ready),
// and annotations of the wrong type are an error naming the field, not silently replaced.
func TestWithRestoreFactsKeepsV2AndRefusesMalformedAnnotations(t *testing.T) {
	env := actiontest.Env()
	r := action.WithRestoreFacts(action.Registration{Name: "test/v2", Kind: action.KindRestoreV2,
		New: func(action.Env) (any, error) { return notReady{}, nil }})
	a, err := action.Wrap(r, env)
	if err != nil {
		t.Fatal(err)
	}
	ready, err := a.(interface {
		AreAdditionalItemsReady([]velero.ResourceIdentifier, *velerov1.Restore) (bool, error)
	}).AreAdditionalItemsReady(nil, actiontest.Restore(nil))
	if err != nil || ready {
		t.Fatalf("AreAdditionalItemsReady = %v, %v; want the wrapped action's answer (false)", ready, err)
	}
	item := actiontest.Object("v1", "Pod", "app", "web", nil)
	item.Object["metadata"].(map[string]any)["annotations"] = map[string]any{"replicas": int64(3)}
	_, err = actiontest.RunRestore(t, r, env, item, actiontest.Restore(nil))
	actiontest.ErrorNames(t, err, "test/v2", "metadata.annotations")
}

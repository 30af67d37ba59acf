package action_test

import (
	"errors"
	"strings"
	"testing"

	configv1 "github.com/openshift/api/config/v1"
	configfake "github.com/openshift/client-go/config/clientset/versioned/fake"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

var imagesGR = schema.GroupResource{Group: "config.openshift.io", Resource: "images"}

// registryUnknown is a destination whose registry host lookup failed.
func registryUnknown() clusterfacts.Partial {
	known := actiontest.DestinationFacts
	known.RegistryHostname, known.RegistryEnabled = "", false
	cause := apierrors.NewForbidden(imagesGR, "cluster", errors.New("RBAC"))
	return clusterfacts.Partial{Known: known, Unknown: clusterfacts.Unknowns{
		{Fact: clusterfacts.FactRegistryHostname, Lookup: "images.config.openshift.io/cluster", Err: cause},
		{Fact: clusterfacts.FactRegistryEnabled, Lookup: "images.config.openshift.io/cluster", Err: cause},
	}}
}

func hookedEnv() (action.Env, *logtest.Hook) {
	log, hook := logtest.NewNullLogger()
	env := actiontest.Env()
	env.Log = log
	env.FactWarnings = &action.FactWarnings{}
	return env, hook
}

func warnings(hook *logtest.Hook) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e)
		}
	}
	return out
}

func keepRestore(name string) action.Registration {
	return action.ItemRestoreRegistration(name, func(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
		return action.Keep(ri.Obj), nil
	}, "pods")
}

func TestRestoreItemWarnsOnceWhenDestinationRegistryIsUnknown(t *testing.T) {
	tests := []struct {
		name     string
		pod      func() *unstructured.Unstructured
		override string
		want     int
	}{
		{"item with internal images", sourcePod, "", 1},
		// Nothing recorded: OpenShift's registry hostnames are assumed, whose references cannot
		// be rewritten either.
		{"item without a recorded registry", plainPod, "", 1},
		{"item recorded without a source registry", func() *unstructured.Unstructured {
			p := plainPod()
			p.SetAnnotations(map[string]string{keys.BackupRegistryHostname: ""})
			return p
		}, "", 0},
		{"registry overridden by config", sourcePod, "registry.b.example.com", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, hook := hookedEnv()
			env.Facts = registryUnknown()
			cfg := config.Default()
			cfg.RestoreRegistryHostname = tt.override
			env.Config = config.Static(cfg)
			// Two actions handle the same item: it is warned once.
			for _, name := range []string{"test/first", "test/second"} {
				if _, err := actiontest.RunRestore(t, keepRestore(name), env, tt.pod(), actiontest.Restore(nil)); err != nil {
					t.Fatalf("%s: %v; an unknown fact must not fail the item", name, err)
				}
			}
			got := warnings(hook)
			if len(got) != tt.want {
				t.Fatalf("%d warnings, want %d: %v", len(got), tt.want, got)
			}
			if tt.want == 1 {
				msg := got[0].Message + " " + got[0].Data[logrus.ErrorKey].(error).Error() + " " + got[0].Data["item"].(string)
				for _, part := range []string{"registryHostname", "images.config.openshift.io/cluster", "RBAC", "not rewritten", "Pod app/web"} {
					if !strings.Contains(msg, part) {
						t.Fatalf("warning %q does not name %q", msg, part)
					}
				}
			}
		})
	}
}

// sourcePod was backed up with the source registry recorded; plainPod without.
func sourcePod() *unstructured.Unstructured {
	return actiontest.FromSource(actiontest.Object("v1", "Pod", "app", "web", nil))
}

func plainPod() *unstructured.Unstructured { return actiontest.Object("v1", "Pod", "app", "web", nil) }

func TestBackupItemWarnUnknownFactsHonoursOverride(t *testing.T) {
	env, hook := hookedEnv()
	env.Facts = registryUnknown()
	var bi *action.BackupItem
	reg := action.ItemBackupRegistration("test/backup", func(b *action.BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
		bi = b
		b.WarnUnknownFacts("recorded empty", clusterfacts.FactRegistryHostname, clusterfacts.FactAppsDomain)
		b.WarnUnknownFacts("recorded empty", clusterfacts.FactRegistryHostname)
		return b.Obj, nil, nil
	}, "pods")
	if _, _, err := actiontest.RunBackup(t, reg, env, plainPod(), actiontest.Backup()); err != nil {
		t.Fatal(err)
	}
	if w := warnings(hook); len(w) != 1 || w[0].Data["fact"] != clusterfacts.FactRegistryHostname || len(bi.UnknownFacts) != 2 {
		t.Fatalf("warnings %v, unknown %v; want one about the registry host", w, bi.UnknownFacts)
	}
	hook.Reset()
	cfg := config.Default()
	cfg.BackupRegistryHostname = "reg.a:5000"
	env.Config = config.Static(cfg)
	if _, _, err := actiontest.RunBackup(t, reg, env, plainPod(), actiontest.Backup()); err != nil {
		t.Fatal(err)
	}
	if w := warnings(hook); len(w) != 0 || bi.Facts.RegistryHostname != "reg.a:5000" {
		t.Fatalf("warnings %v, facts %+v; the override supplies the fact", w, bi.Facts)
	}
}

// Clients that fail the first calls and then answer: no item fails, every item sees the facts
// and configuration that answered, and the log says once what was retried.
func TestItemsDoNotFailWhileConfigAndFactsAreRetried(t *testing.T) {
	kube := fake.NewSimpleClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: actiontest.VeleroNamespace, Name: "cfg",
			Labels: map[string]string{keys.VeleroPluginConfigLabel: "", keys.PluginConfigLabel: "config"}},
		Data: map[string]string{config.KeyPullSecretWait: "7s"}})
	retrytest.FailFirst(&kube.Fake, "list", "configmaps", apierrors.NewInternalError(errors.New("etcdserver: leader changed")),
		apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "list", 1))
	cfgClient := configfake.NewSimpleClientset(&configv1.Image{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
		Status: configv1.ImageStatus{InternalRegistryHostname: actiontest.DestinationRegistry}})
	retrytest.FailFirst(&cfgClient.Fake, "get", "images", apierrors.NewInternalError(errors.New("etcdserver: request timed out")),
		apierrors.NewServiceUnavailable("apiserver shutting down"))

	env, hook := hookedEnv()
	env.Config = config.NewLoader(func() (corev1client.ConfigMapsGetter, error) { return kube.CoreV1(), nil }, env.Log)
	env.Facts = clusterfacts.NewProvider(func() (clusterfacts.Clients, error) {
		return clusterfacts.Clients{Kube: kube, Config: cfgClient}, nil
	}, env.Log)
	reg := action.ItemRestoreRegistration("test/rewrite", func(ri *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
		if !ri.Images.Active() || ri.Destination.RegistryHostname != actiontest.DestinationRegistry || ri.Config.PullSecretWait.Seconds() != 7 {
			return nil, errors.New("item decided without the answered facts and config")
		}
		return action.Keep(ri.Obj), nil
	}, "pods")
	for item := 0; item < 3; item++ {
		if _, err := actiontest.RunRestore(t, reg, env, sourcePod(), actiontest.Restore(nil)); err != nil {
			t.Fatalf("item %d: %v", item, err)
		}
	}
	for _, want := range []string{"read plugin config after 2 failed attempts", "images.config.openshift.io/cluster answered after 2 failed attempts"} {
		n := 0
		for _, e := range hook.AllEntries() {
			if strings.Contains(e.Message, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d log lines %q, want 1", n, want)
		}
	}
	if w := warnings(hook); len(w) != 0 {
		t.Errorf("warnings %v; failures retried away must not warn", w)
	}
}

// A registry hostname override says where the destination's registry is: it counts as enabled
// (images are pushed to it, pull secrets waited for) whatever the discovered facts say, and its
// enabled state is not reported unknown.
func TestRegistryOverrideCountsTheRegistryAsEnabled(t *testing.T) {
	none := actiontest.DestinationFacts
	none.RegistryHostname, none.RegistryEnabled = "", false
	tests := []struct {
		name        string
		facts       clusterfacts.Source
		override    string
		wantEnabled bool
	}{
		{"no internal registry found, override", clusterfacts.Static(none), "registry.b.example.com:5000", true},
		{"registry lookup failed, override", registryUnknown(), "registry.b.example.com:5000", true},
		{"no internal registry found, no override", clusterfacts.Static(none), "", false},
		{"discovered registry, no override", clusterfacts.Static(actiontest.DestinationFacts), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			env.Facts = tt.facts
			cfg := config.Default()
			cfg.RestoreRegistryHostname, cfg.BackupRegistryHostname = tt.override, tt.override
			env.Config = config.Static(cfg)
			var ri *action.RestoreItem
			reg := action.ItemRestoreRegistration("test/restore", func(r *action.RestoreItem) (*velero.RestoreItemActionExecuteOutput, error) {
				ri = r
				return action.Keep(r.Obj), nil
			}, "pods")
			if _, err := actiontest.RunRestore(t, reg, env, sourcePod(), actiontest.Restore(nil)); err != nil {
				t.Fatal(err)
			}
			if ri.Destination.RegistryEnabled != tt.wantEnabled {
				t.Errorf("restore: registry enabled = %v, want %v (facts %+v)", ri.Destination.RegistryEnabled, tt.wantEnabled, ri.Destination)
			}
			if tt.override != "" {
				if _, unknown := ri.UnknownFacts.Of(clusterfacts.FactRegistryEnabled); unknown {
					t.Errorf("restore: registryEnabled reported unknown although the config names the registry: %v", ri.UnknownFacts)
				}
			}
			var bi *action.BackupItem
			breg := action.ItemBackupRegistration("test/backup", func(b *action.BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
				bi = b
				return b.Obj, nil, nil
			}, "pods")
			if _, _, err := actiontest.RunBackup(t, breg, env, plainPod(), actiontest.Backup()); err != nil {
				t.Fatal(err)
			}
			if bi.Facts.RegistryEnabled != tt.wantEnabled {
				t.Errorf("backup: registry enabled = %v, want %v", bi.Facts.RegistryEnabled, tt.wantEnabled)
			}
		})
	}
}

package serverfacts

import (
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
)

func TestBackupRecordsSourceFacts(t *testing.T) {
	tests := []struct {
		name     string
		facts    clusterfacts.Facts
		override string
		want     map[string]string
		absent   []string
	}{
		{"openshift", clusterfacts.Facts{KubeVersion: "1.27", OpenShiftVersion: "4.14.2", RegistryHostname: "reg.a:5000", AppsDomain: "apps.a"},
			"", map[string]string{keys.BackupServerVersion: "1.27", keys.BackupOpenShiftVersion: "4.14.2", keys.BackupRegistryHostname: "reg.a:5000", keys.BackupAppsDomain: "apps.a"}, nil},
		{"plain kubernetes", clusterfacts.Facts{KubeVersion: "1.32"},
			"", map[string]string{keys.BackupServerVersion: "1.32", keys.BackupRegistryHostname: ""}, []string{keys.BackupAppsDomain, keys.BackupOpenShiftVersion}},
		{"registry override", clusterfacts.Facts{KubeVersion: "1.32", RegistryHostname: "reg.a:5000"},
			"registry.example.com", map[string]string{keys.BackupRegistryHostname: "registry.example.com"}, nil},
		{"external registry hostnames", clusterfacts.Facts{KubeVersion: "1.27", RegistryHostname: "reg.a:5000",
			RegistryExternalHostnames: []string{"default-route.apps.a", "registry.a.example.com"}},
			"", map[string]string{keys.BackupRegistryExternalHostnames: "default-route.apps.a,registry.a.example.com"}, nil},
		// An item restored earlier from another cluster's backup carries that cluster's facts.
		{"stale facts of another cluster dropped", clusterfacts.Facts{KubeVersion: "1.32", RegistryHostname: "reg.a:5000"},
			"", nil, []string{keys.BackupRegistryExternalHostnames, keys.BackupAppsDomain, keys.BackupOpenShiftVersion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			env.Facts = clusterfacts.Static(tt.facts)
			cfg := config.Default()
			cfg.BackupRegistryHostname = tt.override
			env.Config = config.Static(cfg)
			pod := actiontest.Object("v1", "Pod", "app", "web", nil)
			pod.SetAnnotations(map[string]string{"keep": "me",
				keys.BackupRegistryExternalHostnames: "route.apps.old", keys.BackupAppsDomain: "apps.old", keys.BackupOpenShiftVersion: "4.9.0"})
			out, extra, err := actiontest.RunBackup(t, Registrations()[0], env, pod, actiontest.Backup())
			if err != nil || len(extra) != 0 {
				t.Fatalf("Execute: %v, extra %v", err, extra)
			}
			a := out.GetAnnotations()
			for k, v := range tt.want {
				if got, ok := a[k]; !ok || got != v {
					t.Errorf("annotation %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := a[k]; ok {
					t.Errorf("annotation %s present, want absent", k)
				}
			}
			if a["keep"] != "me" {
				t.Errorf("existing annotation lost: %v", a)
			}
		})
	}
}

func TestBackupWarnsWhenRegistryHostIsUnknownNotAbsent(t *testing.T) {
	for _, tt := range []struct {
		name    string
		unknown clusterfacts.Unknowns
		want    int
	}{
		{"lookup failed", clusterfacts.Unknowns{{Fact: clusterfacts.FactRegistryHostname, Lookup: "images.config.openshift.io/cluster", Err: errors.New("503 etcd unavailable")}}, 1},
		{"no registry", nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			env := actiontest.Env()
			env.Log = log
			env.Facts = clusterfacts.Partial{Known: clusterfacts.Facts{KubeVersion: "1.32"}, Unknown: tt.unknown}
			out, _, err := actiontest.RunBackup(t, Registrations()[0], env, actiontest.Object("v1", "Pod", "app", "web", nil), actiontest.Backup())
			if err != nil || out.GetAnnotations()[keys.BackupServerVersion] != "1.32" {
				t.Fatalf("Execute: %v, %v; an unknown fact must not fail the item", err, out)
			}
			var warned []string
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.WarnLevel {
					warned = append(warned, e.Message+" "+e.Data[logrus.ErrorKey].(error).Error())
				}
			}
			if len(warned) != tt.want || tt.want == 1 && !containsAll(warned[0], "registryHostname", "images.config.openshift.io/cluster", "503 etcd unavailable", "rewrites none") {
				t.Fatalf("warnings %q, want %d naming the fact, the lookup and the cause", warned, tt.want)
			}
		})
	}
}

// External hostnames that could not be looked up are warned about when the registry host is
// known; when the host is unknown too, its warning says it all (one warning, not two).
func TestBackupWarnsWhenExternalHostnamesUnknown(t *testing.T) {
	failed := func(fact string) clusterfacts.Unknown {
		return clusterfacts.Unknown{Fact: fact, Lookup: "images.config.openshift.io/cluster", Err: errors.New("forbidden")}
	}
	for _, tt := range []struct {
		name    string
		unknown clusterfacts.Unknowns
		want    string
	}{
		{"host known", clusterfacts.Unknowns{failed(clusterfacts.FactRegistryExternalHostnames)}, "registryExternalHostnames"},
		{"host unknown too", clusterfacts.Unknowns{failed(clusterfacts.FactRegistryHostname), failed(clusterfacts.FactRegistryExternalHostnames)}, "registryHostname"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log, hook := logtest.NewNullLogger()
			env := actiontest.Env()
			env.Log = log
			env.Facts = clusterfacts.Partial{Known: clusterfacts.Facts{KubeVersion: "1.32", RegistryHostname: "reg.a:5000"}, Unknown: tt.unknown}
			if _, _, err := actiontest.RunBackup(t, Registrations()[0], env, actiontest.Object("v1", "Pod", "app", "web", nil), actiontest.Backup()); err != nil {
				t.Fatal(err)
			}
			var warned []string
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.WarnLevel {
					warned = append(warned, e.Message)
				}
			}
			if len(warned) != 1 || !strings.Contains(warned[0], tt.want) {
				t.Fatalf("warnings %q, want one naming %s", warned, tt.want)
			}
		})
	}
}

func TestRestoreRecordsDestinationFacts(t *testing.T) {
	env := actiontest.Env()
	dc := actiontest.FromSource(actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", "app", "web", nil))
	out, err := actiontest.RunRestore(t, Registrations()[1], env, dc, actiontest.Restore(nil))
	if err != nil || out.SkipRestore {
		t.Fatalf("Execute: %v skip=%v", err, out != nil && out.SkipRestore)
	}
	obj, _ := action.Object(out.UpdatedItem)
	a := obj.GetAnnotations()
	if a[keys.RestoreServerVersion] != "1.32" || a[keys.RestoreOpenShiftVersion] != "4.18.1" || a[keys.RestoreRegistryHostname] != actiontest.DestinationRegistry {
		t.Fatalf("restore annotations = %v", a)
	}
	if a[keys.BackupServerVersion] != "1.27" || a[keys.BackupOpenShiftVersion] != "4.14.2" {
		t.Fatalf("the source versions were changed: %v", a)
	}
	if a[keys.BackupRegistryHostname] != actiontest.SourceRegistry {
		t.Fatalf("backup annotations were dropped: %v", a)
	}
}

// openshift.io/restore-server-version keeps upstream's meaning on a plain Kubernetes destination
// too, and no OpenShift version is claimed there.
func TestRestoreOnPlainKubernetes(t *testing.T) {
	env := actiontest.Env()
	env.Facts = clusterfacts.Static{KubeVersion: "1.33"}
	pod := actiontest.FromSource(actiontest.Object("v1", "Pod", "app", "web", nil))
	out, err := actiontest.RunRestore(t, Registrations()[1], env, pod, actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := action.Object(out.UpdatedItem)
	a := obj.GetAnnotations()
	if _, claimed := a[keys.RestoreOpenShiftVersion]; a[keys.RestoreServerVersion] != "1.33" || claimed {
		t.Fatalf("restore annotations = %v", a)
	}
}

func TestMalformedItemIsNamedError(t *testing.T) {
	bad := actiontest.Object("v1", "Pod", "app", "web", nil)
	bad.Object["metadata"].(map[string]any)["annotations"] = "not-a-map"
	_, _, err := actiontest.RunBackup(t, Registrations()[0], actiontest.Env(), bad, actiontest.Backup())
	// SetAnnotations replaces a malformed annotations field; either outcome must not panic, and an
	// error, if any, names the action and the object.
	if err != nil && !containsAll(err.Error(), BackupName, "app/web") {
		t.Fatalf("error does not name action and object: %v", err)
	}
}

func TestDisabledActionIsPassThrough(t *testing.T) {
	env := actiontest.Env()
	cfg := config.Default()
	cfg.DisabledActions[RestoreName] = true
	env.Config = config.Static(cfg)
	dc := actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", "app", "web", nil)
	out, err := actiontest.RunRestore(t, Registrations()[1], env, dc, actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := action.Object(out.UpdatedItem)
	if _, ok := obj.GetAnnotations()[keys.RestoreServerVersion]; ok {
		t.Fatal("disabled action changed the item")
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

package restorehooks_test

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/restorehooks"
)

func TestDeploymentConfigPodName(t *testing.T) {
	long := strings.Repeat("d", 60) // "<dc>-" alone is longer than a generated-name prefix
	near := strings.Repeat("n", 54) // "<dc>-<N>-" is cut after 3 digits of the version from N = 100
	tests := []struct {
		dc     string
		latest int64
		pod    string
		want   bool
	}{
		{"web", 3, "web-1-x7k2p", true},
		{"web", 3, "web-3-x7k2p", true},
		{"web", 0, "web-812-x7k2p", true}, // latest unknown: any version
		{"web", 3, "web-4-x7k2p", false},
		{"web", 3, "web-29123456-x7k2p", false}, // a CronJob's Job
		{"web", 3, "web-0-x7k2p", false},
		{"web", 3, "web-01-x7k2p", false},
		{"web", 3, "web-x7k2p", false},                    // a Job's or bare RC's pod
		{"web", 3, "web-6d4b75cb6d-x7k2p", false},         // a ReplicaSet's pod
		{"web", 3, "web-1-2-x7k2p", false},                // DC web-1's pod
		{"web-1", 3, "web-1-2-x7k2p", true},               //
		{"web", 3, "web-1-X7K2P", false},                  // not a generated suffix
		{"web", 3, "web-1-deploy", false},                 // the deployer pod
		{"web", 3, "web-1-hook-pre", false},               // a lifecycle hook pod
		{"web", 3, "db-1-x7k2p", false},                   //
		{"web", 3, "web-1-x7k2", false},                   // suffix too short
		{long, 3, long[:58] + "x7k2p", true},              // the whole prefix is the DC's name, cut
		{long, 3, long[:57] + "e" + "x7k2p", false},       //
		{near, 0, near + "-100" + "x7k2p", true},          // "<dc>-100-" (or -1000-, ...) cut to "<dc>-100"
		{near, 0, near + "-10a" + "x7k2p", false},         //
		{near, 0, near + "-" + "x7k2p", false},            // 55 characters: not cut, no version
		{near[:52], 3, near[:52] + "-3-" + "x7k2p", true}, // exactly 58: complete, bounded
		{near[:52], 3, near[:52] + "-4-" + "x7k2p", false},
	}
	for _, tt := range tests {
		if got := restorehooks.DeploymentConfigPodName(tt.dc, tt.latest, tt.pod); got != tt.want {
			t.Errorf("DeploymentConfigPodName(%q, %d, %q) = %v, want %v", tt.dc, tt.latest, tt.pod, got, tt.want)
		}
	}
}

// dcWith is a backed-up DC web in app with the given annotations and pod template metadata.
func dcWith(annotations map[string]string, templateMeta map[string]any) *unstructured.Unstructured {
	dc := actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", "app", "web", map[string]any{
		"spec": map[string]any{"template": map[string]any{"metadata": templateMeta, "spec": map[string]any{"volumes": []any{
			map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}},
			map[string]any{"name": "info", "downwardAPI": map[string]any{}},
		}}}},
		"status": map[string]any{"latestVersion": int64(2)},
	})
	dc.SetAnnotations(annotations)
	return dc
}

// What each kind of backup says about a DC's pods: this plugin's keys, OADP's, or (neither) the
// pod template.
func TestDeploymentConfigPods(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		template    map[string]any
		labels      map[string]string
		hooks       bool
		fallback    string // part of Fallback; "" none
	}{
		{"this plugin", map[string]string{keys.DCPodsHaveVolumeBackups: "true", keys.DCPodsHaveRestoreHooks: "true", keys.DCPodLabels: `{"app":"web","deployment":"web-2"}`},
			nil, map[string]string{"app": "web", "deployment": "web-2"}, true, keys.DCPodsHaveVolumeBackups},
		{"this plugin, no pods", map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "false"}, nil, nil, false, ""},
		{"this plugin wins over OADP's keys", map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "false",
			keys.DCPodLabels: `{"app":"web"}`, keys.OADPIncludesDMFix: "true", keys.OADPPodsHaveVolumes: "true", keys.OADPHasPodRestoreHooks: "true"},
			nil, map[string]string{"app": "web"}, false, ""},
		{"OADP", map[string]string{keys.OADPIncludesDMFix: "true", keys.OADPPodsHaveVolumes: "true", keys.OADPHasPodRestoreHooks: "true",
			keys.OADPPodLabels: "app=web,deployment=web-2,deploymentconfig=web"},
			nil, map[string]string{"app": "web", "deployment": "web-2", "deploymentconfig": "web"}, true, keys.OADPPodsHaveVolumes},
		{"OADP, no pods", map[string]string{keys.OADPIncludesDMFix: "true", keys.OADPPodsHaveVolumes: "false", keys.OADPHasPodRestoreHooks: "false",
			keys.OADPPodLabels: ""}, nil, nil, false, ""},
		{"neither: the pod template", nil, map[string]any{"labels": map[string]any{"app": "web"},
			"annotations": map[string]any{keys.VeleroBackupVolumes: "data", keys.VeleroPostRestoreHookCommand: "true"}},
			map[string]string{"app": "web", keys.DeploymentConfigLabel: "web"}, true, keys.VeleroBackupVolumes},
		{"neither, plain template", nil, nil, map[string]string{keys.DeploymentConfigLabel: "web"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, err := restorehooks.DeploymentConfigPods(dcWith(tt.annotations, tt.template))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pods.Labels, tt.labels) || pods.HookAnnotations != tt.hooks {
				t.Fatalf("labels %v hooks %v, want %v %v", pods.Labels, pods.HookAnnotations, tt.labels, tt.hooks)
			}
			if (tt.fallback == "") != (pods.Fallback == "") || !strings.Contains(pods.Fallback, tt.fallback) {
				t.Fatalf("fallback %q, want one naming %q", pods.Fallback, tt.fallback)
			}
			if pods.Namespace != "app" || !pods.Named("web-2-x7k2p") || pods.Named("web-3-x7k2p") {
				t.Fatalf("pods of web in app up to version 2: namespace %q", pods.Namespace)
			}
			for vol, want := range map[string]bool{"info": true, "kube-api-access-x7k2p": true, "data": false, "other": false} {
				if pods.NonRestorable(vol) != want {
					t.Fatalf("volume %s non-restorable = %v, want %v (downwardAPI and injected token volumes only)", vol, !want, want)
				}
			}
		})
	}
}

func TestDeploymentConfigPodsMalformedLabels(t *testing.T) {
	for key, value := range map[string]string{keys.DCPodLabels: "app=web", keys.OADPPodLabels: "app in (web"} {
		a := map[string]string{key: value}
		if key == keys.OADPPodLabels {
			a[keys.OADPIncludesDMFix] = "true"
		}
		_, err := restorehooks.DeploymentConfigPods(dcWith(a, nil))
		actiontest.ErrorNames(t, err, "metadata.annotations["+key+"]")
	}
}

package deploymentconfig

import (
	"reflect"
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

// restoreRegIn is the restore action built with env, deciding from the given PodVolumeBackups of
// the restored backup.
func restoreRegIn(env action.Env, pvbs ...runtime.Object) action.Registration {
	return actiontest.Registration(RestoreName, action.KindRestore, NewRestore(env, actiontest.PodVolumeBackups(pvbs...)))
}

// restoreReg is the restore action for a backup without PodVolumeBackups.
func restoreReg() action.Registration { return restoreRegIn(actiontest.Env()) }

// backedUpDC is a DC as the backup action left it, in namespace app.
func backedUpDC(annotations map[string]string) *unstructured.Unstructured {
	dc := actiontest.FromSource(actiontest.Object("apps.openshift.io/v1", "DeploymentConfig", "app", "web", map[string]any{
		"spec": map[string]any{
			"replicas": int64(3),
			"paused":   true,
			"selector": map[string]any{keys.DeploymentConfigLabel: "web"},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web", keys.DeploymentConfigLabel: "web"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "web", "image": src + "/app/web:v1"},
					map[string]any{"name": "proxy", "image": "quay.io/example/proxy:2"},
				}},
			},
			"triggers": []any{
				map[string]any{"type": "ConfigChange"},
				map[string]any{"type": "ImageChange", "imageChangeParams": map[string]any{
					"automatic": true, "containerNames": []any{"web"},
					"from":               map[string]any{"kind": "ImageStreamTag", "namespace": "shared", "name": "web:v1"},
					"lastTriggeredImage": src + "/shared/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				}},
				map[string]any{"type": "ImageChange", "imageChangeParams": map[string]any{
					"from": map[string]any{"kind": "ImageStreamTag", "name": "sidecar:latest"},
				}},
				map[string]any{"type": "ImageChange", "imageChangeParams": map[string]any{
					"from": map[string]any{"kind": "ImageStreamTag", "namespace": "openshift", "name": "cli:latest"},
				}},
			},
		},
	}))
	a := dc.GetAnnotations()
	for k, v := range annotations {
		a[k] = v
	}
	dc.SetAnnotations(a)
	return dc
}

func triggerParams(obj *unstructured.Unstructured, i int) map[string]any {
	return obj.Object["spec"].(map[string]any)["triggers"].([]any)[i].(map[string]any)["imageChangeParams"].(map[string]any)
}

func TestRestoreRewritesImagesAndTriggers(t *testing.T) {
	tests := []struct {
		name    string
		mapping map[string]string
		image   string // want for the internal container image
		shared  string // want for the trigger in namespace shared
	}{
		{"no mapping", nil, dst + "/app/web:v1", "shared"},
		{"DC namespace mapped only", map[string]string{"app": "app-copy"}, dst + "/app-copy/web:v1", "shared"},
		{"trigger namespace mapped on its own", map[string]string{"app": "app-copy", "shared": "shared-copy"}, dst + "/app-copy/web:v1", "shared-copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := backedUpDC(map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "false"})
			want := dc.DeepCopy()
			a := want.GetAnnotations()
			delete(a, keys.DCPodsHaveVolumeBackups) // records of the source's pods are dropped
			delete(a, keys.DCPodsHaveRestoreHooks)
			want.SetAnnotations(a)
			want.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = tt.image
			triggerParams(want, 1)["from"].(map[string]any)["namespace"] = tt.shared
			triggerParams(want, 1)["lastTriggeredImage"] = dst + "/" + tt.shared + "/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

			out, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), dc, actiontest.Restore(tt.mapping))
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v", err)
			}
			got, _ := action.Object(out.UpdatedItem)
			if !reflect.DeepEqual(got.Object, want.Object) {
				t.Fatalf("restored DC\n got %v\nwant %v", got.Object, want.Object)
			}
		})
	}
}

func hookRestore(mapping map[string]string, ns string, selector map[string]string) *velerov1.Restore {
	r := actiontest.Restore(mapping)
	spec := velerov1.RestoreResourceHookSpec{Name: "warm", PostHooks: []velerov1.RestoreResourceHook{{Exec: &velerov1.ExecRestoreHook{Command: []string{"true"}}}}}
	if ns != "" {
		spec.IncludedNamespaces = []string{ns}
	}
	if selector != nil {
		spec.LabelSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	r.Spec.Hooks.Resources = []velerov1.RestoreResourceHookSpec{spec}
	return r
}

func TestRestoreScalesDownWhenPodsRestoredAlone(t *testing.T) {
	recorded := func(volumes, hooks, labels string) map[string]string {
		m := map[string]string{keys.DCPodsHaveVolumeBackups: volumes, keys.DCPodsHaveRestoreHooks: hooks}
		if labels != "" {
			m[keys.DCPodLabels] = labels
		}
		return m
	}
	webLabels := `{"app":"web","deployment":"web-2","deploymentconfig":"web"}`
	tests := []struct {
		name        string
		annotations map[string]string
		restore     *velerov1.Restore
		replicas    any
		want        bool
	}{
		{"hook annotations recorded", recorded("false", "true", webLabels), actiontest.Restore(nil), int64(3), true},
		{"nothing recorded", recorded("false", "false", webLabels), actiontest.Restore(nil), int64(3), false},
		{"hook spec selects recorded labels in target namespace", recorded("false", "false", webLabels),
			hookRestore(map[string]string{"app": "app-copy"}, "app-copy", map[string]string{keys.DeploymentLabel: "web-2"}), int64(3), true},
		{"hook spec names source namespace", recorded("false", "false", webLabels),
			hookRestore(map[string]string{"app": "app-copy"}, "app", nil), int64(3), false},
		{"hook spec selects other labels", recorded("false", "false", webLabels),
			hookRestore(nil, "", map[string]string{"app": "db"}), int64(3), false},
		{"recorded without pods", recorded("false", "false", ""), hookRestore(nil, "", nil), int64(3), false},
		{"not backed up by the backup action: template labels", nil,
			hookRestore(nil, "app", map[string]string{keys.DeploymentConfigLabel: "web"}), int64(3), true},
		{"already at zero", recorded("false", "true", webLabels), actiontest.Restore(nil), int64(0), false},
		{"float replicas from a plain JSON decode", recorded("false", "true", webLabels), actiontest.Restore(nil), float64(2), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := backedUpDC(tt.annotations)
			dc.Object["spec"].(map[string]any)["replicas"] = tt.replicas
			before := dc.DeepCopy()
			out, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), dc, tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := action.Object(out.UpdatedItem)
			spec := got.Object["spec"].(map[string]any)
			a, l := got.GetAnnotations(), got.GetLabels()
			if !tt.want {
				if !reflect.DeepEqual(spec["replicas"], tt.replicas) || spec["paused"] != true || a[keys.OriginalReplicas] != "" || l[keys.DCReplicasModified] != "" {
					t.Fatalf("scaled down: replicas %v paused %v annotations %v labels %v", spec["replicas"], spec["paused"], a, l)
				}
				return
			}
			wantOrig := map[any]string{int64(3): "3", float64(2): "2"}[tt.replicas]
			if spec["replicas"] != int64(0) || spec["paused"] != false {
				t.Fatalf("replicas %v paused %v, want 0 false", spec["replicas"], spec["paused"])
			}
			if a[keys.OriginalReplicas] != wantOrig || a[keys.OriginalPaused] != "true" || l[keys.DCReplicasModified] != tt.restore.Name {
				t.Fatalf("annotations %v labels %v", a, l)
			}
			// Everything else as for a DC that is not scaled down.
			if len(l) != len(before.GetLabels())+1 {
				t.Fatalf("labels %v: only %s should be added", l, keys.DCReplicasModified)
			}
			if !reflect.DeepEqual(spec["selector"], before.Object["spec"].(map[string]any)["selector"]) {
				t.Fatal("selector changed")
			}
		})
	}
}

func TestRestoreReadsDecisionFromBackup(t *testing.T) {
	// Another action may have changed the item's annotations; the decision uses the backed-up copy.
	dc := backedUpDC(map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "true"})
	w, _ := action.Wrap(restoreReg(), actiontest.Env())
	item := dc.DeepCopy()
	a := item.GetAnnotations()
	delete(a, keys.DCPodsHaveRestoreHooks)
	item.SetAnnotations(a)
	out, err := w.(*action.GuardedRestore).Execute(restoreInput(item, dc))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	if got.Object["spec"].(map[string]any)["replicas"] != int64(0) {
		t.Fatal("decision not read from the backed-up item")
	}
}

func TestRestoreBadInputIsNamedError(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(dc *unstructured.Unstructured)
		field string
	}{
		{"triggers not a list", func(dc *unstructured.Unstructured) { dcSpec(dc)["triggers"] = "x" }, "spec.triggers: expected a list"},
		{"trigger not an object", func(dc *unstructured.Unstructured) { dcSpec(dc)["triggers"] = []any{"x"} }, "spec.triggers[0]: expected an object"},
		{"params not an object", func(dc *unstructured.Unstructured) {
			dcSpec(dc)["triggers"] = []any{map[string]any{"imageChangeParams": []any{}}}
		}, "spec.triggers[0].imageChangeParams: expected an object"},
		{"from not an object", func(dc *unstructured.Unstructured) { triggerParams(dc, 1)["from"] = "x" }, "spec.triggers[1].imageChangeParams.from: expected an object"},
		{"namespace not a string", func(dc *unstructured.Unstructured) {
			triggerParams(dc, 1)["from"].(map[string]any)["namespace"] = int64(1)
		}, "spec.triggers[1].imageChangeParams.from.namespace: expected a string"},
		{"lastTriggeredImage not a string", func(dc *unstructured.Unstructured) { triggerParams(dc, 1)["lastTriggeredImage"] = true }, "spec.triggers[1].imageChangeParams.lastTriggeredImage"},
		{"bad internal image", func(dc *unstructured.Unstructured) {
			dcSpec(dc)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = src + "/App/X"
		}, "spec.template.spec.containers[0].image"},
		{"pod labels not JSON", func(dc *unstructured.Unstructured) {
			a := dc.GetAnnotations()
			a[keys.DCPodLabels] = "app=web"
			dc.SetAnnotations(a)
		}, "metadata.annotations[" + keys.DCPodLabels + "]"},
		{"replicas not a number", func(dc *unstructured.Unstructured) { setScaleDown(dc); dcSpec(dc)["replicas"] = "3" }, "spec.replicas: expected an integer"},
		{"replicas fractional", func(dc *unstructured.Unstructured) { setScaleDown(dc); dcSpec(dc)["replicas"] = 1.5 }, "spec.replicas: expected an integer"},
		{"paused not a bool", func(dc *unstructured.Unstructured) { setScaleDown(dc); dcSpec(dc)["paused"] = "yes" }, "spec.paused: expected a boolean"},
		{"labels malformed", func(dc *unstructured.Unstructured) {
			setScaleDown(dc)
			dc.Object["metadata"].(map[string]any)["labels"] = "x"
		}, "metadata.labels: expected an object"},
		{"a label not a string", func(dc *unstructured.Unstructured) {
			setScaleDown(dc)
			dc.Object["metadata"].(map[string]any)["labels"] = map[string]any{"tier": int64(1)}
		}, "metadata.labels.tier: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := backedUpDC(map[string]string{keys.DCPodsHaveVolumeBackups: "false"})
			tt.edit(dc)
			_, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), dc, actiontest.Restore(nil))
			actiontest.ErrorNames(t, err, tt.field, "app/web")
			if strings.Contains(err.Error(), "panic") {
				t.Fatalf("err = %v: a recovered panic, not a named error", err)
			}
		})
	}
}

func TestRestoreLastTriggeredImageUnparsableIsKept(t *testing.T) {
	dc := backedUpDC(nil)
	triggerParams(dc, 1)["lastTriggeredImage"] = src + "/Bad/Ref"
	out, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), dc, actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	if triggerParams(got, 1)["lastTriggeredImage"] != src+"/Bad/Ref" {
		t.Fatal("unparsable lastTriggeredImage changed")
	}
}

func restoreInput(item, fromBackup *unstructured.Unstructured) *velero.RestoreItemActionExecuteInput {
	return &velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: fromBackup, Restore: actiontest.Restore(nil)}
}

func dcSpec(dc *unstructured.Unstructured) map[string]any { return dc.Object["spec"].(map[string]any) }

// setScaleDown makes dc one the restore scales down (its pods had restore hook annotations).
func setScaleDown(dc *unstructured.Unstructured) {
	a := dc.GetAnnotations()
	a[keys.DCPodsHaveRestoreHooks] = "true"
	dc.SetAnnotations(a)
}

// A DeploymentConfig's pod template gets the pod's pull-secret swap: generated dockercfg secrets
// of any service account become the destination's, user-named ones stay.
func TestRestoreSwapsPullSecretsOfAnyServiceAccount(t *testing.T) {
	finder, _ := actiontest.MintedSecrets("app2/db", "app2/my-app")
	env := actiontest.Env()
	env.PullSecrets = finder
	dc := backedUpDC(nil)
	spec := dc.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["serviceAccountName"] = "db"
	spec["imagePullSecrets"] = []any{
		map[string]any{"name": "db-dockercfg-abcde"}, map[string]any{"name": "my-app-dockercfg-fghij"}, map[string]any{"name": "registry-creds"},
	}
	out, err := actiontest.RunRestore(t, restoreRegIn(env), env, dc, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatal(err)
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

// restoreRegWith is the restore registration deciding from the given PodVolumeBackups of the
// restored backup.
func restoreRegWith(pvbs ...runtime.Object) action.Registration {
	return restoreRegIn(actiontest.Env(), pvbs...)
}

// upstreamKeys are the annotations OADP's plugin (openshift-velero-plugin) writes on a DC at
// backup: pod labels in selector form, "" when the DC had no pods.
func upstreamKeys(volumes, hooks, podLabels string) map[string]string {
	return map[string]string{
		"oadp.openshift.io/includes-dm-dc-fix":    "true",
		"oadp.openshift.io/pods-have-volumes":     volumes,
		"oadp.openshift.io/has-pod-restore-hooks": hooks,
		"oadp.openshift.io/pod-labels":            podLabels,
	}
}

// scaledDown runs the restore action and reports whether it scaled the DC to 0.
func scaledDown(t *testing.T, reg action.Registration, dc *unstructured.Unstructured, restore *velerov1.Restore) bool {
	t.Helper()
	out, err := actiontest.RunRestore(t, reg, actiontest.Env(), dc, restore)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	scaled := dcSpec(got)["replicas"] == int64(0)
	if a := got.GetAnnotations(); scaled != (a[keys.OriginalReplicas] == "3") {
		t.Fatalf("replicas %v but %s = %q", dcSpec(got)["replicas"], keys.OriginalReplicas, a[keys.OriginalReplicas])
	}
	return scaled
}

// The DC is scaled to 0 exactly when the pod restore restores one of its pods: when a pod of
// the DC has a PodVolumeBackup of the restored backup with data to restore, or restore hooks
// apply. What the backup recorded from the live pods about volumes does not count, whichever
// plugin recorded it; what it recorded about hook annotations and pod labels does.
func TestRestoreDecidesFromPodVolumeBackups(t *testing.T) {
	const pod = "web-1-x7k2p" // a pod of the DC's first ReplicationController, web-1
	ours := func(volumes, hooks, labels string) map[string]string {
		m := map[string]string{keys.DCPodsHaveVolumeBackups: volumes, keys.DCPodsHaveRestoreHooks: hooks}
		if labels != "" {
			m[keys.DCPodLabels] = labels
		}
		return m
	}
	webLabels := `{"app":"web","deployment":"web-1","deploymentconfig":"web"}`
	upstreamLabels := "app=web,deployment=web-1,deploymentconfig=web"
	data := func(podNS, pod string) []runtime.Object {
		return []runtime.Object{actiontest.PodVolumeBackup(podNS, pod, "data", "snap-1")}
	}
	mapped := map[string]string{"app": "app-copy"}
	tests := []struct {
		name        string
		annotations map[string]string
		pvbs        []runtime.Object
		restore     *velerov1.Restore
		want        bool
	}{
		{"OADP backup: a pod has a pod volume backup", upstreamKeys("true", "false", upstreamLabels), data("app", pod), actiontest.Restore(nil), true},
		{"OADP backup: volumes recorded, no pod volume backup", upstreamKeys("true", "false", upstreamLabels), nil, actiontest.Restore(nil), false},
		{"OADP backup: hook annotations recorded", upstreamKeys("false", "true", upstreamLabels), nil, actiontest.Restore(nil), true},
		{"OADP backup: restore hook selects the recorded pod labels", upstreamKeys("false", "false", upstreamLabels), nil,
			hookRestore(mapped, "app-copy", map[string]string{keys.DeploymentLabel: "web-1"}), true},
		{"OADP backup: restore hook selects other labels", upstreamKeys("false", "false", upstreamLabels), nil,
			hookRestore(nil, "", map[string]string{keys.DeploymentLabel: "web-2"}), false},
		{"OADP backup without pods: restore hook has nothing to run in", upstreamKeys("false", "false", ""), nil, hookRestore(nil, "", nil), false},
		{"this plugin: volumes recorded from live pods, no pod volume backup", ours("true", "false", webLabels), nil, actiontest.Restore(nil), false},
		{"this plugin: a pod has a pod volume backup", ours("false", "false", webLabels), data("app", pod), actiontest.Restore(nil), true},
		{"this plugin recorded no pods, a backed-up pod has a pod volume backup", ours("false", "false", ""), data("app", pod), actiontest.Restore(nil), true},
		{"no keys: a pod has a pod volume backup", nil, data("app", pod), actiontest.Restore(nil), true},
		{"source namespace looked up under a namespace mapping", ours("false", "false", webLabels), data("app", pod), actiontest.Restore(mapped), true},
		{"pod of the latest ReplicationController", ours("false", "false", webLabels), data("app", "web-3-b2c4d"), actiontest.Restore(nil), true},
		{"pod of a CronJob's Job named like a later version", ours("false", "false", webLabels), data("app", "web-29123456-b2c4d"), actiontest.Restore(nil), false},
		{"pod volume backup without a snapshot", ours("false", "false", webLabels),
			[]runtime.Object{actiontest.PodVolumeBackup("app", pod, "data", "")}, actiontest.Restore(nil), false},
		{"pod volume backup of a projected volume", ours("false", "false", webLabels),
			[]runtime.Object{actiontest.PodVolumeBackup("app", pod, "kube-api-access", "snap-1")}, actiontest.Restore(nil), false},
		{"pod of DC web-1, not of web", ours("false", "false", webLabels), data("app", "web-1-3-b2c4d"), actiontest.Restore(nil), false},
		{"pod of a Deployment's ReplicaSet", ours("false", "false", webLabels), data("app", "web-6d4b75cb6d-q8zrt"), actiontest.Restore(nil), false},
		{"same pod name in another namespace", ours("false", "false", webLabels), data("other", pod), actiontest.Restore(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := backedUpDC(tt.annotations)
			template := dcSpec(dc)["template"].(map[string]any)["spec"].(map[string]any)
			template["volumes"] = []any{
				map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "web-data"}},
				map[string]any{"name": "kube-api-access", "projected": map[string]any{"sources": []any{}}},
			}
			dc.Object["status"] = map[string]any{"latestVersion": int64(3)}
			if got := scaledDown(t, restoreRegWith(tt.pvbs...), dc, tt.restore); got != tt.want {
				t.Fatalf("scaled down = %v, want %v", got, tt.want)
			}
		})
	}
}

// restoreRegWithoutPodVolumeBackups is the restore registration when PodVolumeBackups cannot be
// listed at all (no client).
func restoreRegWithoutPodVolumeBackups() action.Registration {
	return actiontest.Registration(RestoreName, action.KindRestore, NewRestore(actiontest.Env(), nil))
}

// TestRegistrationNeedsClients: the registration refuses to build without API clients
// (general_test pins names, kinds and resources).
func TestRegistrationNeedsClients(t *testing.T) {
	if _, err := Registrations()[1].New(actiontest.Env()); err == nil {
		t.Fatal("New without clients succeeded")
	}
}

// Without PodVolumeBackups to look at, what the backup recorded about volumes decides: this
// plugin's keys, else OADP's, else the pod template's volume annotation.
func TestRestoreFallsBackToRecordedVolumesWithoutPodVolumeBackups(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        bool
	}{
		{"this plugin recorded volumes", map[string]string{keys.DCPodsHaveVolumeBackups: "true", keys.DCPodsHaveRestoreHooks: "false"}, true},
		{"this plugin recorded none", map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "false"}, false},
		{"OADP recorded volumes", upstreamKeys("true", "false", "app=web"), true},
		{"OADP recorded none", upstreamKeys("false", "false", "app=web"), false},
		{"this plugin's keys win over stale OADP ones", map[string]string{keys.DCPodsHaveVolumeBackups: "false", keys.DCPodsHaveRestoreHooks: "false",
			"oadp.openshift.io/pods-have-volumes": "true", "oadp.openshift.io/includes-dm-dc-fix": "true"}, false},
		{"nothing recorded", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scaledDown(t, restoreRegWithoutPodVolumeBackups(), backedUpDC(tt.annotations), actiontest.Restore(nil)); got != tt.want {
				t.Fatalf("scaled down = %v, want %v", got, tt.want)
			}
		})
	}
}

// What a backup recorded about the source's pods, this plugin's keys or OADP's, is not left on the
// restored DC, where a later backup with the other plugin would take it for its own record.
func TestRestoreDropsRecordsOfTheSourcePods(t *testing.T) {
	a := upstreamKeys("true", "true", "app=web")
	a[keys.DCPodsHaveVolumeBackups], a[keys.DCPodsHaveRestoreHooks], a[keys.DCPodLabels] = "false", "false", `{"app":"web"}`
	out, err := actiontest.RunRestore(t, restoreReg(), actiontest.Env(), backedUpDC(a), actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := action.Object(out.UpdatedItem)
	for k := range a {
		if v, ok := got.GetAnnotations()[k]; ok {
			t.Errorf("restored DC keeps %s=%q", k, v)
		}
	}
	if got.GetAnnotations()[keys.BackupRegistryHostname] == "" {
		t.Error("other annotations dropped too")
	}
}

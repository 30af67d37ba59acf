//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotation keys asserted on restored items (the plugin's contract, see common/keys).
const (
	annBackupRegistryHostname  = "openshift.io/backup-registry-hostname"
	annRestoreRegistryHostname = "openshift.io/restore-registry-hostname"
	annHostGenerated           = "openshift.io/host.generated"
)

// Registered action names a check depends on (see velero-plugins/*). A check whose action the
// running plugin does not register is skipped with that reason, never silently.
const (
	actCommonBackup   = "openshift.io/01-common-backup"
	actCommonRestore  = "openshift.io/01-common-restore"
	actPodRestore     = "openshift.io/03-pod-restore"
	actWorkloadRestor = "openshift.io/07-workload-restore"
	actRouteRestore   = "openshift.io/10-route-restore"
)

var routesGVR = gvr("route.openshift.io", "v1", "routes")

// scenario is one backup on A restored on B, with what the checks need to know.
type scenario struct {
	A, B      *Cluster
	SourceNS  string // namespace on A
	TargetNS  string // namespace on B (differs with namespace mapping)
	Backup    *velerov1.Backup
	Restore   *velerov1.Restore
	PluginsA  map[string]bool
	PluginsB  map[string]bool
	Velero    string // server version reported by B's Velero
	AppsAHost string // the generated route host on A
}

// check is one assertion on the restored cluster. requires names the registered actions (on
// either side) without which the assertion cannot hold; such a check is skipped with the reason.
type check struct {
	name     string
	requires []string
	run      func(ctx context.Context, t *testing.T, s *scenario)
}

// checks is the table every restore is asserted against. Add a row per behaviour.
var checks = []check{
	{name: "restore completed without errors", run: func(ctx context.Context, t *testing.T, s *scenario) {
		st := s.Restore.Status
		if st.Phase != velerov1.RestorePhaseCompleted || st.Errors != 0 {
			t.Fatalf("restore %s: phase %s, %d errors, %d warnings; Velero log:\n%s", s.Restore.Name, st.Phase,
				st.Errors, st.Warnings, logLinesAbout(s.B, s.Restore.Name, 30))
		}
		if st.Warnings != 0 {
			t.Logf("restore %s: %d warnings:\n%s", s.Restore.Name, st.Warnings, logLinesAbout(s.B, s.Restore.Name, 30))
		}
	}},
	{name: "pod carries the source registry hostname", requires: []string{actCommonBackup}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		pod := getPod(ctx, t, s.B, s.TargetNS, "app")
		if got := pod.Annotations[annBackupRegistryHostname]; got != s.A.Registry {
			t.Errorf("pod annotation %s = %q, want %q", annBackupRegistryHostname, got, s.A.Registry)
		}
	}},
	{name: "pod carries the destination registry hostname", requires: []string{actCommonRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		pod := getPod(ctx, t, s.B, s.TargetNS, "app")
		if got := pod.Annotations[annRestoreRegistryHostname]; got != s.B.Registry {
			t.Errorf("pod annotation %s = %q, want %q", annRestoreRegistryHostname, got, s.B.Registry)
		}
	}},
	{name: "route carries the source registry hostname", requires: []string{actCommonBackup}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		r := getRoute(ctx, t, s.B, s.TargetNS, "generated")
		if got := r.GetAnnotations()[annBackupRegistryHostname]; got != s.A.Registry {
			t.Errorf("route annotation %s = %q, want %q", annBackupRegistryHostname, got, s.A.Registry)
		}
	}},
	{name: "pod image names the destination registry", requires: []string{actPodRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		pod := getPod(ctx, t, s.B, s.TargetNS, "app")
		want := fmt.Sprintf("%s/%s/app:latest", s.B.Registry, s.TargetNS)
		if got := pod.Spec.Containers[0].Image; got != want {
			t.Errorf("pod image = %q, want %q", got, want)
		}
	}},
	{name: "deployment image names the destination registry", requires: []string{actWorkloadRestor}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		d, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s/%s/web:latest", s.B.Registry, s.TargetNS)
		if got := d.Spec.Template.Spec.Containers[0].Image; got != want {
			t.Errorf("deployment image = %q, want %q", got, want)
		}
	}},
	{name: "generated route host is cleared", requires: []string{actRouteRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		r := getRoute(ctx, t, s.B, s.TargetNS, "generated")
		if host, _, _ := unstructured.NestedString(r.Object, "spec", "host"); host != "" {
			t.Errorf("generated route spec.host = %q, want it cleared (was %q on A)", host, s.AppsAHost)
		}
	}},
	{name: "custom route host is kept", run: func(ctx context.Context, t *testing.T, s *scenario) {
		r := getRoute(ctx, t, s.B, s.TargetNS, "custom")
		if host, _, _ := unstructured.NestedString(r.Object, "spec", "host"); host != "shop.example.com" {
			t.Errorf("custom route spec.host = %q, want %q", host, "shop.example.com")
		}
	}},
	{name: "deployment restored", run: func(ctx context.Context, t *testing.T, s *scenario) {
		if _, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, "web", metav1.GetOptions{}); err != nil {
			t.Error(err)
		}
	}},
}

func TestBackupOnARestoreOnB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a, b := newCluster(t, env, "a"), newCluster(t, env, "b")
	t.Logf("Velero %s; registry A %s, B %s", env.Get(t, "VELERO_VERSION"), a.Registry, b.Registry)

	start := time.Now()
	step := func(what string) { t.Logf("%-28s %6.1fs", what, time.Since(start).Seconds()); start = time.Now() }
	versionA, pluginsA := RegisteredPlugins(ctx, t, a)
	versionB, pluginsB := RegisteredPlugins(ctx, t, b)
	step("plugins listed")
	if !strings.HasPrefix(versionB, "v"+env.Get(t, "VELERO_VERSION")) {
		t.Errorf("Velero on B reports %s, want v%s.x", versionB, env.Get(t, "VELERO_VERSION"))
	}
	if !pluginsA[actCommonBackup] || !pluginsB[actCommonRestore] {
		veleroFailure(t, a, "the openshift plugin is not served (Velero %s/%s lists %d plugins)", versionA, versionB, len(pluginsB))
	}

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	ns := "e2e-app-" + suffix
	host := createSampleApp(ctx, t, a, ns)
	step("sample app created on A")

	backup := RunBackup(ctx, t, a, "e2e-"+suffix, ns)
	if backup.Status.Phase != velerov1.BackupPhaseCompleted || backup.Status.Errors != 0 {
		veleroFailure(t, a, "backup %s: phase %s, %d errors, %d warnings", backup.Name, backup.Status.Phase,
			backup.Status.Errors, backup.Status.Warnings)
	}
	t.Logf("backup %s on A: %s, %d items", backup.Name, backup.Status.Phase, itemsBackedUp(backup))
	step("backup on A")
	WaitBackupSynced(ctx, t, b, backup.Name)
	step("backup synced to B")

	for _, tc := range []struct {
		name     string
		targetNS string
	}{
		{name: "same-namespace", targetNS: ns},
		{name: "namespace-mapping", targetNS: ns + "-mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mapping map[string]string
			if tc.targetNS != ns {
				mapping = map[string]string{ns: tc.targetNS}
			}
			restore := RunRestore(ctx, t, b, backup.Name+"-"+tc.name, backup.Name, mapping)
			step("restore on B")
			t.Logf("restore %s on B: %s (%d warnings, %d errors)", restore.Name, restore.Status.Phase,
				restore.Status.Warnings, restore.Status.Errors)
			s := &scenario{A: a, B: b, SourceNS: ns, TargetNS: tc.targetNS, Backup: backup, Restore: restore,
				PluginsA: pluginsA, PluginsB: pluginsB, Velero: versionB, AppsAHost: host}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					for _, req := range c.requires {
						if !pluginsA[req] && !pluginsB[req] {
							t.Skipf("the plugin does not register %s yet", req)
						}
					}
					c.run(ctx, t, s)
				})
			}
		})
	}
}

func itemsBackedUp(b *velerov1.Backup) int {
	if b.Status.Progress == nil {
		return 0
	}
	return b.Status.Progress.ItemsBackedUp
}

// createSampleApp creates the sample application on c in namespace ns and returns the generated
// route host.
func createSampleApp(ctx context.Context, t *testing.T, c *Cluster, ns string) string {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: creating the sample app: %v", c, err)
		}
	}
	must(c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	labels := map[string]string{"app": "web"}
	must(c.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"app": "app"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: fmt.Sprintf("%s/%s/app:latest", c.Registry, ns),
		}}},
	}, metav1.CreateOptions{}))
	must(c.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: fmt.Sprintf("%s/%s/web:latest", c.Registry, ns),
				}}},
			},
		},
	}, metav1.CreateOptions{}))
	must(c.Kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}},
	}, metav1.CreateOptions{}))
	host := fmt.Sprintf("generated-%s.%s", ns, c.AppsDomain)
	routes := c.Dynamic.Resource(routesGVR).Namespace(ns)
	for _, r := range []struct {
		name, host  string
		annotations map[string]any
	}{
		{name: "generated", host: host, annotations: map[string]any{annHostGenerated: "true"}},
		{name: "custom", host: "shop.example.com"},
	} {
		meta := map[string]any{"name": r.name}
		if r.annotations != nil {
			meta["annotations"] = r.annotations
		}
		must(routes.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": meta,
			"spec": map[string]any{
				"host": r.host,
				"to":   map[string]any{"kind": "Service", "name": "web", "weight": int64(100)},
				"port": map[string]any{"targetPort": "http"},
			},
		}}, metav1.CreateOptions{}))
	}
	return host
}

func getPod(ctx context.Context, t *testing.T, c *Cluster, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: pod %s/%s: %v", c, ns, name, err)
	}
	return p
}

func getRoute(ctx context.Context, t *testing.T, c *Cluster, ns, name string) *unstructured.Unstructured {
	t.Helper()
	r, err := c.Dynamic.Resource(routesGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: route %s/%s: %v", c, ns, name, err)
	}
	return r
}

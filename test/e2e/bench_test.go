//go:build e2e && e2ebench

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// pluginUserAgent is the user agent of every API client the plugin builds (common/clients).
const pluginUserAgent = "openshift-velero-plugins"

// benchKind is how many objects of one kind a benchmark namespace has.
type benchKind struct {
	kind string
	n    int
}

// benchMix is the object mix of the benchmark namespace (2,000 objects at scale 1).
var benchMix = []benchKind{{"configmaps", 500}, {"secrets", 500}, {"pods", 400}, {"deployments", 200}, {"routes", 200}, {"imagestreams", 200}}

// secretsMix is the namespace of the users' complaint: 1,800 secrets.
var secretsMix = []benchKind{{"secrets", 1800}}

// benchRuns is how many backups of each kind TestBenchBackup times (BENCH_E2E_RUNS overrides).
const benchRuns = 5

// TestBenchBackup (make bench-e2e) backs up a 2,000-object namespace on cluster A with Velero
// alone, with the floor plugin (the general plugin's registrations and AppliesTo, actions that do
// nothing: the cost of Velero's one-gRPC-call-per-item protocol) and with the openshift plugin,
// benchRuns runs each, interleaved in rotating order, restarting A's Velero server with the right
// plugin dir before each run. It reports the medians and their ratios, the API requests the plugin
// made per backup (A's kube-apiserver audit log, by user agent) and the same count for a namespace
// a tenth the size, to show it does not grow with the items; then the users' complaint as it was
// reported: a namespace of 1,800 secrets with and without the plugin.
func TestBenchBackup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env := loadEnv(t)
	pollInterval = 50 * time.Millisecond
	a := newCluster(t, env, "a")
	a.Config.QPS, a.Config.Burst = 500, 1000
	a = reclient(t, a)
	audit := filepath.Join(env.Get(t, "LOG_DIR"), "audit-a.log")
	if _, err := os.Stat(audit); err != nil {
		t.Fatalf("no audit log (%v): start the stack with STACK_AUDIT=1 (hack/bench-e2e.sh does)", err)
	}
	runs := benchRuns
	if v := os.Getenv("BENCH_E2E_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &runs); err != nil || runs < 1 {
			t.Fatalf("BENCH_E2E_RUNS=%q: want a positive number", v)
		}
	}
	root := filepath.Join("..", "..")

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	big, small, secrets := "bench-"+suffix, "bench-small-"+suffix, "bench-secrets-"+suffix
	start := time.Now()
	nBig := createBenchNamespace(ctx, t, a, big, benchMix, 1)
	nSmall := createBenchNamespace(ctx, t, a, small, benchMix, 10)
	nSecrets := createBenchNamespace(ctx, t, a, secrets, secretsMix, 1)
	t.Logf("created %d + %d + %d objects in %.1fs", nBig, nSmall, nSecrets, time.Since(start).Seconds())

	type result struct {
		seconds  float64
		items    int
		requests int
	}
	results := map[string][]result{}
	run := func(mode, ns string, i int) result {
		restart := exec.CommandContext(ctx, filepath.Join(root, "hack", "stack.sh"), "velero-restart", "a", mode)
		restart.Env = append(os.Environ(), "E2E_DIR="+env.Get(t, "E2E_DIR"))
		if out, err := restart.CombinedOutput(); err != nil {
			t.Fatalf("velero-restart a %s: %v\n%s", mode, err, out)
		}
		off := fileSize(t, audit)
		t0 := time.Now()
		b := RunBackup(ctx, t, a, fmt.Sprintf("%s-%s-%d", ns, mode, i), ns)
		d := time.Since(t0).Seconds()
		if b.Status.Phase != velerov1.BackupPhaseCompleted || b.Status.Errors != 0 {
			veleroFailure(t, a, "backup %s: phase %s, %d errors", b.Name, b.Status.Phase, b.Status.Errors)
		}
		time.Sleep(time.Second) // let the audit backend flush
		r := result{seconds: d, items: itemsBackedUp(b), requests: countAudit(t, audit, off, pluginUserAgent)}
		t.Logf("%-8s %-24s %6.2fs  %5d items  %4d plugin API requests", mode, ns, r.seconds, r.items, r.requests)
		return r
	}
	modes := []string{"without", "floor", "with"}
	for i := 0; i < runs; i++ {
		for k := range modes {
			mode := modes[(i+k)%len(modes)]
			results[mode] = append(results[mode], run(mode, big, i))
		}
	}
	smallRun := run("with", small, 0)
	for i := 0; i < 3; i++ {
		for k := range 2 {
			mode := []string{"without", "with"}[(i+k)%2]
			results["secrets-"+mode] = append(results["secrets-"+mode], run(mode, secrets, i))
		}
	}

	median := func(rs []result) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = r.seconds
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	list := func(rs []result) string {
		var s []string
		for _, r := range rs {
			s = append(s, fmt.Sprintf("%.2f", r.seconds))
		}
		return strings.Join(s, ", ")
	}
	mw, mf, mo := median(results["with"]), median(results["floor"]), median(results["without"])
	sw, so := median(results["secrets-with"]), median(results["secrets-without"])
	var reqs []string
	for _, r := range results["with"] {
		reqs = append(reqs, fmt.Sprint(r.requests))
	}
	var b strings.Builder
	serverArgs := ""
	if v := strings.TrimSpace(os.Getenv("VELERO_SERVER_ARGS")); v != "" {
		serverArgs = " with `" + v + "`"
	}
	fmt.Fprintf(&b, "%s, Velero %s server (out of cluster%s), kube-apiserver v1.32.13, 2-core machine, %d runs each:\n\n",
		time.Now().UTC().Format("2006-01-02"), env.Get(t, "VELERO_VERSION"), serverArgs, runs)
	fmt.Fprintf(&b, "| backup of namespace (%d objects; %d items) | runs (s) | median (s) |\n|---|---|---|\n", nBig, results["with"][0].items)
	fmt.Fprintf(&b, "| Velero alone | %s | %.2f |\n", list(results["without"]), mo)
	fmt.Fprintf(&b, "| Velero + floor plugin (same registrations and AppliesTo, actions do nothing) | %s | %.2f |\n", list(results["floor"]), mf)
	fmt.Fprintf(&b, "| Velero + openshift-velero-plugin | %s | %.2f |\n\n", list(results["with"]), mw)
	fmt.Fprintf(&b, "- Ratio with/without: **%.2f** (goal <= 1.05).\n", mw/mo)
	fmt.Fprintf(&b, "- Floor/without (Velero's one gRPC call per matching item, nothing done): %.2f.\n", mf/mo)
	fmt.Fprintf(&b, "- With/floor (what the actions themselves add): %.2f.\n", mw/mf)
	fmt.Fprintf(&b, "- API requests made by the plugin per backup (audit log, user agent `%s`): %s for %d items; %d for a %d-object namespace (%d items).\n\n",
		pluginUserAgent, strings.Join(reqs, ", "), results["with"][0].items, smallRun.requests, nSmall, smallRun.items)
	fmt.Fprintf(&b, "| backup of namespace (%d secrets; %d items) | runs (s) | median (s) |\n|---|---|---|\n", nSecrets, results["secrets-with"][0].items)
	fmt.Fprintf(&b, "| Velero alone | %s | %.2f |\n", list(results["secrets-without"]), so)
	fmt.Fprintf(&b, "| Velero + openshift-velero-plugin | %s | %.2f |\n\n", list(results["secrets-with"]), sw)
	fmt.Fprintf(&b, "- Ratio with/without: **%.2f**.\n", sw/so)
	t.Log("\n" + b.String())
	if err := os.WriteFile(filepath.Join(env.Get(t, "E2E_DIR"), "bench-e2e.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reclient rebuilds c's clients after its rest config changed.
func reclient(t *testing.T, c *Cluster) *Cluster {
	t.Helper()
	n := *c
	cfg := c.Config
	k, err := kubeFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Kube, n.Dynamic = k.kube, k.dyn
	return &n
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// countAudit counts the audit events after offset whose user agent starts with agent.
func countAudit(t *testing.T, p string, offset int64, agent string) int {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"userAgent":"`+agent) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// createBenchNamespace creates namespace ns with mix/div objects, concurrently, and returns how
// many objects it created.
func createBenchNamespace(ctx context.Context, t *testing.T, c *Cluster, ns string, mix []benchKind, div int) int {
	t.Helper()
	if _, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	type job struct {
		kind string
		i    int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	img := func(i int) string { return fmt.Sprintf("%s/%s/app-%d:latest", c.Registry, ns, i%20) }
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				name := fmt.Sprintf("%s-%04d", strings.TrimSuffix(j.kind, "s"), j.i)
				labels := map[string]string{"app": fmt.Sprintf("app-%d", j.i%20)}
				var err error
				switch j.kind {
				case "configmaps":
					_, err = c.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
						Data: map[string]string{"config.yaml": strings.Repeat("key: value\n", 20)}}, metav1.CreateOptions{})
				case "secrets":
					_, err = c.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
						Data: map[string][]byte{"password": []byte(strings.Repeat("s", 32))}}, metav1.CreateOptions{})
				case "pods":
					_, err = c.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img(j.i)}}}}, metav1.CreateOptions{})
				case "deployments":
					_, err = c.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
						Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
							Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
								Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img(j.i)}}}}}}, metav1.CreateOptions{})
				case "routes":
					_, err = c.Dynamic.Resource(routesGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
						"apiVersion": "route.openshift.io/v1", "kind": "Route",
						"metadata": map[string]any{"name": name, "annotations": map[string]any{annHostGenerated: "true"}},
						"spec": map[string]any{"host": fmt.Sprintf("%s-%s.%s", name, ns, c.AppsDomain),
							"to": map[string]any{"kind": "Service", "name": "web", "weight": int64(100)}},
					}}, metav1.CreateOptions{})
				case "imagestreams":
					_, err = c.Dynamic.Resource(imageStreamsGVR).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
						"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": map[string]any{"name": name},
						"spec": map[string]any{"lookupPolicy": map[string]any{"local": false}},
					}}, metav1.CreateOptions{})
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("%s %s: %w", j.kind, name, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	total := 0
	for _, m := range mix {
		for i := 0; i < m.n/div; i++ {
			jobs <- job{m.kind, i}
			total++
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("%s: creating the benchmark namespace: %v", c, firstErr)
	}
	return total
}

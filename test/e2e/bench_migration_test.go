//go:build e2e && e2ebench

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// benchMigrationRuns is how many restores of each mode TestBenchMigrationRestore times
// (BENCH_MIGRATION_RUNS overrides).
const benchMigrationRuns = 3

// benchMigrationResources are the resources of benchMix, as listed on B to count the migrated-by
// labels.
var benchMigrationResources = []schema.GroupVersionResource{
	gvr("", "v1", "configmaps"), gvr("", "v1", "secrets"), gvr("", "v1", "pods"),
	gvr("apps", "v1", "deployments"), routesGVR, gvr("image.openshift.io", "v1", "imagestreams"),
}

// TestBenchMigrationRestore (make bench-migration) measures what openshift-migration-plugin adds
// to a migration's final restore, whose 07-migrated-by-restore action applies to every item: a
// 2,000-object namespace (TestBenchBackup's mix) is backed up once on A, then restored on B as
// mig-controller's final restore (labels and annotations from the migration package) with B's
// Velero restarted before each run without any openshift plugin, with openshift-migration-plugin
// and (BENCH_MIGRATION_MODES) with openshift-velero-plugin, interleaved in rotating order. Each
// run restores into a new namespace (namespaceMapping): without a kube-controller-manager a
// deleted namespace stays Terminating. After each run the restored objects are listed on B and
// the ones carrying both migrated-by labels counted, so the numbers are known to exercise the
// action (all of them with the migration plugin, none without); then they are deleted, so every
// run meets the same cluster (emptyBenchNamespace).
func TestBenchMigrationRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env := loadEnv(t)
	pollInterval = 50 * time.Millisecond
	a, b := benchCluster(t, env, "a"), benchCluster(t, env, "b")
	runs := benchMigrationRuns
	if v := os.Getenv("BENCH_MIGRATION_RUNS"); v != "" {
		if _, err := fmt.Sscan(v, &runs); err != nil || runs < 1 {
			t.Fatalf("BENCH_MIGRATION_RUNS=%q: want a positive number", v)
		}
	}
	modes := []string{"without", "migration"}
	if v := strings.TrimSpace(os.Getenv("BENCH_MIGRATION_MODES")); v != "" {
		modes = strings.Split(v, ",")
	}
	for _, m := range modes {
		if m != "without" && m != "migration" && m != "general" {
			t.Fatalf("BENCH_MIGRATION_MODES: %q is not without, migration or general", m)
		}
	}
	audit := filepath.Join(env.Get(t, "LOG_DIR"), "audit-b.log")
	haveAudit := true
	if _, err := os.Stat(audit); err != nil {
		haveAudit = false
		t.Logf("no audit log on B (%v): plugin API requests are not counted (STACK_AUDIT=1)", err)
	}
	root := filepath.Join("..", "..")

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	ns := "bench-mig-" + suffix
	start := time.Now()
	nObjects := createBenchNamespace(ctx, t, a, ns, benchMix, 1)
	t.Logf("created %d objects in %s on A in %.1fs", nObjects, ns, time.Since(start).Seconds())
	backup := RunBackup(ctx, t, a, ns, ns)
	if backup.Status.Phase != velerov1.BackupPhaseCompleted || backup.Status.Errors != 0 {
		veleroFailure(t, a, "backup %s: phase %s, %d errors", backup.Name, backup.Status.Phase, backup.Status.Errors)
	}
	WaitBackupSynced(ctx, t, b, backup.Name)
	t.Logf("backup %s on A: %d items, synced to B", backup.Name, itemsBackedUp(backup))

	plan := &migrationPlan{UID: string(uuid.NewUUID()), RegistryA: env.Get(t, "MIGRATION_REGISTRY_A"), RegistryB: env.Get(t, "MIGRATION_REGISTRY_B")}
	final := migrationRun{UID: string(uuid.NewUUID()), Type: migration.TypeFinal}

	type result struct {
		seconds            float64
		items, warnings    int
		labelled, restored int
		requests           int
	}
	results := map[string][]result{}
	run := func(mode string, i int) result {
		restart := exec.CommandContext(ctx, filepath.Join(root, "hack", "stack.sh"), "velero-restart", "b", mode)
		restart.Env = append(os.Environ(), "E2E_DIR="+env.Get(t, "E2E_DIR"))
		if out, err := restart.CombinedOutput(); err != nil {
			t.Fatalf("velero-restart b %s: %v\n%s", mode, err, out)
		}
		target := fmt.Sprintf("%s-%s-%d", ns, mode, i)
		r := &velerov1.Restore{
			ObjectMeta: metav1.ObjectMeta{Name: target, Namespace: veleroNamespace, Labels: plan.labels(final, migration.PhaseFinalRestore),
				Annotations: map[string]string{migration.TypeAnnotation: string(final.Type), migration.RegistryAnnotation: plan.RegistryB}},
			Spec: velerov1.RestoreSpec{BackupName: backup.Name, NamespaceMapping: map[string]string{ns: target}, RestorePVs: boolPtr(false)},
		}
		var off int64
		if haveAudit {
			off = fileSize(t, audit)
		}
		t0 := time.Now()
		got := *runRestoreObject(ctx, t, b, r)
		d := time.Since(t0).Seconds()
		if got.Status.Phase != velerov1.RestorePhaseCompleted || got.Status.Errors != 0 {
			t.Fatalf("restore %s on B (%s): phase %s, %d errors, %d warnings; Velero log:\n%s", target, mode,
				got.Status.Phase, got.Status.Errors, got.Status.Warnings, logLinesAbout(b, target, 30))
		}
		res := result{seconds: d, warnings: got.Status.Warnings}
		if got.Status.Progress != nil {
			res.items = got.Status.Progress.ItemsRestored
		}
		res.restored, res.labelled = countMigratedBy(ctx, t, b, target, plan, final)
		if haveAudit {
			time.Sleep(time.Second) // let the audit backend flush
			res.requests = countAudit(t, audit, off, pluginUserAgent)
		}
		t.Logf("%-9s %-28s %6.2fs  %5d items  %d warnings  %d/%d objects with the migrated-by labels  %d plugin API requests",
			mode, target, res.seconds, res.items, res.warnings, res.labelled, res.restored, res.requests)
		// The measurement is only meaningful when it exercises the action on every item (and the
		// baseline on none).
		if res.restored != nObjects {
			t.Errorf("restore %s: %d of the %d objects are in %s on B", target, res.restored, nObjects, target)
		}
		if want := map[string]int{"migration": nObjects}[mode]; res.labelled != want {
			t.Errorf("restore %s (%s): %d objects carry the migrated-by labels, want %d", target, mode, res.labelled, want)
		}
		emptyBenchNamespace(ctx, t, b, target)
		return res
	}
	for i := 0; i < runs; i++ {
		for k := range modes {
			mode := modes[(i+k)%len(modes)]
			results[mode] = append(results[mode], run(mode, i))
		}
	}
	// Leave B as the stack started it (the general plugin).
	restart := exec.CommandContext(ctx, filepath.Join(root, "hack", "stack.sh"), "velero-restart", "b", "general")
	restart.Env = append(os.Environ(), "E2E_DIR="+env.Get(t, "E2E_DIR"))
	_ = restart.Run()

	median := func(rs []result) float64 { return medianOf(rs, func(r result) float64 { return r.seconds }) }
	list := func(rs []result, f func(result) string) string {
		var s []string
		for _, r := range rs {
			s = append(s, f(r))
		}
		return strings.Join(s, ", ")
	}
	secs := func(r result) string { return fmt.Sprintf("%.2f", r.seconds) }
	names := map[string]string{
		"without":   "Velero alone (velero-plugin-for-aws only)",
		"general":   "Velero + openshift-velero-plugin (general restore actions only)",
		"migration": "Velero + openshift-migration-plugin",
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%s, %d runs each:\n\n", benchSetting(t, env, b), runs)
	first := results[modes[0]][0]
	fmt.Fprintf(&out, "| final migration restore on B (%d objects; %d items restored) | runs (s) | median (s) | objects with the migrated-by labels | restore warnings |\n|---|---|---|---|---|\n",
		nObjects, first.items)
	for _, m := range []string{"without", "general", "migration"} {
		rs, ok := results[m]
		if !ok {
			continue
		}
		fmt.Fprintf(&out, "| %s | %s | %.2f | %s | %s |\n", names[m], list(rs, secs), median(rs),
			list(rs, func(r result) string { return fmt.Sprintf("%d/%d", r.labelled, r.restored) }),
			list(rs, func(r result) string { return fmt.Sprint(r.warnings) }))
	}
	out.WriteString("\n")
	mo := median(results["without"])
	if rs, ok := results["migration"]; ok {
		fmt.Fprintf(&out, "- Ratio migration plugin/without: **%.2f** (%+.2f s, %+.1f ms per restored item).\n",
			median(rs)/mo, median(rs)-mo, (median(rs)-mo)*1000/float64(max(first.items, 1)))
	}
	if rs, ok := results["general"]; ok {
		fmt.Fprintf(&out, "- Ratio general plugin/without: %.2f.\n", median(rs)/mo)
		if mr, ok := results["migration"]; ok {
			fmt.Fprintf(&out, "- Ratio migration/general plugin (what the migration actions add): %.2f.\n", median(mr)/median(rs))
		}
	}
	if haveAudit {
		for _, m := range []string{"general", "migration"} {
			if rs, ok := results[m]; ok {
				fmt.Fprintf(&out, "- API requests made by the plugin per restore (B's audit log, user agent `%s`), %s: %s.\n",
					pluginUserAgent, m, list(rs, func(r result) string { return fmt.Sprint(r.requests) }))
			}
		}
	}
	t.Log("\n" + out.String())
	if err := os.WriteFile(filepath.Join(env.Get(t, "E2E_DIR"), "bench-migration.md"), []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// countMigratedBy lists benchMix's resources in ns on c and returns how many objects there are
// and how many carry both migrated-by labels of plan and m.
func countMigratedBy(ctx context.Context, t *testing.T, c *Cluster, ns string, plan *migrationPlan, m migrationRun) (total, labelled int) {
	t.Helper()
	for _, res := range benchMigrationResources {
		l, err := c.Dynamic.Resource(res).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("%s: listing %s in %s: %v", c, res.Resource, ns, err)
		}
		for _, u := range l.Items {
			total++
			labels := u.GetLabels()
			if labels[migration.MigratedByMigrationLabel] == m.UID && labels[migration.MigratedByPlanLabel] == plan.UID {
				labelled++
			}
		}
	}
	return total, labelled
}

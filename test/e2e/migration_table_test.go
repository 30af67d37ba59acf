//go:build e2e

package e2e

// The table `make demo-migration` prints: what each phase of the migration did, as values read
// back from the clusters before and after the phase (field() of table_test.go renders them).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// migrationReport collects the rows of the table by phase: object/field, before, after.
type migrationReport struct {
	title  string
	phases map[string][][3]string // phase names sort in the order the migration runs them
}

// capture renders rows on c now (PVs are cluster-scoped; everything else lives in ns).
func capture(ctx context.Context, c *Cluster, ns string, rows []tableRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		n := ns
		if r.res == pvsGVR {
			n = ""
		}
		out[i] = field(ctx, c, n, r)
	}
	return out
}

// add records one phase: each row's value before and after it.
func (m *migrationReport) add(phase string, rows []tableRow, before, after []string) {
	if m.phases == nil {
		m.phases = map[string][][3]string{}
	}
	for i, r := range rows {
		m.phases[phase] = append(m.phases[phase], [3]string{r.what, elide(before[i]), elide(after[i])})
	}
}

// elide shortens a long value (image references with digests) to keep the table readable.
func elide(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func (m *migrationReport) String() string {
	var b strings.Builder
	b.WriteString(m.title + "\n\n")
	rows := [][4]string{{"phase", "object / field", "before", "after"}}
	phases := make([]string, 0, len(m.phases))
	for p := range m.phases {
		phases = append(phases, p)
	}
	sort.Strings(phases)
	for _, p := range phases {
		for i, r := range m.phases[p] {
			name := ""
			if i == 0 {
				name = p
			}
			rows = append(rows, [4]string{name, r[0], r[1], r[2]})
		}
	}
	var w [4]int
	for _, r := range rows {
		for i := range r {
			w[i] = max(w[i], len(r[i]))
		}
	}
	for i, r := range rows {
		if i > 0 && r[0] != "" {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%-*s  %-*s  %-*s  %s\n", w[0], r[0], w[1], r[1], w[2], r[2], r[3])
		if i == 0 {
			fmt.Fprintf(&b, "%s  %s  %s  %s\n", strings.Repeat("-", w[0]), strings.Repeat("-", w[1]), strings.Repeat("-", w[2]), strings.Repeat("-", w[3]))
		}
	}
	return b.String()
}

// write logs the table and writes it to $E2E_DIR/migration-<ns>.txt (make demo-migration prints it).
func (m *migrationReport) write(t *testing.T, env Env, ns string) {
	t.Helper()
	s := m.String()
	t.Log("\n" + s)
	if err := os.WriteFile(filepath.Join(env.Get(t, "E2E_DIR"), "migration-"+ns+".txt"), []byte(s), 0o644); err != nil {
		t.Error(err)
	}
}

// The rows of each phase.
func stageBackupRows(s *migrationSample) []tableRow {
	return []tableRow{
		{"A: PV " + s.PVMove + " (move) reclaim policy", pvsGVR, s.PVMove, []string{"spec", "persistentVolumeReclaimPolicy"}},
		{"A: PV " + s.PVMove + " orig-reclaim-policy", pvsGVR, s.PVMove, []string{"metadata", "annotations", migration.OrigReclaimPolicyAnnotation}},
		{"A: PV " + s.PVCopy + " (copy) reclaim policy", pvsGVR, s.PVCopy, []string{"spec", "persistentVolumeReclaimPolicy"}},
	}
}

// stageRestoreRows compare the object on A (before) with what the stage restore made on B (after).
func stageRestoreRows(s *migrationSample) []tableRow {
	pod := func(what string, path ...string) tableRow {
		return tableRow{"pod " + migStagePod + " " + what, podsGVR, migStagePod, path}
	}
	pvc := func(name, what string, path ...string) tableRow {
		return tableRow{"PVC " + name + " " + what, pvcsGVR, name, path}
	}
	return []tableRow{
		pod("image", "spec", "containers", "0", "image"),
		pod("command", "spec", "containers", "0", "command"),
		pod("volumes", "spec", "volumes", "*name"),
		pod("init containers", "spec", "initContainers", "*name"),
		pod("nodeName", "spec", "nodeName"),
		{"pod " + migAppPod + " (application pod) volumes", podsGVR, migAppPod, []string{"spec", "volumes", "*name"}},
		pvc(migPVCCopy, "(copy) storageClassName", "spec", "storageClassName"),
		pvc(migPVCCopy, "(copy) accessModes", "spec", "accessModes"),
		pvc(migPVCCopy, "(copy) selected-node", "metadata", "annotations", annSelectedNode),
		pvc(migPVCSnap, "(copy by snapshot)", nil...),
		pvc(migPVCMove, "(move) volumeName", "spec", "volumeName"),
		{"PV " + s.PVMove + " (move) reclaim policy", pvsGVR, s.PVMove, []string{"spec", "persistentVolumeReclaimPolicy"}},
		{"PV " + s.PVMove + " (move) nfs path", pvsGVR, s.PVMove, []string{"spec", "nfs", "path"}},
		{"ImageStream " + isRuntime + " tag v1", imageStreamsGVR, isRuntime, []string{"spec", "tags", "0", "from", "name"}},
	}
}

func finalStageRestoreRows() []tableRow {
	return []tableRow{
		{"PVC " + migPVCSnap + " (copy by snapshot)", pvcsGVR, migPVCSnap, nil},
		{"PVC " + migPVCSnap + " storageClassName (target \"\")", pvcsGVR, migPVCSnap, []string{"spec", "storageClassName"}},
	}
}

// workloadRows are the field each quiesce case changes; with records, also two of the records.
func workloadRows(s *migrationSample, records bool) []tableRow {
	var rows []tableRow
	for _, w := range s.Workloads {
		rows = append(rows, tableRow{fmt.Sprintf("%s %s %s", w.Res.Resource, w.Name, w.Field[len(w.Field)-1]), w.Res, w.Name, w.Field})
		if w.Paused {
			rows = append(rows, tableRow{fmt.Sprintf("%s %s paused", w.Res.Resource, w.Name), w.Res, w.Name, []string{"spec", "paused"}})
		}
	}
	if records {
		rows = append(rows,
			tableRow{"deployments web preQuiesceReplicas", deploymentsGVR, "web", []string{"metadata", "annotations", migration.PreQuiesceReplicasAnnotation}},
			tableRow{"daemonsets agent preQuiesceNodeSelector", daemonSetsGVR, "agent", []string{"metadata", "annotations", migration.PreQuiesceNodeSelectorAnnotation}})
	}
	return rows
}

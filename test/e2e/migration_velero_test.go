//go:build e2e

package e2e

// The migration suite's side of Velero and of the stack: Backups and Restores labelled and
// annotated exactly as MTC's mig-controller does (SPEC §6, keys from the migration package),
// what a restore left in the bucket (its resource list and results), and the stack script for the
// components a test stops and starts.

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/s3"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/restmapper"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// migrationPlan is one MigPlan of the controller: its UID, the migration registry as each
// cluster reaches it, and the value of the stage-backup label it puts on what stage backups hold.
type migrationPlan struct {
	UID                  string
	RegistryA, RegistryB string // MTC's migration registry as A and as B reach it
	StageLabelValue      string
}

// migrationRun is one MigMigration: its UID and type.
type migrationRun struct {
	UID  string
	Type migration.Type
}

// labels are the labels mig-controller puts on every Backup and Restore of the migration, with
// phase as the phase label (value: the migration UID).
func (p *migrationPlan) labels(m migrationRun, phase migration.Phase) map[string]string {
	return map[string]string{
		migration.PartOfLabel:              migration.PartOfValue,
		string(phase):                      m.UID,
		migration.MigratedByMigrationLabel: m.UID,
		migration.MigratedByPlanLabel:      p.UID,
	}
}

// stageResources are what a stage backup holds (of what carries the stage-backup label).
var stageResources = []string{"persistentvolumes", "persistentvolumeclaims", "pods", "imagestreams.image.openshift.io",
	"namespaces", "serviceaccounts", "secrets", "configmaps"}

// migrationBackup runs one of the migration's Backups on A and requires it Completed without
// errors or warnings. A stage backup holds what carries the plan's stage label; the initial
// backup holds the namespace without its volumes and image streams (the stage backups carry
// those) and, for a final migration with quiesce, asks for the workloads to be stopped.
func (p *migrationPlan) migrationBackup(ctx context.Context, t *testing.T, a *Cluster, name string, m migrationRun, phase migration.Phase, quiesce bool, ns string) *velerov1.Backup {
	t.Helper()
	b := &velerov1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNamespace, Labels: p.labels(m, phase),
			Annotations: map[string]string{migration.TypeAnnotation: string(m.Type), migration.RegistryAnnotation: p.RegistryA}},
		Spec: velerov1.BackupSpec{
			IncludedNamespaces: []string{ns},
			StorageLocation:    "default",
			// No volume snapshotter runs here: snapshot copies are asserted through the restore's
			// skip rule, not through Velero snapshots.
			SnapshotVolumes: boolPtr(false),
			TTL:             metav1.Duration{Duration: time.Hour},
		},
	}
	switch phase {
	case migration.PhaseStageBackup:
		b.Spec.IncludedResources = stageResources
		b.Spec.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{migration.IncludedInStageBackupLabel: p.StageLabelValue}}
	case migration.PhaseInitialBackup:
		// The CRDs: see RunBackup.
		b.Spec.ExcludedResources = []string{"customresourcedefinitions.apiextensions.k8s.io", "persistentvolumes",
			"persistentvolumeclaims", "imagestreams.image.openshift.io", "imagestreamtags.image.openshift.io"}
	default:
		t.Fatalf("backup %s: phase %q is not a backup phase", name, phase)
	}
	if quiesce {
		b.Annotations[migration.QuiesceAnnotation] = "true"
	}
	got := *runBackupObject(ctx, t, a, b)
	if got.Status.Phase != velerov1.BackupPhaseCompleted || got.Status.Errors != 0 || got.Status.Warnings != 0 {
		t.Fatalf("backup %s on A: phase %s, %d errors, %d warnings; Velero log:\n%s", name, got.Status.Phase,
			got.Status.Errors, got.Status.Warnings, logLinesAbout(a, name, 30))
	}
	t.Logf("backup %s on A (%s, %s): %d items", name, m.Type, phase, itemsBackedUp(&got))
	return &got
}

// migrationRestore runs one of the migration's Restores on B and requires it to end Completed
// without errors (warnings: see restoreWarnings). Stage restores carry the stage pod image.
func (p *migrationPlan) migrationRestore(ctx context.Context, t *testing.T, b *Cluster, name, backup string, m migrationRun, phase migration.Phase) *velerov1.Restore {
	t.Helper()
	r := &velerov1.Restore{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNamespace, Labels: p.labels(m, phase),
			Annotations: map[string]string{migration.TypeAnnotation: string(m.Type), migration.RegistryAnnotation: p.RegistryB}},
		Spec: velerov1.RestoreSpec{BackupName: backup, RestorePVs: boolPtr(true)},
	}
	switch phase {
	case migration.PhaseStageRestore:
		r.Annotations[migration.StagePodImageAnnotation] = migStageImage
	case migration.PhaseFinalRestore:
	default:
		t.Fatalf("restore %s: phase %q is not a restore phase", name, phase)
	}
	got := *runRestoreObject(ctx, t, b, r)
	if got.Status.Phase != velerov1.RestorePhaseCompleted || got.Status.Errors != 0 {
		t.Fatalf("restore %s on B: phase %s, %d errors, %d warnings; Velero log:\n%s", name, got.Status.Phase,
			got.Status.Errors, got.Status.Warnings, logLinesAbout(b, name, 40))
	}
	t.Logf("restore %s on B (%s, %s): %s, %d warnings", name, m.Type, phase, got.Status.Phase, got.Status.Warnings)
	return &got
}

// bucket is the shared BackupStorageLocation's bucket, as the tests read it.
type bucket struct {
	client       *s3.S3
	name, prefix string
}

// openBucket returns the bucket of c's default BackupStorageLocation (both clusters share it).
func openBucket(ctx context.Context, t *testing.T, env Env, c *Cluster) *bucket {
	t.Helper()
	client, name, prefix := locationBucket(ctx, t, env, c)
	return &bucket{client: client, name: name, prefix: prefix}
}

// get reads one object of the location (key relative to its prefix), gunzipped when gz.
func (bk *bucket) get(ctx context.Context, t *testing.T, key string, gz bool) []byte {
	t.Helper()
	full := path.Join(bk.prefix, key)
	out, err := bk.client.GetObjectWithContext(ctx, &s3.GetObjectInput{Bucket: aws.String(bk.name), Key: aws.String(full)})
	if err != nil {
		t.Fatalf("s3://%s/%s: %v", bk.name, full, err)
	}
	defer out.Body.Close()
	var r io.Reader = out.Body
	if gz {
		zr, err := gzip.NewReader(out.Body)
		if err != nil {
			t.Fatalf("s3://%s/%s: %v", bk.name, full, err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("s3://%s/%s: %v", bk.name, full, err)
	}
	return b
}

// restoredItem is one entry of a restore's resource list.
type restoredItem struct {
	GVK             schema.GroupVersionKind
	Namespace, Name string
	Action          string // created, updated, skipped, failed
}

func (i restoredItem) String() string {
	if i.Namespace == "" {
		return fmt.Sprintf("%s %s (%s)", i.GVK.Kind, i.Name, i.Action)
	}
	return fmt.Sprintf("%s %s/%s (%s)", i.GVK.Kind, i.Namespace, i.Name, i.Action)
}

var resourceListEntry = regexp.MustCompile(`^(?:([^/]+)/)?([^/(]+)\(([a-z]+)\)$`)

// restoredItems reads the list of items a restore handled, as Velero writes it to the bucket
// (`velero restore describe --details`): "<group>/<version>/<Kind>" -> ["<ns>/<name>(<action>)"].
func (bk *bucket) restoredItems(ctx context.Context, t *testing.T, restore string) []restoredItem {
	t.Helper()
	var list map[string][]string
	raw := bk.get(ctx, t, path.Join("restores", restore, "restore-"+restore+"-resource-list.json.gz"), true)
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("restore %s resource list: %v", restore, err)
	}
	var items []restoredItem
	for gvk, entries := range list {
		i := strings.LastIndex(gvk, "/")
		if i < 0 {
			t.Fatalf("restore %s resource list: key %q is not <apiVersion>/<Kind>", restore, gvk)
		}
		gv, err := schema.ParseGroupVersion(gvk[:i])
		if err != nil {
			t.Fatalf("restore %s resource list: key %q: %v", restore, gvk, err)
		}
		for _, e := range entries {
			m := resourceListEntry.FindStringSubmatch(e)
			if m == nil {
				t.Fatalf("restore %s resource list: entry %q of %s is not [<ns>/]<name>(<action>)", restore, e, gvk)
			}
			items = append(items, restoredItem{GVK: gv.WithKind(gvk[i+1:]), Namespace: m[1], Name: m[2], Action: m[3]})
		}
	}
	return items
}

// restoreResults are the warnings and errors of a restore, as Velero writes them to the bucket.
type restoreResults struct {
	Warnings, Errors restoreResult
}

type restoreResult struct {
	Velero     []string            `json:"velero"`
	Cluster    []string            `json:"cluster"`
	Namespaces map[string][]string `json:"namespaces"`
}

func (r restoreResult) all() []string {
	out := append(append([]string{}, r.Velero...), r.Cluster...)
	for _, msgs := range r.Namespaces {
		out = append(out, msgs...)
	}
	return out
}

func (bk *bucket) restoreResults(ctx context.Context, t *testing.T, restore string) restoreResults {
	t.Helper()
	var res restoreResults
	raw := bk.get(ctx, t, path.Join("restores", restore, "restore-"+restore+"-results.gz"), true)
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("restore %s results: %v", restore, err)
	}
	return res
}

// expectedWarnings are the restore warnings a migration's later restores give on a real Velero,
// whatever the plugin does:
//   - an item an earlier restore of the migration created differs from this backup's copy (its
//     migrated-by labels at least): Velero leaves it and warns;
//   - the final restore restores the initial backup, which holds no PVCs (the stage backups
//     carry them, as mig-controller's initial backup excludes them): Velero's own
//     velero.io/add-pvc-from-pod action (v1.14.1 and v1.18.3) asks for the PVC of every pod
//     volume as an additional item, and warns that the backup does not hold it, before any
//     plugin action sees the pod.
var expectedWarnings = regexp.MustCompile(`already exists\. Warning: the in-cluster version is different than the backed-up version` +
	`|/resources/persistentvolumeclaims/namespaces/[^/]+/[^/]+\.json: no such file or directory`)

// onlyExpectedWarnings fails the test for any warning of the restore that expectedWarnings does
// not explain.
func onlyExpectedWarnings(ctx context.Context, t *testing.T, bk *bucket, r *velerov1.Restore) {
	t.Helper()
	if r.Status.Warnings == 0 {
		return
	}
	res := bk.restoreResults(ctx, t, r.Name)
	for _, w := range res.Warnings.all() {
		if !expectedWarnings.MatchString(w) {
			t.Errorf("restore %s: warning %q", r.Name, w)
		} else {
			t.Logf("restore %s: expected warning: %s", r.Name, w)
		}
	}
}

// restMapper maps the kinds of a restore's resource list to c's resources.
func restMapper(t *testing.T, c *Cluster) func(schema.GroupVersionKind) schema.GroupVersionResource {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatalf("%s: discovery: %v", c, err)
	}
	m := restmapper.NewDiscoveryRESTMapper(groups)
	return func(gvk schema.GroupVersionKind) schema.GroupVersionResource {
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %s: %v", c, gvk, err)
		}
		return mapping.Resource
	}
}

// stack runs hack/stack.sh (the env file's STACK_SCRIPT) with args against this stack and
// returns its combined output.
func stack(ctx context.Context, t *testing.T, env Env, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, env.Get(t, "STACK_SCRIPT"), args...)
	cmd.Env = append(os.Environ(), "E2E_DIR="+env.Get(t, "E2E_DIR"), "VELERO_VERSION="+env.Get(t, "VELERO_VERSION"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

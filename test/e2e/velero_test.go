//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

const veleroNamespace = "velero"

var (
	backupsGVR  = velerov1.SchemeGroupVersion.WithResource("backups")
	restoresGVR = velerov1.SchemeGroupVersion.WithResource("restores")
	ssrGVR      = velerov1.SchemeGroupVersion.WithResource("serverstatusrequests")
)

// toUnstructured converts a typed Velero object for the dynamic client.
func toUnstructured(t testing.TB, obj runtime.Object, kind string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(velerov1.SchemeGroupVersion.String())
	u.SetKind(kind)
	return u
}

func fromUnstructured(t testing.TB, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatal(err)
	}
}

// pollInterval is how often poll looks (the backup benchmark lowers it to time backups finely).
var pollInterval = 500 * time.Millisecond

// poll calls cond every pollInterval until it returns true, an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, cond)
}

// veleroFailure fails the test with the Velero server's log tail attached.
func veleroFailure(t testing.TB, c *Cluster, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s: %s\n----- last lines of %s -----\n%s", c, fmt.Sprintf(format, args...), c.LogFile, tailFile(c.LogFile, 60))
}

// RegisteredPlugins asks the cluster's Velero server which plugins it serves (a
// ServerStatusRequest, the same call as `velero plugin get`), as "kind/name" -> true.
func RegisteredPlugins(ctx context.Context, t testing.TB, c *Cluster) (version string, plugins map[string]bool) {
	t.Helper()
	ssr := &velerov1.ServerStatusRequest{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-", Namespace: veleroNamespace}}
	res := c.Dynamic.Resource(ssrGVR).Namespace(veleroNamespace)
	created, err := res.Create(ctx, toUnstructured(t, ssr, "ServerStatusRequest"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: creating ServerStatusRequest: %v", c, err)
	}
	var got velerov1.ServerStatusRequest
	err = poll(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, created.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		fromUnstructured(t, u, &got)
		return got.Status.Phase == velerov1.ServerStatusRequestPhaseProcessed, nil
	})
	if err != nil {
		veleroFailure(t, c, "ServerStatusRequest not processed: %v", err)
	}
	plugins = map[string]bool{}
	for _, p := range got.Status.Plugins {
		plugins[p.Kind+"/"+p.Name] = true
		plugins[p.Name] = true
	}
	return got.Status.ServerVersion, plugins
}

// RunBackup creates a Backup of the namespaces on c and waits for a terminal phase.
func RunBackup(ctx context.Context, t testing.TB, c *Cluster, name string, namespaces ...string) *velerov1.Backup {
	t.Helper()
	b := &velerov1.Backup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNamespace},
		Spec: velerov1.BackupSpec{
			IncludedNamespaces: namespaces,
			// On OpenShift the APIs of DeploymentConfig, BuildConfig, Build, ImageStream(Tag) and
			// Route are served by openshift-apiserver, so a namespace backup carries no CRD for them.
			// Here they are CRDs, which Velero would back up with their CRs and (as they already
			// exist on B, slightly different) report as one restore warning each.
			ExcludedResources: []string{"customresourcedefinitions.apiextensions.k8s.io"},
			StorageLocation:   "default",
			SnapshotVolumes:   boolPtr(false),
			TTL:               metav1.Duration{Duration: time.Hour},
		},
	}
	got := *runBackupObject(ctx, t, c, b)
	return &got
}

// runBackupObject creates b on c and waits for it to reach a terminal phase; a Backup that does
// not get there fails the test with Velero's log.
func runBackupObject(ctx context.Context, t testing.TB, c *Cluster, b *velerov1.Backup) *velerov1.Backup {
	t.Helper()
	var got velerov1.Backup
	err := createAndWait(ctx, t, c, backupsGVR, "Backup", b, &got, func() bool {
		switch got.Status.Phase {
		case velerov1.BackupPhaseCompleted, velerov1.BackupPhasePartiallyFailed, velerov1.BackupPhaseFailed,
			velerov1.BackupPhaseFailedValidation:
			return true
		}
		return false
	})
	if err != nil {
		veleroFailure(t, c, "Backup %s did not finish (phase %q): %v", b.Name, got.Status.Phase, err)
	}
	return &got
}

// runRestoreObject creates r on c and waits for it to reach a terminal phase; a Restore that does
// not get there fails the test with Velero's log.
func runRestoreObject(ctx context.Context, t testing.TB, c *Cluster, r *velerov1.Restore) *velerov1.Restore {
	t.Helper()
	var got velerov1.Restore
	err := createAndWait(ctx, t, c, restoresGVR, "Restore", r, &got, func() bool {
		switch got.Status.Phase {
		case velerov1.RestorePhaseCompleted, velerov1.RestorePhasePartiallyFailed, velerov1.RestorePhaseFailed,
			velerov1.RestorePhaseFailedValidation:
			return true
		}
		return false
	})
	if err != nil {
		veleroFailure(t, c, "Restore %s did not finish (phase %q): %v", r.Name, got.Status.Phase, err)
	}
	return &got
}

// createAndWait creates obj (a Velero object of the given kind) in Velero's namespace on c, then
// reads it back into into until done reports a terminal state (3 minutes at most).
func createAndWait(ctx context.Context, t testing.TB, c *Cluster, gvr schema.GroupVersionResource, kind string, obj runtime.Object, into any, done func() bool) error {
	t.Helper()
	res := c.Dynamic.Resource(gvr).Namespace(veleroNamespace)
	u := toUnstructured(t, obj, kind)
	if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: creating %s %s: %v", c, kind, u.GetName(), err)
	}
	return poll(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		got, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		fromUnstructured(t, got, into)
		return done(), nil
	})
}

// WaitBackupSynced waits until c's Velero has synced the named backup from the shared bucket.
func WaitBackupSynced(ctx context.Context, t testing.TB, c *Cluster, name string) {
	t.Helper()
	res := c.Dynamic.Resource(backupsGVR).Namespace(veleroNamespace)
	err := poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		return phase == string(velerov1.BackupPhaseCompleted), nil
	})
	if err != nil {
		veleroFailure(t, c, "backup %s was not synced from the bucket: %v", name, err)
	}
}

// RunRestore restores the named backup on c and waits for a terminal phase.
func RunRestore(ctx context.Context, t testing.TB, c *Cluster, name, backup string, nsMapping map[string]string) *velerov1.Restore {
	t.Helper()
	r := &velerov1.Restore{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNamespace},
		Spec: velerov1.RestoreSpec{
			BackupName:       backup,
			NamespaceMapping: nsMapping,
			RestorePVs:       boolPtr(false),
		},
	}
	got := *runRestoreObject(ctx, t, c, r)
	return &got
}

// logLinesAbout returns the Velero server log lines mentioning s (a backup or restore name).
func logLinesAbout(c *Cluster, s string, max int) string {
	var out []string
	for _, l := range strings.Split(tailFile(c.LogFile, 5000), "\n") {
		if strings.Contains(l, s) && (strings.Contains(l, "level=error") || strings.Contains(l, "level=warn")) {
			out = append(out, l)
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return strings.Join(out, "\n")
}

func boolPtr(b bool) *bool { return &b }

// gvr builds a GroupVersionResource.
func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

//go:build e2e

package e2e

// Freeing the images of deleted backups: two image backups of one namespace on A, the second
// after runtime's first image left the stream's history; `velero backup delete` of the first
// frees exactly the objects of the image store only it referenced, Velero reports the deletion
// done without errors, and the second backup still restores on B with every image.

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/s3"
	"github.com/opencontainers/go-digest"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/test/testimage"
)

const actISDelete = "openshift.io/07-imagestream-delete"

var deleteBackupRequestsGVR = velerov1.SchemeGroupVersion.WithResource("deletebackuprequests")

// storeKeys lists the objects of A's location image store, relative to it.
func storeKeys(ctx context.Context, t *testing.T, env Env, a *Cluster) []string {
	t.Helper()
	client, bucket, prefix := locationBucket(ctx, t, env, a)
	root := path.Join(prefix, imageStoreDir) + "/"
	var keys []string
	err := client.ListObjectsV2PagesWithContext(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(root)},
		func(out *s3.ListObjectsV2Output, _ bool) bool {
			for _, o := range out.Contents {
				keys = append(keys, strings.TrimPrefix(*o.Key, root))
			}
			return true
		})
	if err != nil {
		t.Fatalf("listing s3://%s/%s: %v", bucket, root, err)
	}
	sort.Strings(keys)
	return keys
}

// setPluginConfig adds keys to c's plugin ConfigMap (enableImageBackup created it).
func setPluginConfig(ctx context.Context, t *testing.T, c *Cluster, kv map[string]string) {
	t.Helper()
	cms := c.Kube.CoreV1().ConfigMaps(veleroNamespace)
	cm, err := cms.Get(ctx, pluginConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	for k, v := range kv {
		cm.Data[k] = v
	}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
}

// deleteBackup does what `velero backup delete` does (a DeleteBackupRequest labelled with the
// backup's name and uid) and waits until Velero has processed it and the Backup is gone.
func deleteBackup(ctx context.Context, t *testing.T, c *Cluster, b *velerov1.Backup) *velerov1.DeleteBackupRequest {
	t.Helper()
	req := &velerov1.DeleteBackupRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: veleroNamespace, GenerateName: b.Name + "-",
			Labels: map[string]string{velerov1.BackupNameLabel: b.Name, velerov1.BackupUIDLabel: string(b.UID)}},
		Spec: velerov1.DeleteBackupRequestSpec{BackupName: b.Name},
	}
	res := c.Dynamic.Resource(deleteBackupRequestsGVR).Namespace(veleroNamespace)
	created, err := res.Create(ctx, toUnstructured(t, req, "DeleteBackupRequest"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: creating the DeleteBackupRequest: %v", c, err)
	}
	// Velero marks the request Processed with its errors; after a deletion without errors it
	// deletes the Backup and every request for it.
	var got velerov1.DeleteBackupRequest
	err = poll(ctx, 5*time.Minute, func(ctx context.Context) (bool, error) {
		u, err := res.Get(ctx, created.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			got.Status.Phase = velerov1.DeleteBackupRequestPhaseProcessed
		case err != nil:
			return false, err
		default:
			fromUnstructured(t, u, &got)
		}
		if got.Status.Phase != velerov1.DeleteBackupRequestPhaseProcessed {
			return false, nil
		}
		if len(got.Status.Errors) > 0 {
			return true, nil
		}
		_, err = c.Dynamic.Resource(backupsGVR).Namespace(veleroNamespace).Get(ctx, b.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		veleroFailure(t, c, "deleting backup %s: request %s phase %q errors %v: %v", b.Name, created.GetName(), got.Status.Phase, got.Status.Errors, err)
	}
	return &got
}

func TestDeleteBackupFreesItsImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a, b := newCluster(t, env, "a"), newCluster(t, env, "b")
	_, plugins := RegisteredPlugins(ctx, t, a)
	if !plugins[actISDelete] || !plugins[actISBackup] {
		veleroFailure(t, a, "Velero does not list %s and %s", actISDelete, actISBackup)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	ns := "e2e-gc-" + suffix
	if _, err := a.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	im := createImageSample(ctx, t, a, ns)
	enableImageBackup(ctx, t, a)
	// Everything here is minutes old: free it now, not after the default grace period.
	setPluginConfig(ctx, t, a, map[string]string{"imageSweepGrace": "1s"})
	nameSourceRegistry(ctx, t, b, a.Registry)

	first := RunBackup(ctx, t, a, "e2e-gc1-"+suffix, ns)
	if first.Status.Phase != velerov1.BackupPhaseCompleted {
		veleroFailure(t, a, "backup %s: %s", first.Name, first.Status.Phase)
	}
	// runtime's v1 image leaves the stream (tags v1 and prod removed, latest's history pruned to
	// v2): the second backup does not reference it.
	streams := a.Dynamic.Resource(imageStreamsGVR).Namespace(ns)
	u, err := streams.Get(ctx, isRuntime, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedSlice(u.Object, nil, "spec", "tags")
	if u, err = streams.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	tags, _, _ := unstructured.NestedSlice(u.Object, "status", "tags")
	var kept []any
	for _, tg := range tags {
		tm := tg.(map[string]any)
		if tm["tag"] != "latest" {
			continue
		}
		items := tm["items"].([]any)
		tm["items"] = items[:1] // newest first: v2
		kept = append(kept, tm)
	}
	_ = unstructured.SetNestedSlice(u.Object, kept, "status", "tags")
	if _, err := streams.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := RunBackup(ctx, t, a, "e2e-gc2-"+suffix, ns)
	if second.Status.Phase != velerov1.BackupPhaseCompleted {
		veleroFailure(t, a, "backup %s: %s", second.Name, second.Status.Phase)
	}
	time.Sleep(2 * time.Second) // past the 1s grace period

	before := storeKeys(ctx, t, env, a)
	req := deleteBackup(ctx, t, a, first)
	if len(req.Status.Errors) > 0 {
		t.Errorf("Velero reports errors deleting %s: %v", first.Name, req.Status.Errors)
	}
	after := storeKeys(ctx, t, env, a)

	// Exactly what only the first backup referenced: runtime v1's manifest, config and own layer
	// (data, its revision and layer links in <ns>/runtime), and the first backup's records.
	only := map[digest.Digest]bool{im.runtimeV1.Digest: true}
	for _, d := range im.runtimeV1.BlobDigests() {
		only[d] = true
	}
	for _, img := range []*testimage.Image{im.runtimeV2, im.tools} {
		delete(only, img.Digest)
		for _, d := range img.BlobDigests() {
			delete(only, d)
		}
	}
	repo := path.Join("docker/registry/v2/repositories", ns, isRuntime)
	want := []string{path.Join(repo, "_manifests/revisions/sha256", im.runtimeV1.Digest.Encoded(), "link")}
	for d := range only {
		want = append(want, path.Join("docker/registry/v2/blobs/sha256", d.Encoded()[:2], d.Encoded(), "data"))
		if d != im.runtimeV1.Digest {
			want = append(want, path.Join(repo, "_layers/sha256", d.Encoded(), "link"))
		}
	}
	for _, is := range im.streams() {
		want = append(want, path.Join("backups", first.Name, ns, is+".json"))
	}
	sort.Strings(want)
	var freed []string
	for _, k := range before {
		if !slices.Contains(after, k) {
			freed = append(freed, k)
		}
	}
	for _, k := range after {
		if !slices.Contains(before, k) {
			t.Errorf("deleting %s added s3 object %s", first.Name, k)
		}
	}
	if !slices.Equal(freed, want) {
		t.Errorf("deleting %s freed %d objects:\n  %s\nwant exactly the %d only it referenced:\n  %s", first.Name,
			len(freed), strings.Join(freed, "\n  "), len(want), strings.Join(want, "\n  "))
	}
	t.Logf("image store: %d objects before deleting %s, %d after", len(before), first.Name, len(after))
	if lines := logLinesAbout(a, "image store sweep", 5); lines != "" {
		t.Logf("Velero on A:\n%s", lines)
	}

	// The second backup restores on B with every image.
	WaitBackupSynced(ctx, t, b, second.Name)
	target := ns + "-restored"
	prepareDestination(ctx, t, b, target)
	restore := RunRestore(ctx, t, b, second.Name+"-r", second.Name, map[string]string{ns: target})
	if restore.Status.Phase != velerov1.RestorePhaseCompleted && restore.Status.Phase != velerov1.RestorePhasePartiallyFailed {
		veleroFailure(t, b, "restore %s: %s", restore.Name, restore.Status.Phase)
	}
	reg := b.registry(t)
	for is, imgs := range map[string][]digest.Digest{isRuntime: {im.runtimeV2.Digest}, isTools: {im.tools.Digest}} {
		for _, d := range imgs {
			m, found, err := reg.Manifest(target+"/"+is, d.String())
			if err != nil || !found || m.Digest != d {
				t.Errorf("B's registry %s/%s@%s: found %v, %v", target, is, d, found, err)
			}
		}
	}
	if restore.Status.Errors > 0 {
		t.Errorf("restore %s: %d errors", restore.Name, restore.Status.Errors)
	}
}

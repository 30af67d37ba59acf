//go:build e2e

package e2e

// ImageStream image backup and restore (SPEC §5) on the real stack: images pushed to A's registry,
// ImageStreams whose status references them as OpenShift writes it, workloads using them; the
// plugin config on A switches image backup on for the suite's backup. After each restore on B the
// images must be in B's registry under the target namespace with the same digests, each tag on its
// newest generation, and the restored streams and workloads must name them there.

import (
	"context"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
	"github.com/opencontainers/go-digest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/test/testimage"
)

const (
	actISBackup = "openshift.io/07-imagestream-backup"

	isRuntime      = "runtime" // two tags on one image, one tag with two history generations
	isTools        = "tools"   // a multi-layer OCI image sharing its base layer with runtime's; an external tag
	imagesWorkload = "images"  // a bare pod and a Deployment running the images
	externalTools  = "quay.io/example/tools@sha256:1f3c1f2b7e9b4ae3c64b1e8f3d9b0e5a6c7d8e9f0a1b2c3d4e5f60718293a4b5"

	// The plugin's bookkeeping on a backed-up stream, removed by the restore (README, ImageStream images).
	annImageCopyLocation = "openshift.io/image-copy-location"
	annImageCopyMissing  = "openshift.io/image-copy-missing"
	// A user's annotation and label on the streams: the restore keeps them.
	annStreamOwner = "e2e.example/owner"
	labelImages    = "e2e.example/images"

	pluginConfigName = "openshift-velero-plugin-config"
	// imageStoreDir is where the image store lives under a location's prefix (README, ImageStream
	// images): inside plugins/, the one top-level folder Velero tolerates there besides its own.
	imageStoreDir = "plugins/openshift-velero-plugin/images"
)

// statusTag is one internal status tag of a stream: its history, newest first (as the API lists it).
type statusTag struct {
	name        string
	generations []*testimage.Image
}

// imageSample is what createImageSample pushed to A's registry and wrote into the streams.
type imageSample struct {
	runtimeV1, runtimeV2, tools *testimage.Image
	tags                        map[string][]statusTag        // stream -> its internal status tags
	images                      map[string][]*testimage.Image // stream -> the distinct images the backup must hold
	created                     map[digest.Digest]string      // image -> when it was pushed (status items' created)
}

// streams lists the streams with images, in a fixed order.
func (im *imageSample) streams() []string { return []string{isRuntime, isTools} }

// createImageSample pushes the images to c's registry (cluster A) under namespace ns, creates the
// ImageStreams with their status as OpenShift's registry writes it on push and tag, and a bare pod
// and a Deployment that run the images (by digest, and by tag through the stream's lookup policy).
func createImageSample(ctx context.Context, t *testing.T, c *Cluster, ns string) *imageSample {
	t.Helper()
	reg := c.registry(t)
	base := randomLayer(256 << 10) // in all three images
	im := &imageSample{
		runtimeV1: testimage.New(t, testimage.Spec{Docker: true, Cmd: "/bin/runtime-v1"}, base, randomLayer(64<<10)),
		runtimeV2: testimage.New(t, testimage.Spec{Docker: true, Cmd: "/bin/runtime-v2"}, base, randomLayer(96<<10)),
		tools: testimage.New(t, testimage.Spec{Cmd: "/bin/tools"}, base, randomLayer(32<<10), randomLayer(32<<10),
			randomLayer(48<<10)),
		created: map[digest.Digest]string{},
	}
	// Pushed as a build would: runtime v1 as :latest and :v1, then v2 as :latest; tools as :latest.
	// The status items' created times are a minute apart, in push order.
	pushed := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Second)
	for _, p := range []struct {
		repo string
		img  *testimage.Image
		tags []string
	}{
		{isRuntime, im.runtimeV1, []string{"latest", "v1"}},
		{isRuntime, im.runtimeV2, []string{"latest"}},
		{isTools, im.tools, []string{"latest"}},
	} {
		if err := reg.Push(ns+"/"+p.repo, p.img, p.tags...); err != nil {
			t.Fatal(err)
		}
		pushed = pushed.Add(time.Minute)
		im.created[p.img.Digest] = pushed.Format(time.RFC3339)
	}
	if m, _, err := reg.Manifest(ns+"/"+isRuntime, "latest"); err != nil || m.Digest != im.runtimeV2.Digest {
		t.Fatalf("%s: %s/%s:latest is %s (%v), want the second push %s", c, ns, isRuntime, m.Digest, err, im.runtimeV2.Digest)
	}
	im.tags = map[string][]statusTag{
		isRuntime: {
			{name: "latest", generations: []*testimage.Image{im.runtimeV2, im.runtimeV1}},
			{name: "prod", generations: []*testimage.Image{im.runtimeV1}},
			{name: "v1", generations: []*testimage.Image{im.runtimeV1}},
		},
		isTools: {{name: "latest", generations: []*testimage.Image{im.tools}}},
	}
	im.images = map[string][]*testimage.Image{
		isRuntime: {im.runtimeV1, im.runtimeV2},
		isTools:   {im.tools},
	}

	ref := func(is string, img *testimage.Image) string {
		return fmt.Sprintf("%s/%s/%s@%s", c.Registry, ns, is, img.Digest)
	}
	streams := c.Dynamic.Resource(imageStreamsGVR).Namespace(ns)
	for _, is := range []struct {
		name   string
		spec   map[string]any
		extra  []any // status tags besides the internal ones
		labels map[string]any
	}{
		{name: isRuntime, spec: map[string]any{
			"lookupPolicy": map[string]any{"local": true},
			"tags": []any{
				// `oc tag --source=docker <registry>/<ns>/runtime@<v1> runtime:v1`, and `oc tag runtime:v1 runtime:prod`.
				map[string]any{"name": "v1", "from": map[string]any{"kind": "DockerImage", "name": ref(isRuntime, im.runtimeV1)},
					"referencePolicy": map[string]any{"type": "Source"}},
				map[string]any{"name": "prod", "from": map[string]any{"kind": "ImageStreamTag", "name": isRuntime + ":v1", "namespace": ns},
					"referencePolicy": map[string]any{"type": "Source"}},
			},
		}},
		{name: isTools, spec: map[string]any{
			"lookupPolicy": map[string]any{"local": false},
			"tags": []any{map[string]any{"name": "upstream", "reference": true,
				"from": map[string]any{"kind": "DockerImage", "name": externalTools}}},
		}, extra: []any{map[string]any{"tag": "upstream", "items": []any{map[string]any{
			"created": time.Now().UTC().Format(time.RFC3339), "dockerImageReference": externalTools,
			"image": externalTools[strings.Index(externalTools, "@")+1:], "generation": int64(1)}}}}},
	} {
		u := createU(ctx, t, c, imageStreamsGVR, ns, map[string]any{
			"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
			"metadata": map[string]any{"name": is.name, "labels": map[string]any{"app": is.name, labelImages: "true"},
				"annotations": map[string]any{annStreamOwner: "team-" + is.name}},
			"spec": is.spec,
		})
		// Status as the registry and the image stream controller write it: one entry per tag, its
		// history newest first, each item naming the image by digest in this registry.
		gen := u.GetGeneration()
		var tags []any
		for _, tag := range im.tags[is.name] {
			var items []any
			for _, img := range tag.generations {
				items = append(items, map[string]any{"created": im.created[img.Digest],
					"dockerImageReference": ref(is.name, img), "image": img.Digest.String(), "generation": gen})
			}
			tags = append(tags, map[string]any{"tag": tag.name, "items": items})
		}
		repo := fmt.Sprintf("%s/%s/%s", c.Registry, ns, is.name)
		u.Object["status"] = map[string]any{"dockerImageRepository": repo, "tags": append(tags, is.extra...)}
		if _, err := streams.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("%s: ImageStream %s/%s status: %v", c, ns, is.name, err)
		}
	}

	// The workloads: a bare pod by digest, a Deployment by tag (lookupPolicy local resolves it on
	// OpenShift) and by digest.
	labels := map[string]string{"app": imagesWorkload}
	containers := func(runtimeImage string) []corev1.Container {
		return []corev1.Container{{Name: isRuntime, Image: runtimeImage}, {Name: isTools, Image: ref(isTools, im.tools)}}
	}
	if _, err := c.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: imagesWorkload, Labels: labels},
		Spec:       corev1.PodSpec{Containers: containers(ref(isRuntime, im.runtimeV2))},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: imagesWorkload},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: containers(fmt.Sprintf("%s/%s/%s:latest", c.Registry, ns, isRuntime))}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return im
}

// nameSourceRegistry sets backupRegistryHostname in the plugin ConfigMap of c, the restoring
// cluster, to the source's registry host (keeping its other keys) and removes that key when the
// test ends: a source whose registry host is not one of OpenShift's own is named on the
// destination, as README says.
func nameSourceRegistry(ctx context.Context, t *testing.T, c *Cluster, host string) {
	t.Helper()
	cms := c.Kube.CoreV1().ConfigMaps(veleroNamespace)
	set := func(ctx context.Context, value string) error {
		cm, err := cms.Get(ctx, pluginConfigName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if value == "" {
				return nil
			}
			_, err = cms.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: pluginConfigName, Labels: map[string]string{
					"velero.io/plugin-config": "", "openshift.io/velero-plugin": "config"}},
				Data: map[string]string{"backupRegistryHostname": value},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if value == "" {
			delete(cm.Data, "backupRegistryHostname")
		} else {
			cm.Data["backupRegistryHostname"] = value
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}
	if err := set(ctx, host); err != nil {
		t.Fatalf("%s: plugin ConfigMap backupRegistryHostname: %v", c, err)
	}
	t.Cleanup(func() {
		if err := set(context.Background(), ""); err != nil {
			t.Errorf("%s: removing backupRegistryHostname from the plugin ConfigMap: %v", c, err)
		}
	})
}

// enableImageBackup creates (or replaces) the plugin ConfigMap on c with imageStreamBackup "true"
// and removes it when the test ends. The plugin reads it once per plugin process, and Velero
// starts the plugin processes for each backup.
func enableImageBackup(ctx context.Context, t *testing.T, c *Cluster) {
	t.Helper()
	cms := c.Kube.CoreV1().ConfigMaps(veleroNamespace)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: pluginConfigName, Labels: map[string]string{
			"velero.io/plugin-config": "", "openshift.io/velero-plugin": "config"}},
		Data: map[string]string{"imageStreamBackup": "true"},
	}
	_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("%s: plugin ConfigMap: %v", c, err)
	}
	t.Cleanup(func() {
		if err := cms.Delete(context.Background(), pluginConfigName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("%s: deleting the plugin ConfigMap: %v", c, err)
		}
	})
}

// locationBucket returns an S3 client for the stack's bucket and the bucket and prefix of c's
// default BackupStorageLocation.
func locationBucket(ctx context.Context, t *testing.T, env Env, c *Cluster) (client *s3.S3, bucket, prefix string) {
	t.Helper()
	u, err := c.Dynamic.Resource(gvr("velero.io", "v1", "backupstoragelocations")).Namespace(veleroNamespace).Get(ctx, "default", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	prefix, _, _ = unstructured.NestedString(u.Object, "spec", "objectStorage", "prefix")
	bucket, _, _ = unstructured.NestedString(u.Object, "spec", "objectStorage", "bucket")
	sess, err := session.NewSessionWithOptions(session.Options{Config: *aws.NewConfig().
		WithEndpoint(env.Get(t, "S3_URL")).WithRegion("us-east-1").WithS3ForcePathStyle(true).
		WithCredentials(credentials.NewSharedCredentials(env.Get(t, "AWS_SHARED_CREDENTIALS_FILE"), "default"))})
	if err != nil {
		t.Fatal(err)
	}
	return s3.New(sess), bucket, prefix
}

// checkImagesInBucket asserts that the backup wrote the images into the registry layout under
// <prefix>/<imageStoreDir>/ of A's BackupStorageLocation: each image's manifest revision in repository
// <namespace>/<stream>, and every blob (manifest, config, layers) stored once and linked into it.
func checkImagesInBucket(ctx context.Context, t *testing.T, env Env, a *Cluster, ns string, im *imageSample) {
	t.Helper()
	client, bucket, prefix := locationBucket(ctx, t, env, a)
	root := path.Join(prefix, imageStoreDir, "docker/registry/v2")
	exists := func(key string) bool {
		_, err := client.HeadObjectWithContext(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil && !strings.Contains(err.Error(), "NotFound") {
			t.Errorf("s3://%s/%s: %v", bucket, key, err)
		}
		return err == nil
	}
	for _, is := range im.streams() {
		repo := path.Join(root, "repositories", ns, is)
		for _, img := range im.images[is] {
			if key := path.Join(repo, "_manifests/revisions/sha256", img.Digest.Encoded(), "link"); !exists(key) {
				t.Errorf("image %s/%s@%s: no manifest revision s3://%s/%s", ns, is, img.Digest, bucket, key)
			}
			for _, d := range append([]digest.Digest{img.Digest}, img.BlobDigests()...) {
				if key := path.Join(root, "blobs/sha256", d.Encoded()[:2], d.Encoded(), "data"); !exists(key) {
					t.Errorf("image %s/%s@%s: blob %s not stored at s3://%s/%s", ns, is, img.Digest, d, bucket, key)
				}
			}
			for _, d := range img.BlobDigests() {
				if key := path.Join(repo, "_layers/sha256", d.Encoded(), "link"); !exists(key) {
					t.Errorf("image %s/%s@%s: blob %s not linked into the repository (s3://%s/%s)", ns, is, img.Digest, d, bucket, key)
				}
			}
		}
	}
}

// checkImagesInRegistry asserts that every image the backup holds is in B's registry under the
// target namespace with the same digest, media type and blobs, that each internal tag resolves
// to its newest generation, and that the external tag's image was not copied.
func checkImagesInRegistry(ctx context.Context, t *testing.T, s *scenario) {
	im := s.Sample.Images
	reg := s.B.registry(t)
	for _, is := range im.streams() {
		repo := s.TargetNS + "/" + is
		for _, img := range im.images[is] {
			m, found, err := reg.Manifest(repo, img.Digest.String())
			switch {
			case err != nil:
				t.Errorf("%v", err)
				continue
			case !found:
				t.Errorf("registry B %s: image %s@%s (pushed to A as %s/%s) is missing", s.B.Registry, repo, img.Digest, s.SourceNS, is)
				continue
			}
			expect(t, "registry B "+repo+"@"+img.Digest.String()+" digest", m.Digest.String(), img.Digest.String())
			expect(t, "registry B "+repo+"@"+img.Digest.String()+" media type", m.MediaType, img.MediaType)
			for _, b := range img.BlobDigests() {
				if ok, err := reg.HasBlob(repo, b); err != nil || !ok {
					t.Errorf("registry B %s: blob %s of %s@%s not served (%v)", s.B.Registry, b, repo, img.Digest, err)
				}
			}
		}
		for _, tag := range im.tags[is] {
			m, found, err := reg.Manifest(repo, tag.name)
			if err != nil || !found {
				t.Errorf("registry B %s: tag %s:%s missing (%v)", s.B.Registry, repo, tag.name, err)
				continue
			}
			expect(t, fmt.Sprintf("registry B %s:%s (%d generations on A)", repo, tag.name, len(tag.generations)), m.Digest.String(), tag.generations[0].Digest.String())
		}
	}
	if _, found, err := reg.Manifest(s.TargetNS+"/"+isTools, "upstream"); err != nil || found {
		t.Errorf("registry B: %s/%s:upstream exists (%v); the external image %s must not be copied", s.TargetNS, isTools, err, externalTools)
	}
}

// checkImageStreamsWithImages asserts the restored streams: references in B's terms, the user's
// labels, annotations and lookupPolicy kept, the plugin's bookkeeping annotations gone.
func checkImageStreamsWithImages(ctx context.Context, t *testing.T, s *scenario) {
	im := s.Sample.Images
	for _, name := range im.streams() {
		is := s.get(ctx, t, imageStreamsGVR, name)
		sourceAndDestinationAnnotations(t, s, is)
		what := "ImageStream " + name
		expect(t, what+" label app", is.GetLabels()["app"], name)
		expect(t, what+" label "+labelImages, is.GetLabels()[labelImages], "true")
		expect(t, what+" annotation "+annStreamOwner, is.GetAnnotations()[annStreamOwner], "team-"+name)
		for _, k := range []string{annImageCopyLocation, annImageCopyMissing} {
			if v, ok := is.GetAnnotations()[k]; ok {
				t.Errorf("%s: the backup's bookkeeping annotation %s=%q was not removed", what, k, v)
			}
		}
		local, _, _ := unstructured.NestedBool(is.Object, "spec", "lookupPolicy", "local")
		if local != (name == isRuntime) {
			t.Errorf("%s: lookupPolicy.local = %v, want %v", what, local, name == isRuntime)
		}
		tags, _, _ := unstructured.NestedSlice(is.Object, "spec", "tags")
		from := map[string]map[string]any{}
		for _, tg := range tags {
			m, _ := tg.(map[string]any)
			f, _ := m["from"].(map[string]any)
			from[fmt.Sprint(m["name"])] = f
		}
		switch name {
		case isRuntime:
			expect(t, what+" spec tag v1 from.name", fmt.Sprint(from["v1"]["name"]), s.imgB(isRuntime+"@"+im.runtimeV1.Digest.String()))
			expect(t, what+" spec tag prod from.namespace", fmt.Sprint(from["prod"]["namespace"]), s.TargetNS)
			expect(t, what+" spec tag prod from.name", fmt.Sprint(from["prod"]["name"]), isRuntime+":v1")
		case isTools:
			expect(t, what+" spec tag upstream from.name (external)", fmt.Sprint(from["upstream"]["name"]), externalTools)
		}
	}
}

// checkWorkloadsRunRestoredImages asserts that the pod and the Deployment name B's registry and
// the target namespace with the digests they had on A, and that B's registry serves each image
// they name as the same image A's did.
func checkWorkloadsRunRestoredImages(ctx context.Context, t *testing.T, s *scenario) {
	im := s.Sample.Images
	wantPod := []string{s.imgB(isRuntime + "@" + im.runtimeV2.Digest.String()), s.imgB(isTools + "@" + im.tools.Digest.String())}
	wantDeploy := []string{s.imgB(isRuntime + ":latest"), wantPod[1]}
	pod := getPod(ctx, t, s.B, s.TargetNS, imagesWorkload)
	d, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, imagesWorkload, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: Deployment %s/%s: %v", s.B, s.TargetNS, imagesWorkload, err)
	}
	reg := s.B.registry(t)
	for _, w := range []struct {
		what       string
		containers []corev1.Container
		want       []string
	}{{"pod " + imagesWorkload, pod.Spec.Containers, wantPod}, {"deployment " + imagesWorkload, d.Spec.Template.Spec.Containers, wantDeploy}} {
		if len(w.containers) != len(w.want) {
			t.Errorf("%s: %d containers, want %d", w.what, len(w.containers), len(w.want))
			continue
		}
		for i, c := range w.containers {
			expect(t, w.what+" container "+c.Name+" image", c.Image, w.want[i])
			// The reference resolves in B's registry to the image it named on A.
			rest, ok := strings.CutPrefix(c.Image, s.B.Registry+"/")
			if !ok {
				continue
			}
			repo, ref, byDigest := strings.Cut(rest, "@")
			if !byDigest {
				repo, ref, _ = strings.Cut(rest, ":")
			}
			want := im.runtimeV2.Digest // runtime:latest and runtime@v2
			if strings.HasSuffix(repo, "/"+isTools) {
				want = im.tools.Digest
			}
			m, found, err := reg.Manifest(repo, ref)
			if err != nil || !found {
				t.Errorf("%s container %s: %s is not in B's registry (%v)", w.what, c.Name, c.Image, err)
				continue
			}
			expect(t, w.what+" container "+c.Name+": digest B's registry serves for "+c.Image, m.Digest.String(), want.String())
		}
	}
}

// checkLocationsAvailable asserts that both clusters' BackupStorageLocation validated as
// Available after the backup wrote its images: Velero marks a location whose prefix holds a
// top-level folder it does not know Unavailable, and then refuses backups and syncs nothing.
func checkLocationsAvailable(ctx context.Context, t *testing.T, s *scenario) {
	done := s.Backup.Status.CompletionTimestamp
	if done == nil {
		t.Fatalf("backup %s has no completion time", s.Backup.Name)
	}
	for _, c := range []*Cluster{s.A, s.B} {
		u, err := c.Dynamic.Resource(gvr("velero.io", "v1", "backupstoragelocations")).Namespace(veleroNamespace).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
		validated, _, _ := unstructured.NestedString(u.Object, "status", "lastValidationTime")
		at, err := time.Parse(time.RFC3339, validated)
		switch {
		case err != nil:
			t.Errorf("%s: BackupStorageLocation default: lastValidationTime %q: %v", c, validated, err)
		case at.Before(done.Time):
			t.Errorf("%s: BackupStorageLocation default last validated at %s, before backup %s completed (%s)", c, validated, s.Backup.Name, done.UTC().Format(time.RFC3339))
		}
		if phase != "Available" {
			t.Errorf("%s: BackupStorageLocation default is %s after the image backup: %s", c, phase, msg)
		}
	}
}

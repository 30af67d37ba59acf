package imagestream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/label"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

func dg(c string) string { return "sha256:" + strings.Repeat(c, 64) }

// item is one status history entry.
func item(ref, image string, gen int64) map[string]any {
	return map[string]any{"dockerImageReference": ref, "image": image, "generation": gen, "created": "2024-01-01T00:00:00Z"}
}

// imagesStream is app/web with: latest (b newest, a oldest), v1 (a again), an external tag, a tag
// whose image lives in another namespace, and a history entry without digest.
func imagesStream() *unstructured.Unstructured {
	is := stream(map[string]any{
		"lookupPolicy": map[string]any{"local": true},
		"tags": []any{
			tag("latest", ref("DockerImage", src+"/app/web@"+dg("b"), "")),
			tag("ext", ref("DockerImage", "quay.io/org/img:1", "")),
		},
	})
	is.Object["status"] = map[string]any{
		"dockerImageRepository": src + "/app/web",
		"tags": []any{
			map[string]any{"tag": "latest", "items": []any{
				item(src+"/app/web@"+dg("b"), dg("b"), 2),
				item(src+"/app/web@"+dg("a"), dg("a"), 1),
			}},
			map[string]any{"tag": "v1", "items": []any{item(src+"/app/web@"+dg("a"), dg("a"), 1)}},
			map[string]any{"tag": "ext", "items": []any{item("quay.io/org/img@"+dg("c"), dg("c"), 1)}},
			map[string]any{"tag": "other", "items": []any{item(src+"/shared/base@"+dg("d"), dg("d"), 3)}},
			map[string]any{"tag": "nodigest", "items": []any{item(src+"/app/web:old", "", 1)}},
		},
	}
	return is
}

// fakeCluster serves locations, secrets and Backups from maps and records what was asked.
type fakeCluster struct {
	mu        sync.Mutex
	locations map[string]*velerov1.BackupStorageLocation // ns/name
	secrets   map[string][]byte                          // ns/name/key
	backups   map[string]string                          // ns/name -> location
	asked     []string
}

func (f *fakeCluster) note(s string) {
	f.mu.Lock()
	f.asked = append(f.asked, s)
	f.mu.Unlock()
}

func (f *fakeCluster) Location(_ context.Context, ns, name string) (*velerov1.BackupStorageLocation, error) {
	f.note("location " + ns + "/" + name)
	if l, ok := f.locations[ns+"/"+name]; ok {
		return l.DeepCopy(), nil
	}
	return nil, fmt.Errorf("backupstoragelocations %q not found", name)
}

func (f *fakeCluster) SecretKey(_ context.Context, ns, name, key string) ([]byte, bool, error) {
	f.note("secret " + ns + "/" + name + "/" + key)
	d, ok := f.secrets[ns+"/"+name+"/"+key]
	return d, ok, nil
}

func (f *fakeCluster) BackupLocation(_ context.Context, ns, name string) (string, error) {
	f.note("backup " + ns + "/" + name)
	if l, ok := f.backups[ns+"/"+name]; ok {
		return l, nil
	}
	return "", fmt.Errorf("backups %q not found", name)
}

func filesystemBSL(t *testing.T, name string, cred *corev1.SecretKeySelector) *velerov1.BackupStorageLocation {
	return &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: actiontest.VeleroNamespace, Name: name},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: imagecopy.ProviderFilesystem, Config: map[string]string{"path": t.TempDir()},
			Credential:  cred,
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: "b", Prefix: "p"}},
		},
	}
}

type copied struct{ src, dst string } // image names (repo@digest or repo:tag)

// fakeEngine opens real stores and registry handles (neither connects) and records copies;
// fail maps a source digest to the error its copy returns.
type fakeEngine struct {
	mu       sync.Mutex
	jobs     []copied
	dstWhere []string
	creds    [][]byte
	storeErr error
	fail     map[string]error
	convert  map[string]string // source digest -> the digest it is stored as, converted
	insecure []bool            // per registry opened: whether its certificate is not verified
	onCopy   func()
}

func (f *fakeEngine) engine() Engine {
	return Engine{
		OpenStore: func(ctx context.Context, bsl *velerov1.BackupStorageLocation, creds []byte, log logrus.FieldLogger) (*imagecopy.Store, error) {
			f.creds = append(f.creds, creds)
			if f.storeErr != nil {
				return nil, f.storeErr
			}
			return imagecopy.OpenStore(ctx, bsl, imagecopy.StoreOptions{Credentials: creds, Log: log})
		},
		OpenRegistry: func(host string, insecure bool) (*imagecopy.Registry, error) {
			f.mu.Lock()
			f.insecure = append(f.insecure, insecure)
			f.mu.Unlock()
			return imagecopy.NewRegistry(imagecopy.RegistryOptions{Host: host, InsecureSkipTLSVerify: insecure})
		},
		CopyAll: func(_ context.Context, _ logrus.FieldLogger, _ config.Config, jobs []imagecopy.Job) []imagecopy.Result {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.onCopy != nil {
				f.onCopy()
			}
			out := make([]imagecopy.Result, len(jobs))
			for i, j := range jobs {
				f.jobs = append(f.jobs, copied{j.Src.Name(), j.Dst.Name()})
				f.dstWhere = append(f.dstWhere, j.Dst.String())
				out[i] = imagecopy.Result{Job: j}
				for from, to := range f.convert {
					if strings.HasSuffix(j.Src.Name(), "@"+from) {
						out[i].Converted, out[i].Digest = true, digest.Digest(to)
					}
				}
				for d, err := range f.fail {
					if strings.Contains(j.Src.Name(), d) {
						out[i].Err = fmt.Errorf("copy %s to %s: %w", j.Src, j.Dst, err)
					}
				}
			}
			return out
		},
	}
}

var manifestUnknown = errcode.Error{Code: v2.ErrorCodeManifestUnknown, Message: "manifest unknown"}

func sourceEnv() (action.Env, *bytes.Buffer) {
	env := actiontest.Env()
	facts := actiontest.DestinationFacts
	facts.RegistryHostname = src
	env.Facts = clusterfacts.Static(facts)
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	env.Log = log
	return env, &buf
}

func newBackupUnderTest(t *testing.T, enabled bool, cred *corev1.SecretKeySelector) (*Backup, *fakeCluster, *fakeEngine, action.Env, *bytes.Buffer) {
	env, logs := sourceEnv()
	fc := &fakeCluster{
		locations: map[string]*velerov1.BackupStorageLocation{"velero/default": filesystemBSL(t, "default", cred)},
		secrets:   map[string][]byte{"velero/bsl-creds/cloud2": []byte("the-secret-value")},
	}
	fe := &fakeEngine{}
	b := NewBackup(env)
	b.Enabled = func() bool { return enabled }
	b.Cluster, b.Engine = fc, fe.engine()
	return b, fc, fe, env, logs
}

func backupWithLocation(annotations map[string]string) *velerov1.Backup {
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	bk.Annotations = annotations
	return bk
}

func runBackup(t *testing.T, b *Backup, env action.Env, is *unstructured.Unstructured, bk *velerov1.Backup) (*unstructured.Unstructured, error) {
	t.Helper()
	out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, is, bk)
	return out, err
}

func TestBackupOptOuts(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		backup  map[string]string
		stream  map[string]string
	}{
		{name: "not enabled"},
		{name: "backup opts out", enabled: true, backup: map[string]string{keys.DisableImageCopy: "true"}},
		{name: "stream opts out", enabled: true, stream: map[string]string{keys.SkipImageCopy: "true"}},
		// One copy per stream: the migration plugin copies into the migration registry.
		{name: "backup names a migration registry", enabled: true, backup: map[string]string{keys.MigrationRegistry: "migration-registry:5000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, fc, fe, env, _ := newBackupUnderTest(t, tt.enabled, nil)
			is := imagesStream()
			a := is.GetAnnotations()
			for k, v := range tt.stream {
				a[k] = v
			}
			is.SetAnnotations(a)
			want := is.DeepCopy()
			out, err := runBackup(t, b, env, is, backupWithLocation(tt.backup))
			if err != nil {
				t.Fatal(err)
			}
			if len(fe.jobs) != 0 || len(fc.asked) != 0 {
				t.Errorf("copied %v, asked %v; want nothing", fe.jobs, fc.asked)
			}
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Errorf("item changed: %v", out.GetAnnotations())
			}
		})
	}
}

// TestBackupEnabledByPluginConfig: the plugin ConfigMap's imageStreamBackup switches image backup on
// without the environment variable.
func TestBackupEnabledByPluginConfig(t *testing.T) {
	b, _, fe, env, _ := newBackupUnderTest(t, false, nil)
	cfg := config.Default()
	cfg.ImageStreamBackup = true
	env.Config = config.Static(cfg)
	b.env = env
	if _, err := runBackup(t, b, env, imagesStream(), backupWithLocation(nil)); err != nil {
		t.Fatal(err)
	}
	if len(fe.jobs) == 0 {
		t.Fatal("nothing copied although the plugin config enables image backup")
	}
}

func TestBackupCopiesInternalImagesOnce(t *testing.T) {
	b, fc, fe, env, logs := newBackupUnderTest(t, true, &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "bsl-creds"}, Key: "cloud2"})
	out, err := runBackup(t, b, env, imagesStream(), backupWithLocation(map[string]string{keys.DisableImageCopy: "false"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []copied{
		{"app/web@" + dg("a"), "app/web@" + dg("a")},
		{"app/web@" + dg("b"), "app/web@" + dg("b")},
		{"shared/base@" + dg("d"), "app/web@" + dg("d")},
	}
	if !reflect.DeepEqual(fe.jobs, want) {
		t.Errorf("copies\n%v\nwant\n%v", fe.jobs, want)
	}
	for _, w := range fe.dstWhere {
		if !strings.Contains(w, "backup storage location velero/default") {
			t.Errorf("copied into %s, want the Backup's location", w)
		}
	}
	if got := out.GetAnnotations()[keys.ImageCopyLocation]; got != "default" {
		t.Errorf("%s = %q", keys.ImageCopyLocation, got)
	}
	if got := out.GetAnnotations()[keys.BackupRegistryHostname]; got != src {
		t.Errorf("%s = %q, want the registry the images were copied from", keys.BackupRegistryHostname, got)
	}
	if _, ok := out.GetAnnotations()[keys.ImageCopyMissing]; ok {
		t.Errorf("%s set with nothing missing", keys.ImageCopyMissing)
	}
	if len(fe.creds) != 1 || string(fe.creds[0]) != "the-secret-value" {
		t.Errorf("store opened with %q, want the spec.credential secret", fe.creds)
	}
	if !reflect.DeepEqual(fc.asked, []string{"location velero/default", "secret velero/bsl-creds/cloud2"}) {
		t.Errorf("asked %v", fc.asked)
	}
	if strings.Contains(logs.String(), "the-secret-value") {
		t.Error("credential logged")
	}
	if !strings.Contains(logs.String(), `nodigest`) {
		t.Errorf("entry without digest not warned about:\n%s", logs)
	}

	// A second stream of the same backup reuses the opened store.
	fc.asked = nil
	is2 := imagesStream()
	is2.SetName("api")
	if _, err := runBackup(t, b, env, is2, backupWithLocation(nil)); err != nil {
		t.Fatal(err)
	}
	if len(fc.asked) != 0 || len(fe.creds) != 1 {
		t.Errorf("store opened again: asked %v", fc.asked)
	}
}

func TestBackupDefaultCredentialAndRecordedHost(t *testing.T) {
	b, fc, fe, _, _ := newBackupUnderTest(t, true, nil)
	// No discovered registry: the host recorded on the item by the common backup action is used.
	env := actiontest.Env()
	facts := actiontest.DestinationFacts
	facts.RegistryHostname = ""
	env.Facts = clusterfacts.Static(facts)
	b.env = env
	if _, err := runBackup(t, b, env, actiontest.FromSource(imagesStream()), backupWithLocation(nil)); err != nil {
		t.Fatal(err)
	}
	if len(fe.jobs) != 3 {
		t.Errorf("copies %v", fe.jobs)
	}
	if !reflect.DeepEqual(fc.asked, []string{"location velero/default", "secret velero/cloud-credentials/cloud"}) {
		t.Errorf("asked %v", fc.asked)
	}
	if len(fe.creds) != 1 || fe.creds[0] != nil {
		t.Errorf("creds %q, want none (secret absent)", fe.creds)
	}
}

func TestBackupMissingIsWarningOtherFailuresAreErrors(t *testing.T) {
	b, _, fe, env, logs := newBackupUnderTest(t, true, nil)
	fe.fail = map[string]error{dg("b"): manifestUnknown, dg("d"): errcode.Error{Code: v2.ErrorCodeNameUnknown}}
	out, err := runBackup(t, b, env, imagesStream(), backupWithLocation(nil))
	if err != nil {
		t.Fatalf("missing images: %v", err)
	}
	if len(fe.jobs) != 3 {
		t.Errorf("copies %v: the others must still copy", fe.jobs)
	}
	if got, want := out.GetAnnotations()[keys.ImageCopyMissing], dg("b")+","+dg("d"); got != want {
		t.Errorf("%s = %q, want %q", keys.ImageCopyMissing, got, want)
	}
	for _, s := range []string{"tag latest image " + dg("b") + " is missing", "tag other image " + dg("d")} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("no warning %q in\n%s", s, logs)
		}
	}

	b, _, fe, env, _ = newBackupUnderTest(t, true, nil)
	fe.fail = map[string]error{dg("a"): errors.New("unauthorized: authentication required")}
	_, err = runBackup(t, b, env, imagesStream(), backupWithLocation(nil))
	if err == nil {
		t.Fatal("no error for a failed copy")
	}
	for _, s := range []string{BackupName, "ImageStream app/web", "registry " + src, "backup storage location velero/default", "tag latest,v1 image " + dg("a"), "unauthorized"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if len(fe.jobs) != 3 {
		t.Errorf("copies %v: the others must still be tried", fe.jobs)
	}

	b, _, fe, env, _ = newBackupUnderTest(t, true, nil)
	fe.storeErr = errors.New("backup storage location velero/default (aws): cannot access the image store: AccessDenied")
	if _, err = runBackup(t, b, env, imagesStream(), backupWithLocation(nil)); err == nil || !strings.Contains(err.Error(), "velero/default") {
		t.Errorf("store error = %v", err)
	}
	b, _, _, env, _ = newBackupUnderTest(t, true, nil)
	if _, err = runBackup(t, b, env, imagesStream(), actiontest.Backup()); err == nil || !strings.Contains(err.Error(), "no storage location") {
		t.Errorf("no location: %v", err)
	}
}

func TestInternalImagesBadStatusNamesField(t *testing.T) {
	for _, tt := range []struct {
		status any
		field  string
	}{
		{"x", "status: expected an object"},
		{map[string]any{"tags": "x"}, "status.tags: expected a list"},
		{map[string]any{"tags": []any{map[string]any{"tag": 1.0}}}, "status.tags[0].tag: expected a string"},
		{map[string]any{"tags": []any{map[string]any{"items": []any{"x"}}}}, "status.tags[0].items[0]: expected an object"},
		{map[string]any{"tags": []any{map[string]any{"items": []any{map[string]any{"dockerImageReference": 2.0}}}}}, "status.tags[0].items[0].dockerImageReference: expected a string"},
		{map[string]any{"tags": []any{map[string]any{"items": []any{map[string]any{"dockerImageReference": src + "/app/UP@x"}}}}}, "status.tags[0].items[0].dockerImageReference: invalid image reference"},
	} {
		_, _, err := internalImages(map[string]any{"status": tt.status}, []string{src})
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%v: error %v, want %q", tt.status, err, tt.field)
		}
	}
	if im, _, err := internalImages(imagesStream().Object, nil); err != nil || im != nil {
		t.Errorf("no host: %v %v", im, err)
	}
}

// fakeStreams holds destination ImageStreams by ns/name.
type fakeStreams struct {
	live    map[string]*unstructured.Unstructured
	updates int
	creates int
	getErr  error
}

func (f *fakeStreams) Get(_ context.Context, ns, name string) (*unstructured.Unstructured, error) {
	if f.getErr != nil {
		return nil, f.getErr
	}
	if o, ok := f.live[ns+"/"+name]; ok {
		return o.DeepCopy(), nil
	}
	return nil, nil
}

func (f *fakeStreams) Update(_ context.Context, obj *unstructured.Unstructured) error {
	f.updates++
	f.live[obj.GetNamespace()+"/"+obj.GetName()] = obj.DeepCopy()
	return nil
}

func (f *fakeStreams) Create(_ context.Context, obj *unstructured.Unstructured) error {
	f.creates++
	key := obj.GetNamespace() + "/" + obj.GetName()
	if _, ok := f.live[key]; ok {
		return apierrors.NewAlreadyExists(streamGVR.GroupResource(), obj.GetName())
	}
	f.live[key] = obj.DeepCopy()
	return nil
}

// pushCreated is what the registry creates on push: a bare stream.
func pushCreated(ns, name string) *unstructured.Unstructured {
	o := actiontest.Object("image.openshift.io/v1", "ImageStream", ns, name, map[string]any{
		"spec":   map[string]any{"lookupPolicy": map[string]any{"local": false}},
		"status": map[string]any{"dockerImageRepository": dst + "/" + ns + "/" + name},
	})
	o.SetAnnotations(map[string]string{"openshift.io/image.dockerRepositoryCheck": "x"})
	o.SetResourceVersion("7")
	return o
}

func newRestoreUnderTest(t *testing.T) (*Restore, *fakeCluster, *fakeEngine, *bytes.Buffer) {
	env := actiontest.Env()
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	env.Log = log
	fc := &fakeCluster{
		locations: map[string]*velerov1.BackupStorageLocation{"velero/here": filesystemBSL(t, "here", nil)},
		backups:   map[string]string{"velero/backup-1": "here"},
	}
	fe := &fakeEngine{}
	r := NewRestore(env)
	r.Cluster, r.Engine, r.Streams = fc, fe.engine(), &fakeStreams{live: map[string]*unstructured.Unstructured{}}
	return r, fc, fe, &buf
}

func backedUp(missing string) *unstructured.Unstructured {
	is := actiontest.FromSource(imagesStream())
	a := is.GetAnnotations()
	a[keys.ImageCopyLocation] = "default"
	if missing != "" {
		a[keys.ImageCopyMissing] = missing
	}
	is.SetAnnotations(a)
	return is
}

func runRestoreWith(t *testing.T, r *Restore, is *unstructured.Unstructured, mapping map[string]string) (*unstructured.Unstructured, error) {
	t.Helper()
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), is, actiontest.Restore(mapping))
	if err != nil {
		return nil, err
	}
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return obj, nil
}

func TestRestorePushesOldestFirstIntoMappedNamespace(t *testing.T) {
	r, fc, fe, logs := newRestoreUnderTest(t)
	in := backedUp(dg("d"))
	out, err := runRestoreWith(t, r, in, map[string]string{"app": "app2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []copied{
		{"app/web@" + dg("a"), "app2/web:latest"},
		{"app/web@" + dg("b"), "app2/web:latest"},
		{"app/web@" + dg("a"), "app2/web:v1"},
	}
	if !reflect.DeepEqual(fe.jobs, want) {
		t.Errorf("copies\n%v\nwant\n%v", fe.jobs, want)
	}
	for _, w := range fe.dstWhere {
		if !strings.HasPrefix(w, "registry "+dst+" ") {
			t.Errorf("pushed to %s, want the destination registry", w)
		}
	}
	if !strings.Contains(logs.String(), "tag \\\"other\\\" image "+dg("d")+" was missing") {
		t.Errorf("missing image not warned about:\n%s", logs)
	}
	if !reflect.DeepEqual(fc.asked, []string{"backup velero/backup-1", "location velero/here", "secret velero/cloud-credentials/cloud"}) {
		t.Errorf("asked %v", fc.asked)
	}
	a := out.GetAnnotations()
	if _, ok := a[keys.ImageCopyLocation]; ok || a[keys.ImageCopyMissing] != "" {
		t.Errorf("bookkeeping annotations restored: %v", a)
	}
	if a["openshift.io/image.dockerRepositoryCheck"] == "" || out.GetLabels()["team"] != "a" {
		t.Errorf("labels/annotations lost: %v %v", out.GetLabels(), a)
	}
	spec := out.Object["spec"].(map[string]any)
	if !reflect.DeepEqual(spec["lookupPolicy"], map[string]any{"local": true}) {
		t.Errorf("lookupPolicy = %v", spec["lookupPolicy"])
	}
	if got := spec["tags"].([]any)[0].(map[string]any)["from"].(map[string]any)["name"]; got != dst+"/app2/web@"+dg("b") {
		t.Errorf("reference not rewritten: %v", got)
	}
}

func TestRestoreWithoutBackedUpImages(t *testing.T) {
	r, fc, fe, _ := newRestoreUnderTest(t)
	if _, err := runRestoreWith(t, r, actiontest.FromSource(imagesStream()), nil); err != nil {
		t.Fatal(err)
	}
	if len(fe.jobs) != 0 || len(fc.asked) != 0 {
		t.Errorf("copied %v asked %v", fe.jobs, fc.asked)
	}

	// Images in the backup but the source recorded without a registry: a warning, the object
	// still restored.
	r, fc, fe, logs := newRestoreUnderTest(t)
	is := imagesStream()
	is.SetAnnotations(map[string]string{keys.ImageCopyLocation: "default", keys.BackupRegistryHostname: ""})
	out, err := runRestoreWith(t, r, is, nil)
	if err != nil || out == nil {
		t.Fatal(err)
	}
	if len(fe.jobs) != 0 || len(fc.asked) != 0 || !strings.Contains(logs.String(), "no source registry is recorded") {
		t.Errorf("copied %v asked %v logs %s", fe.jobs, fc.asked, logs)
	}
}

// A destination where discovery found no internal registry, with the registry named by the plugin
// config's restoreRegistryHostname: the images are pushed there and the references point at it.
func TestRestoreRegistryOverridePushesWhereDiscoveryFoundNoRegistry(t *testing.T) {
	r, _, fe, logs := newRestoreUnderTest(t)
	none := actiontest.DestinationFacts
	none.RegistryHostname, none.RegistryEnabled = "", false
	r.env.Facts = clusterfacts.Static(none)
	cfg := config.Default()
	cfg.RestoreRegistryHostname = "registry.override.example.com:5000"
	r.env.Config = config.Static(cfg)
	out, err := runRestoreWith(t, r, backedUp(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fe.jobs) != 4 {
		t.Fatalf("copies %v; want every backed-up image pushed to the configured registry\n%s", fe.jobs, logs)
	}
	for _, w := range fe.dstWhere {
		if !strings.HasPrefix(w, "registry registry.override.example.com:5000 ") {
			t.Errorf("pushed to %s, want the configured registry", w)
		}
	}
	spec := out.Object["spec"].(map[string]any)
	if got := spec["tags"].([]any)[0].(map[string]any)["from"].(map[string]any)["name"]; got != "registry.override.example.com:5000/app/web@"+dg("b") {
		t.Errorf("reference = %v, want it on the configured registry", got)
	}
}

func TestRestoreFallsBackToRecordedLocationAndReportsFailures(t *testing.T) {
	r, fc, fe, _ := newRestoreUnderTest(t)
	fc.backups = nil
	fc.locations["velero/default"] = filesystemBSL(t, "default", nil)
	fe.fail = map[string]error{dg("b"): errors.New("denied: access forbidden")}
	_, err := runRestoreWith(t, r, backedUp(""), nil)
	if err == nil {
		t.Fatal("no error for a failed push")
	}
	for _, s := range []string{RestoreName, "backup storage location velero/default", "registry " + dst, `tag "latest" image ` + dg("b"), "denied"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if len(fe.jobs) != 4 {
		t.Errorf("copies %v", fe.jobs)
	}
}

// One image of many failing to push does not cost the others or the stream: every other image is
// pushed, the stream is restored (completed if the registry created it on push, created by the
// plugin otherwise, left alone if it existed before), and the item fails with an error naming each
// failed image, so Velero's restore ends PartiallyFailed.
func TestRestoreWhereOneImageFailsRestoresTheOthersAndTheStream(t *testing.T) {
	tests := []struct {
		name        string
		before      bool // the stream existed on the destination before the push
		pushCreates bool // the registry creates the stream on push
		wantUpdates int
	}{
		{"registry creates the stream on push", false, true, 1},
		{"registry does not create streams", false, false, 0},
		{"stream existed before", true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, fe, logs := newRestoreUnderTest(t)
			fs := r.Streams.(*fakeStreams)
			if tt.before {
				fs.live["app2/web"] = pushCreated("app2", "web")
			}
			fe.fail = map[string]error{dg("b"): errors.New("blob upload invalid")}
			fe.onCopy = func() {
				if tt.pushCreates {
					fs.live["app2/web"] = pushCreated("app2", "web")
				}
			}
			_, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), backedUp(""), actiontest.Restore(map[string]string{"app": "app2"}))
			actiontest.ErrorNames(t, err, RestoreName, "ImageStream app/web", "1 of 4 images", `tag "latest" image `+dg("b"), "blob upload invalid", "registry "+dst)
			for _, other := range []string{dg("a"), dg("d")} {
				if strings.Contains(err.Error(), other) {
					t.Errorf("error names %s, which was pushed: %v", other, err)
				}
			}
			if len(fe.jobs) != 4 {
				t.Errorf("copies %v; want every image tried", fe.jobs)
			}
			live := fs.live["app2/web"]
			if live == nil {
				t.Fatalf("no stream on the destination; want it restored despite the failed image\n%s", logs)
			}
			if fs.updates != tt.wantUpdates {
				t.Errorf("updates = %d, want %d", fs.updates, tt.wantUpdates)
			}
			if tt.before {
				if !reflect.DeepEqual(live, pushCreated("app2", "web")) {
					t.Errorf("a stream that existed before was changed: %v", live.Object)
				}
				return
			}
			if live.GetLabels()["team"] != "a" || live.GetLabels()[velerov1.RestoreNameLabel] != "restore-1" || live.GetLabels()[velerov1.BackupNameLabel] != "backup-1" {
				t.Errorf("labels %v", live.GetLabels())
			}
			if _, ok := live.GetAnnotations()[keys.ImageCopyLocation]; ok {
				t.Error("bookkeeping annotation on the restored stream")
			}
			if got, _, _ := unstructured.NestedSlice(live.Object, "spec", "tags"); len(got) == 0 ||
				got[0].(map[string]any)["from"].(map[string]any)["name"] != dst+"/app2/web@"+dg("b") {
				t.Errorf("spec.tags not restored rewritten: %v", got)
			}
		})
	}
}

// The restore reads its Backup (for the storage location) once, not once per image stream; another
// restore reads it again, and a failed read is not remembered.
func TestRestoreReadsTheBackupOncePerRestore(t *testing.T) {
	r, fc, _, _ := newRestoreUnderTest(t)
	reg := actiontest.Registration(RestoreName, action.KindRestore, r)
	backupReads := func() int {
		n := 0
		for _, a := range fc.asked {
			if strings.HasPrefix(a, "backup ") {
				n++
			}
		}
		return n
	}
	restore := func(uid string) {
		t.Helper()
		rs := actiontest.Restore(nil)
		rs.UID = types.UID(uid)
		for _, name := range []string{"web", "api", "db"} {
			is := backedUp("")
			is.SetName(name)
			if _, err := actiontest.RunRestore(t, reg, actiontest.Env(), is, rs); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
	restore("restore-uid-1")
	if n := backupReads(); n != 1 {
		t.Fatalf("Backup read %d times for three image streams of one restore, want 1 (asked %v)", n, fc.asked)
	}
	restore("restore-uid-2")
	if n := backupReads(); n != 2 {
		t.Fatalf("Backup read %d times after a second restore, want 2", n)
	}
	fc.backups = nil // the read fails: the recorded location is used, and the next stream reads again
	fc.locations["velero/default"] = filesystemBSL(t, "default", nil)
	restore("restore-uid-3")
	if n := backupReads(); n != 5 {
		t.Fatalf("Backup read %d times, want each of three failed reads retried (5)", n)
	}
}

func TestIsMissing(t *testing.T) {
	for err, want := range map[error]bool{
		fmt.Errorf("reading manifest: %w", manifestUnknown):                          true,
		fmt.Errorf("x: %w", errcode.Error{Code: v2.ErrorCodeNameUnknown}):            true,
		errors.New(`reading manifest sha256:1 in r/x: StatusCode: 404, "not found"`): true,
		errors.New("unauthorized: authentication required"):                          false,
		fmt.Errorf("x: %w", errcode.Error{Code: errcode.ErrorCodeUnauthorized}):      false,
	} {
		if got := isMissing(err); got != want {
			t.Errorf("isMissing(%v) = %v", err, got)
		}
	}
}

func TestRestoreCompletesStreamCreatedOnPush(t *testing.T) {
	r, _, fe, _ := newRestoreUnderTest(t)
	fs := r.Streams.(*fakeStreams)
	fe.onCopy = func() { fs.live["app2/web"] = pushCreated("app2", "web") }
	in := backedUp("")
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), in, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatal(err)
	}
	if !out.SkipRestore || fs.updates != 1 {
		t.Fatalf("skip = %v, updates = %d; want the live stream completed and Velero's create skipped", out.SkipRestore, fs.updates)
	}
	live := fs.live["app2/web"]
	if live.GetLabels()["team"] != "a" || live.GetAnnotations()["openshift.io/image.dockerRepositoryCheck"] != "2024-01-01T00:00:00Z" ||
		live.GetAnnotations()[keys.BackupRegistryHostname] != src || live.GetResourceVersion() != "7" {
		t.Errorf("live metadata %v %v", live.GetLabels(), live.GetAnnotations())
	}
	if _, ok := live.GetAnnotations()[keys.ImageCopyLocation]; ok {
		t.Error("bookkeeping annotation on the live stream")
	}
	spec := live.Object["spec"].(map[string]any)
	if !reflect.DeepEqual(spec["lookupPolicy"], map[string]any{"local": true}) {
		t.Errorf("lookupPolicy %v", spec["lookupPolicy"])
	}
	if got := spec["tags"].([]any)[0].(map[string]any)["from"].(map[string]any)["name"]; got != dst+"/app2/web@"+dg("b") {
		t.Errorf("spec.tags not rewritten on the live stream: %v", got)
	}
	if live.Object["status"] == nil {
		t.Error("live status dropped")
	}
}

// A stream the plugin completes in place of Velero's create carries the labels Velero puts on every
// object it restores, with Velero's shortening of long names.
func TestAdoptedStreamCarriesVeleroRestoreLabels(t *testing.T) {
	long := strings.Repeat("nightly-restore-of-the-shop-namespaces-", 3)
	for _, tt := range []struct{ restore, backup string }{
		{"restore-1", "backup-1"},
		{long, long + "backup"},
	} {
		t.Run(tt.restore, func(t *testing.T) {
			r, fc, fe, _ := newRestoreUnderTest(t)
			fc.backups["velero/"+tt.backup] = "here"
			fs := r.Streams.(*fakeStreams)
			fe.onCopy = func() { fs.live["app/web"] = pushCreated("app", "web") }
			restore := actiontest.Restore(nil)
			restore.Name, restore.Spec.BackupName = tt.restore, tt.backup
			out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), backedUp(""), restore)
			if err != nil {
				t.Fatal(err)
			}
			if !out.SkipRestore {
				t.Fatal("the stream created on push was not adopted")
			}
			labels := fs.live["app/web"].GetLabels()
			want := map[string]string{velerov1.RestoreNameLabel: label.GetValidName(tt.restore), velerov1.BackupNameLabel: label.GetValidName(tt.backup), "team": "a"}
			for k, v := range want {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
				}
			}
		})
	}
}

func TestRestoreNeverTouchesAStreamThatExistedBeforeThePush(t *testing.T) {
	r, _, fe, _ := newRestoreUnderTest(t)
	fs := r.Streams.(*fakeStreams)
	fs.live["app/web"] = pushCreated("app", "web")
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), backedUp(""), actiontest.Restore(nil))
	if err != nil {
		t.Fatal(err)
	}
	if out.SkipRestore || fs.updates != 0 || len(fe.jobs) != 4 {
		t.Errorf("skip = %v, updates = %d, copies %v; want images pushed, the existing stream left to Velero", out.SkipRestore, fs.updates, fe.jobs)
	}

	fs.getErr = errors.New("imagestreams is forbidden")
	if _, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), actiontest.Env(), backedUp(""), actiontest.Restore(nil)); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("get error = %v", err)
	}
}

func TestBackupDigestStoredFromAnotherRepositoryIsNotMissing(t *testing.T) {
	b, _, fe, env, _ := newBackupUnderTest(t, true, nil)
	is := stream(nil)
	is.Object["status"] = map[string]any{"tags": []any{
		map[string]any{"tag": "x", "items": []any{item(src+"/app/web@"+dg("e"), dg("e"), 2), item(src+"/shared/base@"+dg("e"), dg("e"), 1)}},
		map[string]any{"tag": "y", "items": []any{item(src+"/old/gone@"+dg("f"), dg("f"), 1), item(src+"/older/gone@"+dg("f"), dg("f"), 1)}},
	}}
	fe.fail = map[string]error{"shared/base@" + dg("e"): manifestUnknown, dg("f"): manifestUnknown}
	out, err := runBackup(t, b, env, is, backupWithLocation(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(fe.jobs) != 4 {
		t.Errorf("copies %v", fe.jobs)
	}
	if got := out.GetAnnotations()[keys.ImageCopyMissing]; got != dg("f") {
		t.Errorf("%s = %q, want only %s once", keys.ImageCopyMissing, got, dg("f"))
	}
}

func TestBackupRecordsConvertedDigests(t *testing.T) {
	b, _, fe, env, logs := newBackupUnderTest(t, true, nil)
	is := stream(nil)
	is.Object["status"] = map[string]any{"tags": []any{
		map[string]any{"tag": "x", "items": []any{item(src+"/app/web@"+dg("a"), dg("a"), 2), item(src+"/app/web@"+dg("b"), dg("b"), 1)}},
		map[string]any{"tag": "y", "items": []any{item(src+"/shared/base@"+dg("a"), dg("a"), 1), item("quay.io/x/y@"+dg("a"), dg("a"), 1)}},
	}}
	fe.convert = map[string]string{dg("a"): dg("c")}
	out, err := runBackup(t, b, env, is, backupWithLocation(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{
		map[string]any{"tag": "x", "items": []any{item(src+"/app/web@"+dg("c"), dg("c"), 2), item(src+"/app/web@"+dg("b"), dg("b"), 1)}},
		// The same image from another internal repository was stored (once) converted as well;
		// an external reference is not in the backup and keeps its digest.
		map[string]any{"tag": "y", "items": []any{item(src+"/shared/base@"+dg("c"), dg("c"), 1), item("quay.io/x/y@"+dg("a"), dg("a"), 1)}},
	}
	got, _, _ := unstructured.NestedSlice(out.Object, "status", "tags")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status.tags\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(logs.String(), dg("a")) || !strings.Contains(logs.String(), "converted") {
		t.Errorf("conversion not logged:\n%s", logs)
	}
}

// TestRegistryTLSVerificationFollowsPluginConfig: the internal registry's certificate is verified
// unless the plugin config switches that off, at backup and at restore, and switching it off is
// logged as a warning.
func TestRegistryTLSVerificationFollowsPluginConfig(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		cfg := config.Default()
		cfg.ImageStreamBackup = true
		cfg.ImageRegistryInsecureSkipTLSVerify = insecure

		b, _, fe, env, logs := newBackupUnderTest(t, true, nil)
		env.Config = config.Static(cfg)
		b.env = env
		if _, err := runBackup(t, b, env, imagesStream(), backupWithLocation(nil)); err != nil {
			t.Fatal(err)
		}
		r, _, fr, rlogs := newRestoreUnderTest(t)
		r.env.Config = config.Static(cfg)
		if _, err := runRestoreWith(t, r, backedUp(""), nil); err != nil {
			t.Fatal(err)
		}
		for side, got := range map[string]struct {
			opened []bool
			logs   string
		}{"backup": {fe.insecure, logs.String()}, "restore": {fr.insecure, rlogs.String()}} {
			if len(got.opened) != 1 || got.opened[0] != insecure {
				t.Errorf("%s, config %v: registry opened with insecure %v", side, insecure, got.opened)
			}
			if warned := strings.Contains(got.logs, "is not verified"); warned != insecure {
				t.Errorf("%s, config %v: warning logged %v:\n%s", side, insecure, warned, got.logs)
			}
		}
	}
}

// History entries naming the source registry under another of its names (.svc.cluster.local,
// an external hostname) are its images too: copied like those naming the recorded hostname.
func TestInternalImagesUnderEveryNameOfTheRegistry(t *testing.T) {
	const route = "default-route-openshift-image-registry.apps.a.example.com"
	local := strings.Replace(src, ".svc:", ".svc.cluster.local:", 1)
	status := map[string]any{"tags": []any{map[string]any{"tag": "latest", "items": []any{
		item(route+"/app/web@"+dg("c"), dg("c"), 3),
		item(local+"/app/web@"+dg("b"), dg("b"), 2),
		item(src+"/app/web@"+dg("a"), dg("a"), 1),
		item("quay.io/app/web@"+dg("d"), dg("d"), 0),
	}}}}
	images, skipped, err := internalImages(map[string]any{"status": status}, append([]string{src}, imageref.Aliases(src, route)...))
	if err != nil || len(skipped) != 0 {
		t.Fatalf("internalImages: %v, skipped %v", err, skipped)
	}
	var got []string
	for _, im := range images {
		got = append(got, im.Ref.Repository+"@"+im.Digest)
	}
	if want := []string{"app/web@" + dg("a"), "app/web@" + dg("b"), "app/web@" + dg("c")}; !reflect.DeepEqual(got, want) {
		t.Fatalf("images %v, want %v", got, want)
	}
}

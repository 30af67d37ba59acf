package imagestream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/docker/distribution/registry/api/errcode"
	v2 "github.com/docker/distribution/registry/api/v2"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
	general "github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
	// The migration registry as the source cluster reaches it, and as the destination does.
	migSrc = "migration-registry.openshift-migration.svc:5000"
	migDst = "migration-registry-openshift-migration.apps.b.example.com:80"
)

func dg(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func item(ref, image string, gen int64) map[string]any {
	return map[string]any{"dockerImageReference": ref, "image": image, "generation": gen}
}

// stream is app/web: latest (b newest, a oldest), v1 (a again), an external tag and a tag whose
// image lives in another namespace of the internal registry.
func stream() *unstructured.Unstructured {
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"spec": map[string]any{
			"lookupPolicy": map[string]any{"local": true},
			"tags": []any{
				map[string]any{"name": "latest", "from": map[string]any{"kind": "DockerImage", "name": src + "/app/web@" + dg("b")}},
				map[string]any{"name": "self", "from": map[string]any{"kind": "ImageStreamTag", "name": "web:latest", "namespace": "app"}},
			},
		},
		"status": map[string]any{
			"dockerImageRepository": src + "/app/web",
			"tags": []any{
				map[string]any{"tag": "latest", "items": []any{item(src+"/app/web@"+dg("b"), dg("b"), 2), item(src+"/app/web@"+dg("a"), dg("a"), 1)}},
				map[string]any{"tag": "v1", "items": []any{item(src+"/app/web@"+dg("a"), dg("a"), 1)}},
				map[string]any{"tag": "ext", "items": []any{item("quay.io/org/img@"+dg("c"), dg("c"), 1)}},
				map[string]any{"tag": "other", "items": []any{item(src+"/shared/base@"+dg("d"), dg("d"), 3)}},
			},
		},
	})
	is.SetLabels(map[string]string{"team": "a"})
	is.SetAnnotations(map[string]string{"note": "kept"})
	return is
}

type copied struct{ src, dst string } // Image.String() of both ends

// fakes records registries opened and copies made; no copy touches a network.
type fakes struct {
	mu       sync.Mutex
	internal []string // internal registries opened
	migr     []string // migration registries opened, "host insecure"
	jobs     []copied
	fail     map[string]error // source digest -> copy error
	onCopy   func()
}

func (f *fakes) engine() general.Engine {
	return general.Engine{
		OpenRegistry: func(host string, insecure bool) (*imagecopy.Registry, error) {
			f.internal = append(f.internal, host)
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
				f.jobs = append(f.jobs, copied{j.Src.String(), j.Dst.String()})
				out[i] = imagecopy.Result{Job: j}
				for d, err := range f.fail {
					if strings.HasSuffix(j.Src.Name(), d) {
						out[i].Err = fmt.Errorf("copy %s to %s: %w", j.Src, j.Dst, err)
					}
				}
			}
			return out
		},
	}
}

func (f *fakes) open(host string, insecure bool, _ logrus.FieldLogger) (*imagecopy.Registry, error) {
	f.migr = append(f.migr, fmt.Sprintf("%s %t", host, insecure))
	// Without AllowPlainHTTP: nothing is probed, no network is touched.
	return imagecopy.NewRegistry(imagecopy.RegistryOptions{Host: host, InsecureSkipTLSVerify: insecure})
}

// env is a cluster whose internal registry is host, logging into the returned buffer.
func (f *fakes) env(host string, cfg config.Source) (action.Env, *bytes.Buffer) {
	env := actiontest.Env()
	facts := actiontest.DestinationFacts
	facts.RegistryHostname = host
	env.Facts = clusterfacts.Static(facts)
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetLevel(logrus.DebugLevel)
	env.Log = log
	if cfg == nil {
		cfg = config.Static(config.Default())
	}
	env.Config = cfg
	return env, &buf
}

func migrationBackup(annotations map[string]string) *velerov1.Backup {
	b := actiontest.Backup()
	b.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.StageBackupLabel: "mig-uid"}
	b.Annotations = annotations
	return b
}

func newBackup(f *fakes, cfg config.Source) (*Backup, action.Env, *bytes.Buffer) {
	env, logs := f.env(src, cfg)
	b := NewBackup(env)
	b.Engine = f.engine()
	b.registries.open = f.open
	return b, env, logs
}

func runBackup(t *testing.T, b *Backup, env action.Env, is *unstructured.Unstructured, bk *velerov1.Backup) (*unstructured.Unstructured, error) {
	t.Helper()
	out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, is, bk)
	return out, err
}

// TestBackupPassesThrough: outside a migration, with no registry named, or with image copy
// turned off for the Backup or the stream, the item is unchanged and nothing is copied.
func TestBackupPassesThrough(t *testing.T) {
	plain := actiontest.Backup()
	plain.Annotations = map[string]string{migration.RegistryAnnotation: migSrc}
	for _, tt := range []struct {
		name   string
		backup *velerov1.Backup
		stream map[string]string
	}{
		{name: "not a migration, registry named", backup: plain},
		{name: "migration without a registry", backup: migrationBackup(nil)},
		{name: "migration with image copy disabled", backup: migrationBackup(map[string]string{migration.RegistryAnnotation: migSrc, migration.DisableImageCopyAnnotation: "true"})},
		{name: "stream opts out", backup: migrationBackup(map[string]string{migration.RegistryAnnotation: migSrc}), stream: map[string]string{keys.SkipImageCopy: "true"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			b, env, _ := newBackup(f, nil)
			is := stream()
			a := is.GetAnnotations()
			for k, v := range tt.stream {
				a[k] = v
			}
			is.SetAnnotations(a)
			want := is.DeepCopy()
			out, err := runBackup(t, b, env, is, tt.backup)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Errorf("item changed: %v", out.GetAnnotations())
			}
			if len(f.jobs)+len(f.migr)+len(f.internal) != 0 {
				t.Errorf("copied %v, opened %v %v; want nothing", f.jobs, f.migr, f.internal)
			}
		})
	}
}

func TestBackupCopiesIntoMigrationRegistry(t *testing.T) {
	f := &fakes{}
	b, env, logs := newBackup(f, nil)
	bk := migrationBackup(map[string]string{migration.RegistryAnnotation: " " + migSrc + " "})
	out, err := runBackup(t, b, env, stream(), bk)
	if err != nil {
		t.Fatal(err)
	}
	want := []copied{
		{"registry " + src + " image app/web@" + dg("a"), "registry " + migSrc + " image app/web@" + dg("a")},
		{"registry " + src + " image app/web@" + dg("b"), "registry " + migSrc + " image app/web@" + dg("b")},
		{"registry " + src + " image shared/base@" + dg("d"), "registry " + migSrc + " image app/web@" + dg("d")},
	}
	if !reflect.DeepEqual(f.jobs, want) {
		t.Errorf("copies\n%v\nwant\n%v", f.jobs, want)
	}
	a := out.GetAnnotations()
	if a[migration.ImageCopyRegistryAnnotation] != migSrc || a[keys.BackupRegistryHostname] != src || a["note"] != "kept" {
		t.Errorf("annotations %v", a)
	}
	for _, k := range []string{keys.ImageCopyLocation, keys.ImageCopyMissing} {
		if _, ok := a[k]; ok {
			t.Errorf("%s set", k)
		}
	}
	if !reflect.DeepEqual(out.Object["status"], stream().Object["status"]) {
		t.Error("status changed: digests are preserved")
	}
	if strings.Contains(logs.String(), "not verified") {
		t.Errorf("verification warning without configuration:\n%s", logs)
	}

	// A second stream of the same backup uses the registry already opened (and probed).
	is2 := stream()
	is2.SetName("api")
	if _, err := runBackup(t, b, env, is2, bk); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.migr, []string{migSrc + " false"}) {
		t.Errorf("migration registries opened: %v", f.migr)
	}
}

func TestBackupMissingImagesAndFailures(t *testing.T) {
	bk := migrationBackup(map[string]string{migration.RegistryAnnotation: migSrc})
	f := &fakes{fail: map[string]error{dg("b"): errcode.Error{Code: v2.ErrorCodeManifestUnknown}}}
	b, env, logs := newBackup(f, nil)
	out, err := runBackup(t, b, env, stream(), bk)
	if err != nil {
		t.Fatalf("a missing image failed the stream: %v", err)
	}
	if len(f.jobs) != 3 || out.GetAnnotations()[keys.ImageCopyMissing] != dg("b") || out.GetAnnotations()[migration.ImageCopyRegistryAnnotation] != migSrc {
		t.Errorf("copies %v annotations %v", f.jobs, out.GetAnnotations())
	}
	if !strings.Contains(logs.String(), "tag latest image "+dg("b")+" is missing") {
		t.Errorf("missing image not warned about:\n%s", logs)
	}

	f = &fakes{fail: map[string]error{dg("a"): errors.New("unexpected status 500")}}
	b, env, _ = newBackup(f, nil)
	_, err = runBackup(t, b, env, stream(), bk)
	actiontest.ErrorNames(t, err, BackupName, "ImageStream app/web", "registry "+src, "registry "+migSrc, "tag latest,v1 image "+dg("a"))

	f = &fakes{}
	b, env, _ = newBackup(f, nil)
	bad := stream()
	bad.Object["status"] = map[string]any{"tags": []any{map[string]any{"tag": "x", "items": []any{map[string]any{"dockerImageReference": 7.0}}}}}
	_, err = runBackup(t, b, env, bad, bk)
	actiontest.ErrorNames(t, err, "status.tags[0].items[0].dockerImageReference", "ImageStream app/web")
}

// TestRegistryVerificationFollowsPluginConfig: a TLS migration registry's certificate is verified
// unless the plugin config says otherwise, which is warned about on every stream.
func TestRegistryVerificationFollowsPluginConfig(t *testing.T) {
	cfg := config.Default()
	cfg.MigrationRegistryInsecureSkipTLSVerify = true
	f := &fakes{}
	b, env, logs := newBackup(f, config.Static(cfg))
	bk := migrationBackup(map[string]string{migration.RegistryAnnotation: migSrc})
	for range 2 {
		if _, err := runBackup(t, b, env, stream(), bk); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(f.migr, []string{migSrc + " true"}) || !reflect.DeepEqual(f.internal, []string{src, src}) {
		t.Errorf("opened %v, internal %v", f.migr, f.internal)
	}
	if n := strings.Count(logs.String(), config.KeyMigrationRegistryInsecureSkipTLSVerify); n != 2 {
		t.Errorf("warned %d times, want once per stream:\n%s", n, logs)
	}
}

// ---------------------------------------------------------------- restore

// fakeStreams holds destination ImageStreams by ns/name.
type fakeStreams struct {
	live                   map[string]*unstructured.Unstructured
	gets, updates, creates int
}

func (s *fakeStreams) Get(_ context.Context, ns, name string) (*unstructured.Unstructured, error) {
	s.gets++
	if o, ok := s.live[ns+"/"+name]; ok {
		return o.DeepCopy(), nil
	}
	return nil, nil
}

func (s *fakeStreams) Update(_ context.Context, obj *unstructured.Unstructured) error {
	s.updates++
	s.live[obj.GetNamespace()+"/"+obj.GetName()] = obj.DeepCopy()
	return nil
}

func (s *fakeStreams) Create(_ context.Context, obj *unstructured.Unstructured) error {
	s.creates++
	key := obj.GetNamespace() + "/" + obj.GetName()
	if _, ok := s.live[key]; ok {
		return apierrors.NewAlreadyExists(schema.GroupResource{Group: "image.openshift.io", Resource: "imagestreams"}, obj.GetName())
	}
	s.live[key] = obj.DeepCopy()
	return nil
}

// backedUp is the stream as the migration backup recorded it.
func backedUp(missing string) *unstructured.Unstructured {
	is := actiontest.FromSource(stream())
	a := is.GetAnnotations()
	a[migration.ImageCopyRegistryAnnotation] = migSrc
	if missing != "" {
		a[keys.ImageCopyMissing] = missing
	}
	is.SetAnnotations(a)
	return is
}

func migrationRestore(registry string, mapping map[string]string) *velerov1.Restore {
	r := actiontest.Restore(mapping)
	r.Labels = map[string]string{migration.PartOfLabel: migration.PartOfValue, migration.StageRestoreLabel: "mig-uid"}
	if registry != "" {
		r.Annotations = map[string]string{migration.RegistryAnnotation: registry}
	}
	return r
}

func newRestore(f *fakes) (*Restore, action.Env, *fakeStreams, *bytes.Buffer) {
	env, logs := f.env(dst, nil)
	r := NewRestore(env)
	s := &fakeStreams{live: map[string]*unstructured.Unstructured{}}
	r.Engine, r.Streams, r.registries.open = f.engine(), s, f.open
	return r, env, s, logs
}

func runRestore(t *testing.T, r *Restore, env action.Env, is *unstructured.Unstructured, restore *velerov1.Restore) (*restored, error) {
	t.Helper()
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), env, is, restore)
	if err != nil {
		return nil, err
	}
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return &restored{obj: obj, skip: out.SkipRestore}, nil
}

// restored is a restore action's output: the item and whether Velero is told to skip it.
type restored struct {
	obj  *unstructured.Unstructured
	skip bool
}

// TestRestorePassesThrough: outside a migration, and for a stream whose images are not in the
// migration registry, the item is unchanged and nothing is pushed.
func TestRestorePassesThrough(t *testing.T) {
	for _, tt := range []struct {
		name    string
		restore *velerov1.Restore
		item    *unstructured.Unstructured
	}{
		{"not a migration", func() *velerov1.Restore {
			r := actiontest.Restore(map[string]string{"app": "app2"})
			r.Annotations = map[string]string{migration.RegistryAnnotation: migDst}
			return r
		}(), backedUp("")},
		{"stream without images in the migration registry", migrationRestore(migDst, nil), actiontest.FromSource(stream())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakes{}
			r, env, s, _ := newRestore(f)
			want := actiontest.ResetLikeVelero(tt.item.DeepCopy())
			out, err := runRestore(t, r, env, tt.item, tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			if out.skip || !reflect.DeepEqual(out.obj.Object, want.Object) {
				t.Errorf("item changed (skip %v): %v", out.skip, out.obj.Object)
			}
			if len(f.jobs)+len(f.migr)+len(f.internal)+s.gets+s.updates != 0 {
				t.Errorf("copied %v, opened %v %v, streams read %d, updated %d", f.jobs, f.migr, f.internal, s.gets, s.updates)
			}
		})
	}
}

// TestRestorePushesFromTheRestoresRegistry: the images come from the registry named on the
// Restore (never the host recorded at backup) and go into the mapped namespace, each tag's
// generations oldest first; the stream is restored with its references rewritten and the
// bookkeeping gone.
func TestRestorePushesFromTheRestoresRegistry(t *testing.T) {
	f := &fakes{}
	r, env, _, logs := newRestore(f)
	out, err := runRestore(t, r, env, backedUp(dg("d")), migrationRestore(migDst, map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []copied{
		{"registry " + migDst + " image app/web@" + dg("a"), "registry " + dst + " image app2/web:latest"},
		{"registry " + migDst + " image app/web@" + dg("b"), "registry " + dst + " image app2/web:latest"},
		{"registry " + migDst + " image app/web@" + dg("a"), "registry " + dst + " image app2/web:v1"},
	}
	if !reflect.DeepEqual(f.jobs, want) {
		t.Errorf("copies\n%v\nwant\n%v", f.jobs, want)
	}
	if !reflect.DeepEqual(f.migr, []string{migDst + " false"}) || !reflect.DeepEqual(f.internal, []string{dst}) {
		t.Errorf("opened %v, internal %v", f.migr, f.internal)
	}
	if !strings.Contains(logs.String(), `tag \"other\" image `+dg("d")+" was missing") {
		t.Errorf("missing image not warned about:\n%s", logs)
	}
	if out.skip {
		t.Fatal("skipped although no stream was created on push")
	}
	a := out.obj.GetAnnotations()
	for _, k := range []string{migration.ImageCopyRegistryAnnotation, keys.ImageCopyMissing} {
		if _, ok := a[k]; ok {
			t.Errorf("%s restored", k)
		}
	}
	if a["note"] != "kept" || out.obj.GetLabels()["team"] != "a" {
		t.Errorf("metadata lost: %v %v", out.obj.GetLabels(), a)
	}
	tags, _, _ := unstructured.NestedSlice(out.obj.Object, "spec", "tags")
	if got := tags[0].(map[string]any)["from"].(map[string]any)["name"]; got != dst+"/app2/web@"+dg("b") {
		t.Errorf("spec.tags[0].from.name = %v", got)
	}
	if got := tags[1].(map[string]any)["from"].(map[string]any)["namespace"]; got != "app2" {
		t.Errorf("spec.tags[1].from.namespace = %v", got)
	}
}

func TestRestoreWithoutRegistryOnTheRestore(t *testing.T) {
	f := &fakes{}
	r, env, _, _ := newRestore(f)
	_, err := runRestore(t, r, env, backedUp(""), migrationRestore("", nil))
	actiontest.ErrorNames(t, err, RestoreName, "ImageStream app/web", "names no migration registry", "set annotation "+migration.RegistryAnnotation+" on the Restore", migSrc)
	if len(f.jobs)+len(f.migr) != 0 {
		t.Errorf("copied %v from %v", f.jobs, f.migr)
	}

	f = &fakes{fail: map[string]error{dg("b"): errors.New("denied: access forbidden")}}
	r, env, _, _ = newRestore(f)
	_, err = runRestore(t, r, env, backedUp(""), migrationRestore(migDst, nil))
	actiontest.ErrorNames(t, err, "registry "+migDst, "registry "+dst, `tag "latest" image `+dg("b"), "denied")
}

func TestRestoreCompletesStreamCreatedOnPush(t *testing.T) {
	f := &fakes{}
	r, env, s, _ := newRestore(f)
	f.onCopy = func() {
		created := actiontest.Object("image.openshift.io/v1", "ImageStream", "app2", "web", map[string]any{"spec": map[string]any{}})
		created.SetResourceVersion("3")
		s.live["app2/web"] = created
	}
	out, err := runRestore(t, r, env, backedUp(""), migrationRestore(migDst, map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatal(err)
	}
	live := s.live["app2/web"]
	if !out.skip || s.updates != 1 || live.GetLabels()["team"] != "a" || live.GetAnnotations()["note"] != "kept" {
		t.Fatalf("skip %v updates %d live %v", out.skip, s.updates, live.Object)
	}
	if _, ok := live.GetAnnotations()[migration.ImageCopyRegistryAnnotation]; ok {
		t.Error("bookkeeping on the live stream")
	}
	if lp, _, _ := unstructured.NestedMap(live.Object, "spec", "lookupPolicy"); lp["local"] != true {
		t.Errorf("lookupPolicy %v", lp)
	}
}

// TestRestoreWithTheGeneralAction: the general restore action restores every stream as well; in
// either order, with the same registry host on both clusters and a chained namespace mapping,
// each reference is mapped exactly once.
func TestRestoreWithTheGeneralAction(t *testing.T) {
	mapping := map[string]string{"app": "app2", "app2": "app3"}
	for _, migrationFirst := range []bool{true, false} {
		f := &fakes{}
		env, _ := f.env(src, nil) // the destination's registry has the source's host name
		r := NewRestore(env)
		r.Engine, r.Streams, r.registries.open = f.engine(), &fakeStreams{live: map[string]*unstructured.Unstructured{}}, f.open
		g := general.NewRestore(env)
		g.Streams = &fakeStreams{live: map[string]*unstructured.Unstructured{}}
		regs := []action.Registration{
			actiontest.Registration(RestoreName, action.KindRestore, r),
			actiontest.Registration(general.RestoreName, action.KindRestore, g),
		}
		if !migrationFirst {
			regs[0], regs[1] = regs[1], regs[0]
		}
		fromBackup := backedUp("")
		item := actiontest.ResetLikeVelero(fromBackup.DeepCopy())
		restore := migrationRestore(migDst, mapping)
		for _, reg := range regs {
			out, err := actiontest.RunRestoreInput(t, reg, env, &velero.RestoreItemActionExecuteInput{Item: item, ItemFromBackup: fromBackup.DeepCopy(), Restore: restore})
			if err != nil {
				t.Fatal(err)
			}
			item = out.UpdatedItem.(*unstructured.Unstructured)
		}
		tags, _, _ := unstructured.NestedSlice(item.Object, "spec", "tags")
		if got := tags[0].(map[string]any)["from"].(map[string]any)["name"]; got != src+"/app2/web@"+dg("b") {
			t.Errorf("migration first %v: spec.tags[0].from.name = %v", migrationFirst, got)
		}
		if got := tags[1].(map[string]any)["from"].(map[string]any)["namespace"]; got != "app2" {
			t.Errorf("migration first %v: spec.tags[1].from.namespace = %v", migrationFirst, got)
		}
		if len(f.jobs) != 4 {
			t.Errorf("migration first %v: copies %v", migrationFirst, f.jobs)
		}
	}
}

func TestRegistrations(t *testing.T) {
	regs := Registrations()
	if len(regs) != 2 || regs[0].Name != "migration.openshift.io/04-imagestream-backup" || regs[0].Kind != action.KindBackup ||
		regs[1].Name != "migration.openshift.io/04-imagestream-restore" || regs[1].Kind != action.KindRestore {
		t.Fatalf("registrations %+v", regs)
	}
	for _, reg := range regs {
		a, err := reg.New(actiontest.Env())
		if err != nil {
			t.Fatal(err)
		}
		sel, err := a.(interface {
			AppliesTo() (velero.ResourceSelector, error)
		}).AppliesTo()
		if err != nil || !reflect.DeepEqual(sel.IncludedResources, []string{"imagestreams.image.openshift.io"}) {
			t.Errorf("%s applies to %v", reg.Name, sel.IncludedResources)
		}
	}
}

func TestRegistryCA(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/ca.crt"
	if err := os.WriteFile(file, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CAFileEnv, " "+file+" ")
	if ca, err := registryCA(); err != nil || string(ca) != "PEM" {
		t.Errorf("CA file named: %q, %v", ca, err)
	}
	t.Setenv(CAFileEnv, dir+"/absent.crt")
	if _, err := registryCA(); err == nil || !strings.Contains(err.Error(), CAFileEnv) {
		t.Errorf("absent CA file named: %v", err)
	}
	if _, err := OpenRegistry(migSrc, false, nil); err == nil || !strings.Contains(err.Error(), "migration registry "+migSrc) {
		t.Errorf("open with an absent CA file: %v", err)
	}
}

// FuzzExecute feeds malformed ImageStreams to both actions on a migration Backup and Restore that
// name a migration registry, with the engine replaced (no network): a panic is the only failure.
func FuzzExecute(f *testing.F) {
	f.Add([]byte(`{"metadata":{"annotations":{"migration.openshift.io/image-copy-registry":"r:5000"}},"status":{"tags":[{"tag":"a","items":[{"dockerImageReference":"` + src + `/app/web@` + dg("a") + `","image":"` + dg("a") + `"}]}]}}`))
	f.Add([]byte(`{"status":{"tags":[{"tag":1,"items":{"x":1}},null]},"spec":{"tags":[{"from":[]}]}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"openshift.io/image-copy-missing":3}},"status":{"tags":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "image.openshift.io/v1", "ImageStream")
		if !ok {
			return
		}
		b, benv, _ := newBackup(&fakes{}, nil)
		_, err := runBackup(t, b, benv, item.DeepCopy(), migrationBackup(map[string]string{migration.RegistryAnnotation: migSrc}))
		actiontest.NoPanic(t, data, err)
		r, renv, _, _ := newRestore(&fakes{})
		_, err = runRestore(t, r, renv, item, migrationRestore(migDst, map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

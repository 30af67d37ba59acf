//go:build integration

package imagestream

// The migration ImageStream actions end to end against real registries in this process, on
// loopback: the source and destination internal registries over HTTPS wanting the service
// account's bearer token (test/testregistry), and the migration registry as MTC deploys it,
// anonymous over plain HTTP. The migration registry is reached under two addresses, two registry
// servers over one storage directory as MTC's registry is one bucket behind a service on each
// cluster; the backup-side one is stopped before the restore, so the restore can only succeed
// through the address named on the Restore.

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testpki"
	"github.com/velero-openshift/plugins/test/testregistry"
	general "github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

func TestMain(m *testing.M) {
	// distribution's registry app logs every 404 probe through the standard logrus logger.
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

func newPKI(t *testing.T, name string) *testpki.PKI {
	t.Helper()
	p, err := testpki.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFile writes data into a fresh file and returns its path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// useServiceAccount points the plugin at a service-account token and CA file, as a pod's mounted
// service account would (for the internal registries).
func useServiceAccount(t *testing.T, token string, ca []byte) {
	t.Helper()
	t.Setenv(general.TokenFileEnv, writeFile(t, "token", []byte(token+"\n")))
	t.Setenv(general.CAFileEnv, writeFile(t, "service-ca.crt", ca))
}

// clusterEnv is an action Env on a cluster whose internal registry is host, with plugin config cfg.
func clusterEnv(t *testing.T, host string, cfg config.Config) action.Env {
	env := actiontest.Env()
	log := logrus.New()
	log.SetOutput(testWriter{t})
	env.Log = log
	facts := actiontest.DestinationFacts
	facts.RegistryHostname = host
	env.Facts = clusterfacts.Static(facts)
	env.Config = config.Static(cfg)
	return env
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sourceStream is app/web on the source: latest pushed twice (generations 1 and 2), v1, multi
// (a two-platform index), and a stale history entry whose image is gone.
type sourceStream struct {
	obj            *unstructured.Unstructured
	gen1, gen2, v1 *testimage.Image
	multi          *testimage.Image
	stale          digest.Digest
	images         []*testimage.Image
}

func newSourceStream(t *testing.T, reg *testregistry.Registry) *sourceStream {
	s := &sourceStream{
		gen1: testimage.New(t, testimage.Spec{}, testimage.Layer{Seed: 1, Size: 64 << 10}, testimage.Layer{Seed: 2, Size: 8 << 10}),
		gen2: testimage.New(t, testimage.Spec{Docker: true}, testimage.Layer{Seed: 1, Size: 64 << 10}, testimage.Layer{Seed: 3, Size: 8 << 10}),
		v1:   testimage.New(t, testimage.Spec{}, testimage.Layer{Seed: 4, Size: 16 << 10}),
		multi: testimage.Index(t,
			testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 5, Size: 8 << 10}),
			testimage.New(t, testimage.Spec{Arch: "arm64"}, testimage.Layer{Seed: 6, Size: 8 << 10})),
		stale: digest.FromString("deleted long ago"),
	}
	reg.Push(t, "app/web", s.gen1, "latest")
	reg.Push(t, "app/web", s.gen2, "latest")
	reg.Push(t, "app/web", s.v1, "v1")
	reg.Push(t, "app/web", s.multi, "multi")
	s.images = []*testimage.Image{s.gen1, s.gen2, s.v1, s.multi}
	ref := func(d digest.Digest) string { return reg.Host + "/app/web@" + d.String() }
	s.obj = actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"spec": map[string]any{
			"lookupPolicy": map[string]any{"local": true},
			"tags":         []any{map[string]any{"name": "v1", "from": map[string]any{"kind": "DockerImage", "name": ref(s.v1.Digest)}}},
		},
		"status": map[string]any{
			"dockerImageRepository": reg.Host + "/app/web",
			"tags": []any{
				map[string]any{"tag": "latest", "items": []any{item(ref(s.gen2.Digest), s.gen2.Digest.String(), 2), item(ref(s.gen1.Digest), s.gen1.Digest.String(), 1)}},
				map[string]any{"tag": "v1", "items": []any{item(ref(s.v1.Digest), s.v1.Digest.String(), 3), item(ref(s.stale), s.stale.String(), 1)}},
				map[string]any{"tag": "multi", "items": []any{item(ref(s.multi.Digest), s.multi.Digest.String(), 4)}},
			},
		},
	})
	s.obj.SetLabels(map[string]string{"team": "a"})
	s.obj.SetAnnotations(map[string]string{"note": "kept"})
	return s
}

// requireImages checks that repo of reg holds every image by digest: same digest, every
// instance of an index, every blob.
func requireImages(t *testing.T, reg *testregistry.Registry, repo string, images ...*testimage.Image) {
	t.Helper()
	for _, img := range images {
		if m, found, err := reg.Client.Manifest(repo, img.Digest.String()); err != nil || !found || m.Digest != img.Digest || string(m.Raw) != string(img.Manifest.Raw) {
			t.Errorf("%s %s@%s: found %v, %v", reg.Host, repo, img.Digest, found, err)
		}
		for _, c := range img.Children {
			if _, found, err := reg.Client.Manifest(repo, c.Digest.String()); err != nil || !found {
				t.Errorf("%s %s: instance %s: found %v, %v", reg.Host, repo, c.Digest, found, err)
			}
		}
		for _, d := range img.BlobDigests() {
			if ok, err := reg.Client.HasBlob(repo, d); err != nil || !ok {
				t.Errorf("%s %s: blob %s missing (%v)", reg.Host, repo, d, err)
			}
		}
	}
}

func tagDigest(t *testing.T, reg *testregistry.Registry, repo, tag string) digest.Digest {
	t.Helper()
	m, found, err := reg.Client.Manifest(repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return ""
	}
	return m.Digest
}

func migrationBackupOf(registry string) *velerov1.Backup {
	return migrationBackup(map[string]string{migration.RegistryAnnotation: registry})
}

func TestMigrationThroughPlainHTTPRegistry(t *testing.T) {
	p := newPKI(t, "internal registries CA")
	token := "sa-token-" + t.Name()
	srcReg, dstReg := testregistry.Start(t, p, token), testregistry.Start(t, p, token)
	useServiceAccount(t, token, p.CAPEM)
	t.Setenv(CAFileEnv, "")
	migDir := t.TempDir()
	migAtSource := testregistry.StartWith(t, testregistry.Options{Dir: migDir}) // plain HTTP, anonymous
	s := newSourceStream(t, srcReg)

	// Backup on the source cluster: a stage backup naming the registry as the source reaches it.
	benv := clusterEnv(t, srcReg.Host, config.Default())
	b := NewBackup(benv)
	backedUp, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), benv, s.obj, migrationBackupOf(migAtSource.Host))
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	a := backedUp.GetAnnotations()
	if a[migration.ImageCopyRegistryAnnotation] != migAtSource.Host || a[keys.ImageCopyMissing] != s.stale.String() || a[keys.BackupRegistryHostname] != srcReg.Host {
		t.Fatalf("backed-up annotations %v", a)
	}
	if _, ok := a[keys.ImageCopyLocation]; ok {
		t.Error("the images were recorded in a storage location too")
	}
	requireImages(t, migAtSource, "app/web", s.images...)
	if reg, _ := b.registries.get(context.Background(), migAtSource.Host, config.Default(), benv.Log); !reg.PlainHTTP() {
		t.Error("the plain HTTP migration registry was not probed as plain HTTP")
	}

	// The same registry as the destination reaches it: another address over the same storage.
	// The source's address is gone, so only the Restore's address can serve the images.
	migAtSource.Stop()
	migAtDestination := testregistry.StartWith(t, testregistry.Options{Dir: migDir})

	renv := clusterEnv(t, dstReg.Host, config.Default())
	r := NewRestore(renv)
	streams := &fakeStreams{live: map[string]*unstructured.Unstructured{}} // no API server here
	r.Streams = streams
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), renv, backedUp,
		migrationRestore(migAtDestination.Host, map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	requireImages(t, dstReg, "app2/web", s.images...)
	for tag, want := range map[string]digest.Digest{"latest": s.gen2.Digest, "v1": s.v1.Digest, "multi": s.multi.Digest} {
		if got := tagDigest(t, dstReg, "app2/web", tag); got != want || tagDigest(t, srcReg, "app/web", tag) != want {
			t.Errorf("tag %s: destination %s, want %s as on the source", tag, got, want)
		}
	}
	if got := tagDigest(t, dstReg, "app/web", "latest"); got != "" {
		t.Errorf("pushed into the unmapped namespace too: %s", got)
	}
	obj := out.UpdatedItem.(*unstructured.Unstructured)
	tags, _, _ := unstructured.NestedSlice(obj.Object, "spec", "tags")
	if got := tags[0].(map[string]any)["from"].(map[string]any)["name"]; got != dstReg.Host+"/app2/web@"+s.v1.Digest.String() {
		t.Errorf("spec.tags[0].from.name = %v", got)
	}
	a = obj.GetAnnotations()
	if a[migration.ImageCopyRegistryAnnotation] != "" || a[keys.ImageCopyMissing] != "" || a["note"] != "kept" || obj.GetLabels()["team"] != "a" {
		t.Errorf("restored metadata: labels %v annotations %v", obj.GetLabels(), a)
	}
}

// TestTLSMigrationRegistry: a migration registry that serves TLS is verified against the CA
// bundle configured for it; without that CA the copy fails at once with an error saying how to
// configure it; with verification skipped by the plugin config it copies, warned about.
func TestTLSMigrationRegistry(t *testing.T) {
	p := newPKI(t, "internal registries CA")
	token := "sa-token-" + t.Name()
	srcReg := testregistry.Start(t, p, token)
	useServiceAccount(t, token, p.CAPEM)
	migCA := newPKI(t, "migration registry CA")
	mig := testregistry.StartWith(t, testregistry.Options{PKI: migCA}) // TLS, anonymous
	s := newSourceStream(t, srcReg)

	backup := func(cfg config.Config) (*unstructured.Unstructured, error) {
		env := clusterEnv(t, srcReg.Host, cfg)
		out, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, NewBackup(env)), env, s.obj.DeepCopy(), migrationBackupOf(mig.Host))
		return out, err
	}

	// The internal registries' CA does not sign the migration registry's certificate.
	t.Setenv(CAFileEnv, writeFile(t, "other-ca.crt", p.CAPEM))
	_, err := backup(config.Default())
	t.Logf("CA not configured: %v", err)
	if err == nil {
		t.Fatal("copied to a registry whose certificate does not verify")
	}
	for _, want := range []string{BackupName, "ImageStream app/web", "registry " + mig.Host + " serves TLS but its certificate does not verify", CAFileEnv, config.KeyMigrationRegistryInsecureSkipTLSVerify} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q", want)
		}
	}
	if n := strings.Count(err.Error(), "serves TLS"); n != 1 {
		t.Errorf("the certificate problem is reported %d times, want once for the stream", n)
	}
	if got := tagDigest(t, mig, "app/web", s.v1.Digest.String()); got != "" {
		t.Errorf("an image reached the registry: %s", got)
	}

	t.Setenv(CAFileEnv, writeFile(t, "migration-ca.crt", migCA.CAPEM))
	if _, err := backup(config.Default()); err != nil {
		t.Fatalf("CA configured: %v", err)
	}
	requireImages(t, mig, "app/web", s.images...)

	// Skipping verification, only when configured: the copy works without the CA.
	t.Setenv(CAFileEnv, writeFile(t, "other-ca.crt", p.CAPEM))
	cfg := config.Default()
	cfg.MigrationRegistryInsecureSkipTLSVerify = true
	if _, err := backup(cfg); err != nil {
		t.Fatalf("verification skipped: %v", err)
	}

	// A CA file named but unreadable is an error naming it.
	t.Setenv(CAFileEnv, filepath.Join(t.TempDir(), "absent.crt"))
	if _, err := backup(config.Default()); err == nil || !strings.Contains(err.Error(), CAFileEnv) {
		t.Errorf("unreadable CA file: %v", err)
	}
}

//go:build integration

package imagestream

// The ImageStream actions end to end against real components on loopback, as the image copy
// engine's integration tests run: two distribution v3 registries in this process over HTTPS,
// each requiring the bearer token (the plugin's service-account token, read from a file as in a
// pod), and a filesystem-provider backup storage location. The backup action copies a stream's
// history into the location; the restore action pushes it into the second registry under a
// mapped namespace.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/test/testimage"
	"github.com/velero-openshift/plugins/test/testpki"
	"github.com/velero-openshift/plugins/test/testregistry"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

func TestMain(m *testing.M) {
	// distribution's registry app logs every 404 probe through the standard logrus logger.
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}

// newPKI is a CA and a serving certificate for the test's registries.
func newPKI(t *testing.T) *testpki.PKI {
	t.Helper()
	p, err := testpki.New("imagestream test CA")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pushImage pushes a one-layer OCI image whose layer is generated from seed under tag.
func pushImage(t *testing.T, r *testregistry.Registry, repo, tag string, seed uint64) digest.Digest {
	t.Helper()
	img := testimage.New(t, testimage.Spec{}, testimage.Layer{Seed: seed, Size: 4 << 10})
	r.Push(t, repo, img, tag)
	return img.Digest
}

// useCredentials points the plugin at a service-account token and CA file holding token and ca,
// as a pod's mounted service account would.
func useCredentials(t *testing.T, token string, ca []byte) {
	t.Helper()
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "service-ca.crt")
	if err := errors.Join(os.WriteFile(tokenFile, []byte(token+"\n"), 0o600), os.WriteFile(caFile, ca, 0o600)); err != nil {
		t.Fatal(err)
	}
	t.Setenv(TokenFileEnv, tokenFile)
	t.Setenv(CAFileEnv, caFile)
}

// registryEnv is an action Env on a cluster whose internal registry is host, logging to log
// (nil: the test default).
func registryEnv(host string, log logrus.FieldLogger) action.Env {
	env := actiontest.Env()
	if log != nil {
		env.Log = log
	}
	facts := actiontest.DestinationFacts
	facts.RegistryHostname = host
	env.Facts = clusterfacts.Static(facts)
	return env
}

// digestOf returns the digest the registry serves for repo:ref ("" when absent).
func digestOf(t *testing.T, r *testregistry.Registry, repo, ref string) string {
	t.Helper()
	m, found, err := r.Client.Manifest(repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return ""
	}
	return m.Digest.String()
}

func TestBackupAndRestoreImagesThroughLocation(t *testing.T) {
	p := newPKI(t)
	// One token for both registries: the plugin has one service-account token, read from a file.
	token := "sa-token-" + fmt.Sprint(time.Now().UnixNano())
	srcReg, dstReg := testregistry.Start(t, p, token), testregistry.Start(t, p, token)
	useCredentials(t, token, p.CAPEM)

	// Source: app/web:latest pushed twice (generations 1 and 2), app/web:v1, and a stale history
	// entry whose image is gone.
	gen1 := pushImage(t, srcReg, "app/web", "latest", 1)
	gen2 := pushImage(t, srcReg, "app/web", "latest", 2)
	v1d := pushImage(t, srcReg, "app/web", "v1", 3)
	stale := digest.FromString("deleted long ago")
	refOf := func(d digest.Digest) string { return srcReg.Host + "/app/web@" + d.String() }
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"spec": map[string]any{
			"lookupPolicy": map[string]any{"local": true},
			"tags": []any{
				map[string]any{"name": "v1", "from": map[string]any{"kind": "DockerImage", "name": refOf(v1d)}},
			},
		},
		"status": map[string]any{
			"dockerImageRepository": srcReg.Host + "/app/web",
			"tags": []any{
				map[string]any{"tag": "latest", "items": []any{
					item(refOf(gen2), gen2.String(), 2), item(refOf(gen1), gen1.String(), 1),
				}},
				map[string]any{"tag": "v1", "items": []any{item(refOf(v1d), v1d.String(), 3), item(refOf(stale), stale.String(), 1)}},
			},
		},
	})
	is.SetLabels(map[string]string{"team": "a"})
	is.SetAnnotations(map[string]string{"note": "kept"})

	bsl := filesystemBSL(t, "default", nil)
	cluster := &fakeCluster{
		locations: map[string]*velerov1.BackupStorageLocation{"velero/default": bsl},
		backups:   map[string]string{"velero/backup-1": "default"},
	}
	logger := logrus.New()
	logger.SetOutput(&testWriter{t})

	// Backup on the source cluster.
	benv := registryEnv(srcReg.Host, logger)
	b := NewBackup(benv)
	b.Enabled = func() bool { return true }
	b.Cluster = cluster
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	backedUp, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), benv, is, bk)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if a := backedUp.GetAnnotations(); a[keys.ImageCopyLocation] != "default" || a[keys.ImageCopyMissing] != stale.String() {
		t.Fatalf("backed-up annotations %v", a)
	}
	store, err := imagecopy.OpenStore(context.Background(), bsl, imagecopy.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{gen1, gen2, v1d} {
		img, _ := store.Image("app/web", d.String())
		if got, err := store.Resolve(context.Background(), img); err != nil || got != d {
			t.Errorf("store app/web@%s: %s, %v", d, got, err)
		}
	}

	// Restore on the destination cluster into namespace app2, from the item as backed up (the
	// backup action recorded the source registry on it).
	renv := registryEnv(dstReg.Host, logger)
	r := NewRestore(renv)
	r.Cluster = cluster
	r.Streams = &fakeStreams{live: map[string]*unstructured.Unstructured{}} // no API server here
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), renv, backedUp, actiontest.Restore(map[string]string{"app": "app2"}))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	for ref, want := range map[string]digest.Digest{"latest": gen2, "v1": v1d, gen1.String(): gen1, gen2.String(): gen2} {
		if got := digestOf(t, dstReg, "app2/web", ref); got != want.String() {
			t.Errorf("destination app2/web %s = %q, want %s", ref, got, want)
		}
	}
	if got := digestOf(t, dstReg, "app/web", "latest"); got != "" {
		t.Errorf("pushed into the unmapped namespace too: %s", got)
	}
	obj := out.UpdatedItem.(*unstructured.Unstructured)
	tags, _, _ := unstructured.NestedSlice(obj.Object, "spec", "tags")
	if got := tags[0].(map[string]any)["from"].(map[string]any)["name"]; got != dstReg.Host+"/app2/web@"+v1d.String() {
		t.Errorf("spec.tags[0].from.name = %v", got)
	}
	if obj.GetLabels()["team"] != "a" || obj.GetAnnotations()["note"] != "kept" || obj.GetAnnotations()[keys.ImageCopyLocation] != "" {
		t.Errorf("labels %v annotations %v", obj.GetLabels(), obj.GetAnnotations())
	}
	if lp, _, _ := unstructured.NestedMap(obj.Object, "spec", "lookupPolicy"); lp["local"] != true {
		t.Errorf("lookupPolicy %v", lp)
	}
}

// TestRestoreWithAnImageMissingFromTheStoreRestoresTheRest: a backed-up stream whose history names
// an image the location does not hold (lost after the backup) restores every other image into the
// real registry and the stream itself, and fails the item naming that image.
func TestRestoreWithAnImageMissingFromTheStoreRestoresTheRest(t *testing.T) {
	p := newPKI(t)
	token := "sa-token-" + fmt.Sprint(time.Now().UnixNano())
	srcReg, dstReg := testregistry.Start(t, p, token), testregistry.Start(t, p, token)
	useCredentials(t, token, p.CAPEM)
	latest := pushImage(t, srcReg, "app/web", "latest", 1)
	v1d := pushImage(t, srcReg, "app/web", "v1", 2)
	refOf := func(d digest.Digest) string { return srcReg.Host + "/app/web@" + d.String() }
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"spec": map[string]any{"tags": []any{
			map[string]any{"name": "latest", "from": map[string]any{"kind": "DockerImage", "name": refOf(latest)}},
		}},
		"status": map[string]any{"tags": []any{
			map[string]any{"tag": "latest", "items": []any{item(refOf(latest), latest.String(), 1)}},
			map[string]any{"tag": "v1", "items": []any{item(refOf(v1d), v1d.String(), 2)}},
		}},
	})
	bsl := filesystemBSL(t, "default", nil)
	cluster := &fakeCluster{
		locations: map[string]*velerov1.BackupStorageLocation{"velero/default": bsl},
		backups:   map[string]string{"velero/backup-1": "default"},
	}
	benv := registryEnv(srcReg.Host, nil)
	b := NewBackup(benv)
	b.Enabled = func() bool { return true }
	b.Cluster = cluster
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	backedUp, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), benv, is, bk)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	// After the backup, tag v2 gains history the location never received.
	lost := digest.FromString("an image the location does not hold")
	tags, _, _ := unstructured.NestedSlice(backedUp.Object, "status", "tags")
	tags = append(tags, map[string]any{"tag": "v2", "items": []any{item(refOf(lost), lost.String(), 3)}})
	if err := unstructured.SetNestedSlice(backedUp.Object, tags, "status", "tags"); err != nil {
		t.Fatal(err)
	}

	renv := registryEnv(dstReg.Host, nil)
	r := NewRestore(renv)
	r.Cluster = cluster
	streams := &fakeStreams{live: map[string]*unstructured.Unstructured{}} // a registry that creates no streams
	r.Streams = streams
	_, err = actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestore, r), renv, backedUp, actiontest.Restore(map[string]string{"app": "app2"}))
	t.Logf("restore: %v", err)
	actiontest.ErrorNames(t, err, "1 of 3 images not restored", `tag "v2" image `+lost.String(), "registry "+dstReg.Host)
	for ref, want := range map[string]digest.Digest{"latest": latest, "v1": v1d} {
		if got := digestOf(t, dstReg, "app2/web", ref); got != want.String() {
			t.Errorf("destination app2/web:%s = %q, want %s", ref, got, want)
		}
	}
	live := streams.live["app2/web"]
	if live == nil || live.GetLabels()["velero.io/restore-name"] != "restore-1" {
		t.Fatalf("stream not restored with Velero's labels: %v", live)
	}
	if got, _, _ := unstructured.NestedSlice(live.Object, "spec", "tags"); len(got) != 1 ||
		got[0].(map[string]any)["from"].(map[string]any)["name"] != dstReg.Host+"/app2/web@"+latest.String() {
		t.Errorf("restored spec.tags %v", got)
	}
}

// TestBackupWrongTokenIsAnError: a token the registry refuses fails the item with an error
// naming the registry, the location and the image; the token itself is never in it.
func TestBackupWrongTokenIsAnError(t *testing.T) {
	p := newPKI(t)
	srcReg := testregistry.Start(t, p, "the-right-token")
	d := pushImage(t, srcReg, "app/web", "latest", 1)
	useCredentials(t, "a-wrong-token", p.CAPEM)
	env := registryEnv(srcReg.Host, nil)
	b := NewBackup(env)
	b.Enabled = func() bool { return true }
	b.Cluster = &fakeCluster{locations: map[string]*velerov1.BackupStorageLocation{"velero/default": filesystemBSL(t, "default", nil)}}
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"status": map[string]any{
		"tags": []any{map[string]any{"tag": "latest", "items": []any{item(srcReg.Host+"/app/web@"+d.String(), d.String(), 1)}}},
	}})
	bk := actiontest.Backup()
	bk.Spec.StorageLocation = "default"
	_, _, err := actiontest.RunBackup(t, actiontest.Registration(BackupName, action.KindBackup, b), env, is, bk)
	t.Logf("wrong token: %v", err)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"registry " + srcReg.Host, "backup storage location velero/default", "tag latest image " + d.String()} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %q", s)
		}
	}
	if strings.Contains(err.Error(), "a-wrong-token") {
		t.Error("token in the error")
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

package imagestream

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

func streamWith(annotated bool, entries ...map[string]any) map[string]any {
	var items []any
	for _, e := range entries {
		items = append(items, e)
	}
	obj := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{
		"status": map[string]any{"tags": []any{map[string]any{"tag": "latest", "items": items}}},
	})
	if annotated {
		obj.SetAnnotations(map[string]string{keys.ImageCopyLocation: "default"})
	}
	return obj.Object
}

func TestStreamRefsNamesEveryHistoryDigestOfCopiedStreams(t *testing.T) {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	for _, tc := range []struct {
		name string
		obj  map[string]any
		ok   bool
		want []digest.Digest
	}{
		{"not copied into the store", streamWith(false, item("r/app/web@"+d1.String(), d1.String(), 1)), false, nil},
		{"image and reference digests, once each", streamWith(true, item("r/app/web@"+d1.String(), d1.String(), 2), item("r/app/web@"+d2.String(), "not-a-digest", 1), item("r/x/y@"+d1.String(), d1.String(), 1)), true, []digest.Digest{d1, d2}},
		{"no status", actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"metadata": map[string]any{"name": "web", "namespace": "app", "annotations": map[string]any{keys.ImageCopyLocation: "x"}}}).Object, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs, ok := StreamRefs(tc.obj)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(refs.Manifests, want) {
				t.Errorf("manifests %v, want %v", refs.Manifests, want)
			}
			if ok && refs.Repository != "app/web" {
				t.Errorf("repository %q", refs.Repository)
			}
		})
	}
}

func TestRefsFromTarballReadsTheImageStreams(t *testing.T) {
	d1 := digest.FromString("one")
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, obj map[string]any) {
		data, _ := json.Marshal(obj)
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	add("resources/"+Resource+"/namespaces/app/web.json", streamWith(true, item("r/app/web@"+d1.String(), d1.String(), 1)))
	add("resources/"+Resource+"/v1-preferredversion/namespaces/app/web.json", streamWith(true, item("r/app/web@"+d1.String(), d1.String(), 1)))
	add("resources/pods/namespaces/app/web.json", streamWith(true, item("r/app/web@"+d1.String(), d1.String(), 1)))
	_ = tw.Close()
	_ = gz.Close()
	refs, err := refsFromTarball(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Repository != "app/web" || !slices.Equal(refs[0].Manifests, []digest.Digest{d1}) {
		t.Errorf("refs %+v", refs)
	}
	if _, err := refsFromTarball(strings.NewReader("not gzip")); err == nil {
		t.Error("a corrupt tarball gave no error")
	}
}

type listBackups []BackupInfo

func (l listBackups) Backups(context.Context, string) ([]BackupInfo, error) { return l, nil }

func TestInProgressSeesUnfinishedBackupsToTheLocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		bs   listBackups
		want string
	}{
		{"none", nil, ""},
		{"completed and failed", listBackups{{"a", "default", velerov1.BackupPhaseCompleted}, {"b", "default", velerov1.BackupPhaseFailed}}, ""},
		{"in progress elsewhere", listBackups{{"a", "other", velerov1.BackupPhaseInProgress}}, ""},
		{"in progress", listBackups{{"a", "default", velerov1.BackupPhaseInProgress}}, "a"},
		{"new, no phase yet", listBackups{{"a", "default", ""}}, "a"},
		{"no location (the default)", listBackups{{"a", "", velerov1.BackupPhaseNew}}, "a"},
		{"waiting for plugin operations", listBackups{{"a", "default", velerov1.BackupPhaseWaitingForPluginOperations}}, "a"},
		{"finalizing", listBackups{{"a", "default", velerov1.BackupPhaseFinalizingPartiallyFailed}}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := locationBackups{list: tc.bs, namespace: "velero", location: "default"}.InProgress(context.Background())
			if err != nil || got != tc.want {
				t.Errorf("InProgress = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestReclaimCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "--location is required"},
		{[]string{"--location", "default", "extra"}, 2, "unexpected argument"},
		{[]string{"--bogus"}, 2, "unknown flag"},
		{[]string{"--help"}, 0, "dry run"},
	} {
		var out, errOut bytes.Buffer
		cmd := reclaimCommand(&out, &errOut, func() (Cluster, BackupLister) { return nil, nil }, Engine{})
		if code := cmd.Run(tc.args); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: code %d, stderr %q; want %d, %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}

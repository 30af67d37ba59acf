package imagestream

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

func stream(spec map[string]any) *unstructured.Unstructured {
	is := actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"spec": spec})
	is.SetLabels(map[string]string{"team": "a"})
	is.SetAnnotations(map[string]string{"openshift.io/image.dockerRepositoryCheck": "2024-01-01T00:00:00Z"})
	return is
}

func ref(kind, name, ns string) map[string]any {
	m := map[string]any{"kind": kind, "name": name}
	if ns != "" {
		m["namespace"] = ns
	}
	return m
}

func tag(name string, from map[string]any) any {
	t := map[string]any{"name": name, "annotations": nil, "referencePolicy": map[string]any{"type": "Local"}}
	if from != nil {
		t["from"] = from
	}
	return t
}

func run(t *testing.T, item *unstructured.Unstructured, mapping map[string]string) (*unstructured.Unstructured, error) {
	t.Helper()
	out, err := actiontest.RunRestore(t, restoreRegistration(), actiontest.Env(), item, actiontest.Restore(mapping))
	if err != nil {
		return nil, err
	}
	if out.SkipRestore {
		t.Fatalf("image stream skipped, want restored")
	}
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return obj, nil
}

func TestRestoreRewritesReferences(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name    string
		mapping map[string]string
		source  bool // item carries the source registry facts
		// recordedNone: the backup recorded that the source had no internal registry
		recordedNone bool
		in           map[string]any
		want         map[string]any
	}{
		{
			name: "internal references move to the destination registry and mapped namespace", mapping: map[string]string{"app": "app2"}, source: true,
			in: map[string]any{
				"dockerImageRepository": src + "/app/web",
				"lookupPolicy":          map[string]any{"local": true},
				"tags": []any{
					tag("internal", ref("DockerImage", src+"/app/web@"+digest, "")),
					tag("builder", ref("DockerImage", src+"/openshift/ruby:3.1@"+digest, "")),
					tag("external", ref("DockerImage", "quay.io/org/img:1", "")),
					tag("istag-self", ref("ImageStreamTag", "web:internal", "app")),
					tag("istag-relative", ref("ImageStreamTag", "web:internal", "")),
					tag("istag-other", ref("ImageStreamTag", "ruby:3.1", "openshift")),
					tag("isimage", ref("ImageStreamImage", "web@"+digest, "app")),
					tag("no-from", nil),
				},
			},
			want: map[string]any{
				"dockerImageRepository": dst + "/app2/web",
				"lookupPolicy":          map[string]any{"local": true},
				"tags": []any{
					tag("internal", ref("DockerImage", dst+"/app2/web@"+digest, "")),
					tag("builder", ref("DockerImage", dst+"/openshift/ruby:3.1", "")),
					tag("external", ref("DockerImage", "quay.io/org/img:1", "")),
					tag("istag-self", ref("ImageStreamTag", "web:internal", "app2")),
					tag("istag-relative", ref("ImageStreamTag", "web:internal", "")),
					tag("istag-other", ref("ImageStreamTag", "ruby:3.1", "openshift")),
					tag("isimage", ref("ImageStreamImage", "web@"+digest, "app2")),
					tag("no-from", nil),
				},
			},
		},
		{
			name: "no mapping: only the registry host changes", source: true,
			in: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", src+"/app/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app")),
			}},
			want: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", dst+"/app/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app")),
			}},
		},
		{
			name: "nothing recorded (this version's backups): OpenShift's registry is the source", mapping: map[string]string{"app": "app2"},
			in: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", src+"/app/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app")),
			}},
			want: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", dst+"/app2/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app2")),
			}},
		},
		{
			name: "recorded without a source registry: images untouched, namespaces still mapped", mapping: map[string]string{"app": "app2"}, recordedNone: true,
			in: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", src+"/app/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app")),
			}},
			want: map[string]any{"tags": []any{
				tag("internal", ref("DockerImage", src+"/app/web:latest", "")),
				tag("istag", ref("ImageStreamTag", "web:latest", "app2")),
			}},
		},
		{
			name: "no spec", source: true, in: nil, want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := stream(tt.in)
			if tt.in == nil {
				delete(item.Object, "spec")
			}
			if tt.source {
				actiontest.FromSource(item)
			}
			if tt.recordedNone {
				item.SetAnnotations(map[string]string{keys.BackupRegistryHostname: ""})
			}
			wantObj := item.DeepCopy()
			if tt.want == nil {
				delete(wantObj.Object, "spec")
			} else {
				wantObj.Object["spec"] = tt.want
			}
			got, err := run(t, item, tt.mapping)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if !reflect.DeepEqual(got.Object, wantObj.Object) {
				g, _ := json.MarshalIndent(got.Object, "", " ")
				w, _ := json.MarshalIndent(wantObj.Object, "", " ")
				t.Fatalf("object\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestRestoreBadInputNamesField(t *testing.T) {
	tests := []struct {
		name  string
		spec  any
		field string
	}{
		{"spec not an object", "nope", "spec: expected an object"},
		{"repository not a string", map[string]any{"dockerImageRepository": 3.0}, "spec.dockerImageRepository: expected a string"},
		{"unparsable internal repository", map[string]any{"dockerImageRepository": src + "/app/Web!!"}, "spec.dockerImageRepository: invalid image reference"},
		{"tags not a list", map[string]any{"tags": map[string]any{}}, "spec.tags: expected a list"},
		{"tag not an object", map[string]any{"tags": []any{"x"}}, "spec.tags[0]: expected an object"},
		{"from not an object", map[string]any{"tags": []any{tag("a", nil), map[string]any{"from": "x"}}}, "spec.tags[1].from: expected an object"},
		{"kind not a string", map[string]any{"tags": []any{map[string]any{"from": map[string]any{"kind": 1.0}}}}, "spec.tags[0].from.kind: expected a string"},
		{"name not a string", map[string]any{"tags": []any{tag("a", map[string]any{"kind": "DockerImage", "name": true})}}, "spec.tags[0].from.name: expected a string"},
		{"namespace not a string", map[string]any{"tags": []any{tag("a", map[string]any{"kind": "ImageStreamTag", "name": "a:b", "namespace": 2.0})}}, "spec.tags[0].from.namespace: expected a string"},
		{"unparsable internal image", map[string]any{"tags": []any{tag("a", ref("DockerImage", src+"/app/UPPER:1", ""))}}, "spec.tags[0].from.name: invalid image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.FromSource(actiontest.Object("image.openshift.io/v1", "ImageStream", "app", "web", map[string]any{"spec": tt.spec}))
			_, err := run(t, item, nil)
			actiontest.ErrorNames(t, err, tt.field, "app/web")
		})
	}
}

func FuzzExecute(f *testing.F) {
	f.Add([]byte(`{"spec":{"dockerImageRepository":"` + src + `/app/web","tags":[{"name":"a","from":{"kind":"DockerImage","name":"` + src + `/app/web:1"}}]}}`))
	f.Add([]byte(`{"spec":{"tags":[{"from":{"kind":"ImageStreamTag","name":"a:b","namespace":"app"}},null,3]}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"a":1}},"spec":{"tags":{"from":[]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "image.openshift.io/v1", "ImageStream")
		if !ok {
			return
		}
		_, err := actiontest.RunRestore(t, restoreRegistration(), actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}

func restoreRegistration() action.Registration { return Registrations()[1] }

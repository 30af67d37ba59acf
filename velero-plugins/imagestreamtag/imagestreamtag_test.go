package imagestreamtag

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	imagev1 "github.com/openshift/api/image/v1"
	imagefake "github.com/openshift/client-go/image/clientset/versioned/fake"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/keys"
)

const (
	src = actiontest.SourceRegistry
	dst = actiontest.DestinationRegistry
)

var digest = "sha256:" + strings.Repeat("d", 64)

// istag builds an ImageStreamTag app/web:<name> with the given tag (nil = none) and image reference.
func istag(name string, tag map[string]any, dockerRef string) *unstructured.Unstructured {
	fields := map[string]any{
		"image":        map[string]any{"metadata": map[string]any{"name": digest}, "dockerImageReference": dockerRef},
		"lookupPolicy": map[string]any{"local": false},
		"generation":   int64(3),
	}
	if tag != nil {
		fields["tag"] = tag
	}
	return actiontest.Object("image.openshift.io/v1", "ImageStreamTag", "app", "web:"+name, fields)
}

func ref(kind, name, ns string) map[string]any {
	m := map[string]any{"kind": kind, "name": name}
	if ns != "" {
		m["namespace"] = ns
	}
	return m
}

func tagRef(from map[string]any, reference bool) map[string]any {
	t := map[string]any{"name": "x", "annotations": nil, "generation": int64(3), "referencePolicy": map[string]any{"type": "Source"}}
	if from != nil {
		t["from"] = from
	}
	if reference {
		t["reference"] = true
	}
	return t
}

func TestBackupRecordsRelatedTag(t *testing.T) {
	tests := []struct {
		name    string
		from    any
		stale   bool
		want    map[string]string // nil = neither annotation
		wantErr string
	}{
		{name: "tag in another namespace", from: ref("ImageStreamTag", "base:1", "shared"), want: map[string]string{keys.RelatedISTag: "base:1", keys.RelatedISTagNamespace: "shared"}},
		{name: "tag in its own namespace", from: ref("ImageStreamTag", "web:latest", ""), want: map[string]string{keys.RelatedISTag: "web:latest", keys.RelatedISTagNamespace: "app"}},
		{name: "docker image", from: ref("DockerImage", "quay.io/a/b:1", "")},
		{name: "image stream image", from: ref("ImageStreamImage", "web@"+digest, "app")},
		{name: "stale annotations removed", from: ref("DockerImage", "quay.io/a/b:1", ""), stale: true},
		{name: "no from"},
		{name: "tag without a name", from: ref("ImageStreamTag", "", "")},
		{name: "from not an object", from: "web:latest", wantErr: "tag.from: expected an object"},
		{name: "bad name", from: map[string]any{"kind": "ImageStreamTag", "name": 4.0}, wantErr: "tag.from.name: expected a string"},
		{name: "bad kind", from: map[string]any{"kind": []any{}}, wantErr: "tag.from.kind: expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag := tagRef(nil, false)
			if tt.from != nil {
				tag["from"] = tt.from
			}
			item := istag("v1", tag, "quay.io/a/b@"+digest)
			a := map[string]string{"keep": "me"}
			if tt.stale {
				a[keys.RelatedISTag], a[keys.RelatedISTagNamespace] = "old:1", "old"
			}
			item.SetAnnotations(a)
			want := item.DeepCopy()
			out, _, err := actiontest.RunBackup(t, Registrations()[0], actiontest.Env(), item, actiontest.Backup())
			if tt.wantErr != "" {
				actiontest.ErrorNames(t, err, tt.wantErr, "app/web:v1")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantA := map[string]string{"keep": "me"}
			for k, v := range tt.want {
				wantA[k] = v
			}
			want.SetAnnotations(wantA)
			if !reflect.DeepEqual(out.Object, want.Object) {
				t.Fatalf("object\n%v\nwant\n%v", out.Object, want.Object)
			}
		})
	}
}

func run(t *testing.T, r *Restore, item *unstructured.Unstructured, mapping map[string]string) (*velero.RestoreItemActionExecuteOutput, *unstructured.Unstructured, error) {
	t.Helper()
	e := actiontest.Env()
	out, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestoreV2, r), e, item, actiontest.Restore(mapping))
	if err != nil {
		return nil, nil, err
	}
	obj, err := action.Object(out.UpdatedItem)
	if err != nil {
		t.Fatal(err)
	}
	return out, obj, nil
}

func newRestore(objs ...runtime.Object) (*Restore, *imagefake.Clientset) {
	c := imagefake.NewSimpleClientset(objs...)
	return NewRestore(actiontest.Env(), c.ImageV1()), c
}

func TestRestoreSkipsOrRestores(t *testing.T) {
	internal := src + "/app/web@" + digest
	local := strings.Replace(src, ".svc:", ".svc.cluster.local:", 1)
	const route = "default-route-openshift-image-registry." + actiontest.SourceApps
	tests := []struct {
		name      string
		tag       map[string]any
		dockerRef string
		noSource  bool
		skip      bool
		wantFrom  map[string]any // expected tag.from after restore (when restored)
	}{
		{name: "internal image, plain tag", tag: tagRef(nil, false), dockerRef: internal, skip: true},
		{name: "internal image, no tag", tag: nil, dockerRef: internal, skip: true},
		{name: "internal image, tracks an internal docker image", tag: tagRef(ref("DockerImage", src+"/app/base:1", ""), false), dockerRef: internal, skip: true},
		{name: "internal image, tracks another tag", tag: tagRef(ref("ImageStreamTag", "web:latest", "app"), false), dockerRef: internal, skip: true},
		{name: "internal image, reference tag to internal image", tag: tagRef(ref("DockerImage", src+"/app/base:1", ""), true), dockerRef: internal,
			wantFrom: ref("DockerImage", dst+"/app2/base:1", "")},
		{name: "internal image, reference tag to another tag", tag: tagRef(ref("ImageStreamTag", "base:1", "app"), true), dockerRef: internal,
			wantFrom: ref("ImageStreamTag", "base:1", "app2")},
		{name: "internal image, from an external docker image", tag: tagRef(ref("DockerImage", "quay.io/org/base:1", ""), false), dockerRef: internal,
			wantFrom: ref("DockerImage", "quay.io/org/base:1", "")},
		{name: "external image", tag: tagRef(ref("DockerImage", "quay.io/org/base:1", ""), false), dockerRef: "quay.io/org/base@" + digest,
			wantFrom: ref("DockerImage", "quay.io/org/base:1", "")},
		{name: "external image tracking another tag", tag: tagRef(ref("ImageStreamTag", "base:1", "shared"), false), dockerRef: "quay.io/org/base@" + digest,
			wantFrom: ref("ImageStreamTag", "base:1", "shared")},
		// Nothing recorded at backup (this version records nothing on tags): OpenShift's own
		// registry hostname is the source, so the tag of an internal image is still skipped.
		{name: "no recorded source registry, OpenShift's registry", tag: tagRef(ref("ImageStreamTag", "base:1", "app"), false), dockerRef: internal, noSource: true, skip: true},
		{name: "no recorded source registry, another registry", tag: tagRef(ref("ImageStreamTag", "base:1", "app"), false), dockerRef: "registry.example.com:5000/app/web@" + digest, noSource: true,
			wantFrom: ref("ImageStreamTag", "base:1", "app2")},
		// The registry under its other names is the same registry.
		{name: "internal image under the service's cluster.local name", tag: tagRef(nil, false), dockerRef: local + "/app/web@" + digest, skip: true},
		{name: "internal image under an external hostname", tag: tagRef(ref("DockerImage", route+"/app/base:1", ""), false), dockerRef: route + "/app/web@" + digest, skip: true},
		{name: "reference tag to an internal image under an external hostname", tag: tagRef(ref("DockerImage", route+"/app/base:1", ""), true), dockerRef: internal,
			wantFrom: ref("DockerImage", dst+"/app2/base:1", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := istag("v1", tt.tag, tt.dockerRef)
			if !tt.noSource {
				actiontest.FromSource(item)
				a := item.GetAnnotations()
				a[keys.BackupRegistryExternalHostnames] = route
				item.SetAnnotations(a)
			}
			want := item.DeepCopy()
			r, _ := newRestore()
			out, got, err := run(t, r, item, map[string]string{"app": "app2"})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if out.SkipRestore != tt.skip {
				t.Fatalf("skip = %v, want %v", out.SkipRestore, tt.skip)
			}
			if len(out.AdditionalItems) != 0 || out.WaitForAdditionalItems {
				t.Fatalf("additional items %v (wait %v) without a recorded related tag", out.AdditionalItems, out.WaitForAdditionalItems)
			}
			if tt.wantFrom != nil {
				tag := want.Object["tag"].(map[string]any)
				tag["from"] = tt.wantFrom
			}
			if !reflect.DeepEqual(got.Object, want.Object) {
				g, _ := json.MarshalIndent(got.Object, "", " ")
				w, _ := json.MarshalIndent(want.Object, "", " ")
				t.Fatalf("object\n%s\nwant\n%s", g, w)
			}
		})
	}
}

func TestRestoreReturnsRelatedTag(t *testing.T) {
	tests := []struct {
		name, relatedNS string
		related         string
		wantNS          string
		none            bool
	}{
		{name: "other namespace", related: "base:1", relatedNS: "shared", wantNS: "shared"},
		{name: "own namespace recorded", related: "base:1", relatedNS: "app", wantNS: "app"},
		{name: "namespace not recorded", related: "base:1", wantNS: "app"},
		{name: "itself", related: "web:v1", relatedNS: "app", none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.FromSource(istag("v1", tagRef(ref("ImageStreamTag", tt.related, tt.relatedNS), true), "quay.io/org/base@"+digest))
			a := item.GetAnnotations()
			a[keys.RelatedISTag] = tt.related
			if tt.relatedNS != "" {
				a[keys.RelatedISTagNamespace] = tt.relatedNS
			}
			item.SetAnnotations(a)
			r, _ := newRestore()
			out, _, err := run(t, r, item, map[string]string{"app": "app2", "shared": "shared2"})
			if err != nil || out.SkipRestore {
				t.Fatalf("Execute: %v, skip %v", err, out != nil && out.SkipRestore)
			}
			if tt.none {
				if len(out.AdditionalItems) != 0 || out.WaitForAdditionalItems {
					t.Fatalf("a tag referencing itself returned %v", out.AdditionalItems)
				}
				return
			}
			want := []velero.ResourceIdentifier{{GroupResource: schema.GroupResource{Group: "image.openshift.io", Resource: "imagestreamtags"}, Namespace: tt.wantNS, Name: tt.related}}
			if !reflect.DeepEqual(out.AdditionalItems, want) || !out.WaitForAdditionalItems || out.AdditionalItemsReadyTimeout != ReadyTimeout {
				t.Fatalf("additional %v wait %v timeout %v; want %v, true, %v", out.AdditionalItems, out.WaitForAdditionalItems, out.AdditionalItemsReadyTimeout, want, ReadyTimeout)
			}
		})
	}
}

func TestRestoreMovesTagAnnotations(t *testing.T) {
	tag := tagRef(ref("DockerImage", "quay.io/org/base:1", ""), false)
	tag["annotations"] = map[string]any{"description": "base image", "shared": "from-tag"}
	item := actiontest.FromSource(istag("v1", tag, "quay.io/org/base@"+digest))
	a := item.GetAnnotations()
	a["shared"] = "from-object"
	item.SetAnnotations(a)
	r, _ := newRestore()
	_, got, err := run(t, r, item, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Object["tag"].(map[string]any)["annotations"]; ok {
		t.Fatal("tag.annotations kept: the API rejects them when they differ from the object's")
	}
	ga := got.GetAnnotations()
	if ga["description"] != "base image" || ga["shared"] != "from-object" || ga[keys.BackupRegistryHostname] != src {
		t.Fatalf("annotations = %v", ga)
	}
}

func TestRestoreBadInputNamesField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(obj map[string]any)
		field string
	}{
		{"tag", func(o map[string]any) { o["tag"] = "x" }, "tag: expected an object"},
		{"reference", func(o map[string]any) { o["tag"].(map[string]any)["reference"] = "yes" }, "tag.reference: expected a boolean"},
		{"from name", func(o map[string]any) {
			o["tag"].(map[string]any)["from"] = map[string]any{"kind": "DockerImage", "name": 1.0}
		}, "tag.from.name: expected a string"},
		{"image", func(o map[string]any) { o["image"] = []any{} }, "image: expected an object"},
		{"dockerImageReference", func(o map[string]any) { o["image"].(map[string]any)["dockerImageReference"] = 1.0 }, "image.dockerImageReference: expected a string"},
		{"tag annotations", func(o map[string]any) { o["tag"].(map[string]any)["annotations"] = []any{} }, "tag.annotations: expected an object"},
		{"tag annotation value", func(o map[string]any) { o["tag"].(map[string]any)["annotations"] = map[string]any{"a": 1.0} }, "tag.annotations.a: expected a string"},
		{"unparsable internal from", func(o map[string]any) {
			o["tag"].(map[string]any)["from"] = ref("DockerImage", src+"/app/BAD", "")
			o["tag"].(map[string]any)["reference"] = true
		}, "tag.from.name: invalid image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			item := actiontest.FromSource(istag("v1", tagRef(nil, false), "quay.io/org/base@"+digest))
			tt.edit(item.Object)
			r, _ := newRestore()
			_, _, err := run(t, r, item, nil)
			actiontest.ErrorNames(t, err, tt.field, "ImageStreamTag app/web:v1")
		})
	}
}

func existing(ns, name string) *imagev1.ImageStreamTag {
	return &imagev1.ImageStreamTag{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func TestAreAdditionalItemsReady(t *testing.T) {
	base := velero.ResourceIdentifier{GroupResource: GroupResource, Namespace: "shared", Name: "base:1"}
	other := velero.ResourceIdentifier{GroupResource: GroupResource, Namespace: "app", Name: "web:latest"}
	tests := []struct {
		name    string
		objs    []runtime.Object
		items   []velero.ResourceIdentifier
		react   error
		ready   bool
		wantErr bool
	}{
		{name: "exists in the mapped namespace", objs: []runtime.Object{existing("shared2", "base:1")}, items: []velero.ResourceIdentifier{base}, ready: true},
		{name: "exists only in the source namespace", objs: []runtime.Object{existing("shared", "base:1")}, items: []velero.ResourceIdentifier{base}},
		{name: "one of two missing", objs: []runtime.Object{existing("shared2", "base:1")}, items: []velero.ResourceIdentifier{base, other}},
		{name: "all present", objs: []runtime.Object{existing("shared2", "base:1"), existing("app", "web:latest")}, items: []velero.ResourceIdentifier{base, other}, ready: true},
		{name: "nothing to wait for", ready: true},
		{name: "transient failure retries", items: []velero.ResourceIdentifier{base}, react: apierrors.NewServiceUnavailable("busy")},
		{name: "other failure is an error", items: []velero.ResourceIdentifier{base}, react: apierrors.NewForbidden(GroupResource, "base:1", errors.New("no")), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, c := newRestore(tt.objs...)
			if tt.react != nil {
				c.PrependReactor("get", "imagestreamtags", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tt.react })
			}
			w, err := action.Wrap(actiontest.Registration(RestoreName, action.KindRestoreV2, r), actiontest.Env())
			if err != nil {
				t.Fatal(err)
			}
			ready, err := w.(*action.GuardedRestore).AreAdditionalItemsReady(tt.items, actiontest.Restore(map[string]string{"shared": "shared2"}))
			if (err != nil) != tt.wantErr || ready != tt.ready {
				t.Fatalf("ready = %v, err = %v; want %v, error %v", ready, err, tt.ready, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "shared2/base:1") {
				t.Fatalf("error %v does not name the tag", err)
			}
		})
	}
}

func FuzzExecute(f *testing.F) {
	seed := actiontest.FromSource(istag("v1", tagRef(ref("DockerImage", src+"/app/base:1", ""), true), src+"/app/web@"+digest))
	seedJSON, _ := json.Marshal(seed.Object)
	f.Add(seedJSON)
	f.Add([]byte(`{"metadata":{"name":"a:b","namespace":"app","annotations":{"migration.openshift.io/related-istag":"c:d"}},"tag":{"from":{"kind":"ImageStreamTag","name":"c:d"},"annotations":{"x":null}},"image":null}`))
	f.Add([]byte(`{"tag":{"reference":1,"from":[]},"image":{"dockerImageReference":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "image.openshift.io/v1", "ImageStreamTag")
		if !ok {
			return
		}
		backupItem := item.DeepCopy()
		r, _ := newRestore()
		_, err := actiontest.RunRestore(t, actiontest.Registration(RestoreName, action.KindRestoreV2, r), actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
		_, _, err = actiontest.RunBackup(t, Registrations()[0], actiontest.Env(), backupItem, actiontest.Backup())
		actiontest.NoPanic(t, data, err)
	})
}

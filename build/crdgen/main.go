// Command crdgen writes the CustomResourceDefinitions that let a plain kube-apiserver serve the
// OpenShift APIs the plugins touch, for the local end-to-end stack.
//
// Two sources, both from the pinned github.com/openshift/api (the main module's version):
//   - CRDs that openshift/api ships as YAML (zz_generated.crd-manifests: Route,
//     SecurityContextConstraints, config.openshift.io ClusterVersion/Image/Ingress, the image
//     registry operator Config) are copied verbatim;
//   - APIs that OpenShift serves from its own apiserver (apps DeploymentConfig, build Build and
//     BuildConfig, image ImageStream, ImageStreamTag, ImageTag, Image) get a structural schema
//     generated here by reflecting over the Go types: every field the types marshal is typed,
//     so the apiserver prunes what real OpenShift would not store, and nothing else.
//
// Output is deterministic (sorted keys, fixed file names).
//
//	go run . -openshift-api DIR -out DIR
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	appsv1 "github.com/openshift/api/apps/v1"
	buildv1 "github.com/openshift/api/build/v1"
	imagev1 "github.com/openshift/api/image/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// shipped lists CRD manifests copied verbatim from the openshift/api module.
var shipped = []string{
	"route/v1/zz_generated.crd-manifests/routes.crd.yaml",
	"security/v1/zz_generated.crd-manifests/0000_03_config-operator_01_securitycontextconstraints.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_00_cluster-version-operator_01_clusterversions-Default.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_images-Default.crd.yaml",
	"config/v1/zz_generated.crd-manifests/0000_10_config-operator_01_ingresses.crd.yaml",
	"imageregistry/v1/zz_generated.crd-manifests/00_configs.crd.yaml",
}

// generated describes one CRD built from Go types.
type generated struct {
	group, version, kind, plural, singular string
	shortNames                             []string
	namespaced                             bool
	obj                                    any
	statusSubresource                      bool
	scale                                  bool // spec.replicas / status.replicas
}

var kinds = []generated{
	{group: "apps.openshift.io", version: "v1", kind: "DeploymentConfig", plural: "deploymentconfigs", singular: "deploymentconfig",
		shortNames: []string{"dc"}, namespaced: true, obj: appsv1.DeploymentConfig{}, statusSubresource: true, scale: true},
	{group: "build.openshift.io", version: "v1", kind: "BuildConfig", plural: "buildconfigs", singular: "buildconfig",
		shortNames: []string{"bc"}, namespaced: true, obj: buildv1.BuildConfig{}},
	{group: "build.openshift.io", version: "v1", kind: "Build", plural: "builds", singular: "build",
		namespaced: true, obj: buildv1.Build{}},
	{group: "image.openshift.io", version: "v1", kind: "ImageStream", plural: "imagestreams", singular: "imagestream",
		shortNames: []string{"is"}, namespaced: true, obj: imagev1.ImageStream{}, statusSubresource: true},
	{group: "image.openshift.io", version: "v1", kind: "ImageStreamTag", plural: "imagestreamtags", singular: "imagestreamtag",
		shortNames: []string{"istag"}, namespaced: true, obj: imagev1.ImageStreamTag{}},
	{group: "image.openshift.io", version: "v1", kind: "ImageTag", plural: "imagetags", singular: "imagetag",
		shortNames: []string{"itag"}, namespaced: true, obj: imagev1.ImageTag{}},
	{group: "image.openshift.io", version: "v1", kind: "Image", plural: "images", singular: "image",
		namespaced: false, obj: imagev1.Image{}},
}

type schema = map[string]any

var (
	timeType     = reflect.TypeOf(metav1.Time{})
	microTime    = reflect.TypeOf(metav1.MicroTime{})
	durationType = reflect.TypeOf(metav1.Duration{})
	quantityType = reflect.TypeOf(resource.Quantity{})
	intOrString  = reflect.TypeOf(intstr.IntOrString{})
	rawExtension = reflect.TypeOf(runtime.RawExtension{})
	fieldsV1     = reflect.TypeOf(metav1.FieldsV1{})
	objectMeta   = reflect.TypeOf(metav1.ObjectMeta{})
	typeMeta     = reflect.TypeOf(metav1.TypeMeta{})
)

// schemaFor returns the structural schema of how encoding/json marshals t.
func schemaFor(t reflect.Type, stack map[reflect.Type]bool) schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType, microTime:
		return schema{"type": "string", "format": "date-time"}
	case durationType:
		return schema{"type": "string"}
	case quantityType, intOrString:
		return schema{"anyOf": []any{schema{"type": "integer"}, schema{"type": "string"}}, "x-kubernetes-int-or-string": true}
	case rawExtension, fieldsV1:
		return schema{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	switch t.Kind() {
	case reflect.String:
		return schema{"type": "string"}
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return schema{"type": "integer", "format": "int32"}
	case reflect.Int64, reflect.Uint, reflect.Uint64:
		return schema{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return schema{"type": "number"}
	case reflect.Interface:
		return schema{"x-kubernetes-preserve-unknown-fields": true}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return schema{"type": "string", "format": "byte"}
		}
		return schema{"type": "array", "items": schemaFor(t.Elem(), stack)}
	case reflect.Map:
		return schema{"type": "object", "additionalProperties": schemaFor(t.Elem(), stack)}
	case reflect.Struct:
		if stack[t] {
			// A recursive type: stop typing here rather than loop.
			return schema{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
		}
		stack[t] = true
		defer delete(stack, t)
		props := schema{}
		addFields(t, props, stack)
		return schema{"type": "object", "properties": props}
	}
	panic(fmt.Sprintf("crdgen: no schema for %s (%s)", t, t.Kind()))
}

// addFields adds t's JSON fields to props, following encoding/json's rules for inlining.
func addFields(t reflect.Type, props schema, stack map[reflect.Type]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && f.Anonymous && ft.Kind() == reflect.Struct {
			addFields(ft, props, stack)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := schemaFor(f.Type, stack)
		omitempty := strings.Contains(","+opts+",", ",omitempty,")
		switch f.Type.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			if !omitempty && f.Type != reflect.TypeOf([]byte(nil)) {
				s["nullable"] = true // marshals as null when nil
			}
		}
		props[name] = s
	}
}

// rootSchema is the schema of a whole object: TypeMeta and the root ObjectMeta are the
// apiserver's; everything else comes from the type.
func rootSchema(t reflect.Type) schema {
	props := schema{}
	stack := map[reflect.Type]bool{t: true}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		switch f.Type {
		case typeMeta:
			props["apiVersion"] = schema{"type": "string"}
			props["kind"] = schema{"type": "string"}
			continue
		case objectMeta:
			props["metadata"] = schema{"type": "object"}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		s := schemaFor(f.Type, stack)
		if (f.Type.Kind() == reflect.Pointer) && !strings.Contains(opts, "omitempty") {
			s["nullable"] = true
		}
		props[name] = s
	}
	return schema{"type": "object", "properties": props}
}

func crdFor(g generated) schema {
	version := schema{
		"name": g.version, "served": true, "storage": true,
		"schema": schema{"openAPIV3Schema": rootSchema(reflect.TypeOf(g.obj))},
	}
	sub := schema{}
	if g.statusSubresource {
		sub["status"] = schema{}
	}
	if g.scale {
		sub["scale"] = schema{"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
	}
	if len(sub) > 0 {
		version["subresources"] = sub
	}
	names := schema{"kind": g.kind, "listKind": g.kind + "List", "plural": g.plural, "singular": g.singular}
	if len(g.shortNames) > 0 {
		names["shortNames"] = g.shortNames
	}
	scope := "Cluster"
	if g.namespaced {
		scope = "Namespaced"
	}
	return schema{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata": schema{
			"name": g.plural + "." + g.group,
			"annotations": schema{
				"velero-openshift.io/generated-by": "build/crdgen from github.com/openshift/api Go types; OpenShift serves this API natively",
			},
		},
		"spec": schema{
			"group": g.group, "names": names, "scope": scope,
			"versions": []any{version},
		},
	}
}

func main() {
	apiDir := flag.String("openshift-api", "", "directory of the github.com/openshift/api module")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *apiDir == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*apiDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}

func run(apiDir, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, rel := range shipped {
		b, err := os.ReadFile(filepath.Join(apiDir, rel))
		if err != nil {
			return err
		}
		var meta struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		if err := yaml.Unmarshal(b, &meta); err != nil || meta.Metadata.Name == "" {
			return fmt.Errorf("%s: no CRD name (%v)", rel, err)
		}
		name := meta.Metadata.Name + ".yaml"
		header := fmt.Sprintf("# Copied by build/crdgen from github.com/openshift/api %s\n", rel)
		if err := write(filepath.Join(out, name), append([]byte(header), b...)); err != nil {
			return err
		}
		want[name] = true
	}
	for _, g := range kinds {
		b, err := yaml.Marshal(crdFor(g))
		if err != nil {
			return err
		}
		name := g.plural + "." + g.group + ".yaml"
		if err := write(filepath.Join(out, name), append([]byte("# Generated by build/crdgen. DO NOT EDIT.\n"), b...)); err != nil {
			return err
		}
		want[name] = true
	}
	// Remove stale files so the directory is exactly the generated set.
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && !want[e.Name()] {
			if err := os.Remove(filepath.Join(out, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func write(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(path, b, 0o644)
}

// Command crdgen writes the CustomResourceDefinitions that let a plain kube-apiserver serve the
// OpenShift APIs the plugins touch, for the local end-to-end stack.
//
// Every CRD is generated here from the github.com/openshift/api Go types (the main module's
// version) by reflecting over how encoding/json marshals them: a structural schema in which every
// field the types marshal is typed, so the apiserver prunes what real OpenShift would not store,
// and nothing else. No text is copied from openshift/api's shipped manifests. No `required`, no
// validation beyond types, no defaults.
//
// Output is deterministic (sorted keys, fixed file names, no timestamps).
//
//	go run . -out DIR
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
	configv1 "github.com/openshift/api/config/v1"
	imagev1 "github.com/openshift/api/image/v1"
	imageregistryv1 "github.com/openshift/api/imageregistry/v1"
	routev1 "github.com/openshift/api/route/v1"
	securityv1 "github.com/openshift/api/security/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// generated describes one CRD built from Go types.
type generated struct {
	group, version, kind, plural, singular string
	shortNames                             []string
	namespaced                             bool
	obj                                    any
	statusSubresource                      bool
	scale                                  bool // spec.replicas / status.replicas
	// served natively by OpenShift's own apiserver (openshift/api ships no CRD for it), as
	// opposed to a CRD on OpenShift too.
	native bool
}

var kinds = []generated{
	{group: "apps.openshift.io", version: "v1", kind: "DeploymentConfig", plural: "deploymentconfigs", singular: "deploymentconfig",
		shortNames: []string{"dc"}, namespaced: true, obj: appsv1.DeploymentConfig{}, statusSubresource: true, scale: true, native: true},
	{group: "build.openshift.io", version: "v1", kind: "BuildConfig", plural: "buildconfigs", singular: "buildconfig",
		shortNames: []string{"bc"}, namespaced: true, obj: buildv1.BuildConfig{}, native: true},
	{group: "build.openshift.io", version: "v1", kind: "Build", plural: "builds", singular: "build",
		namespaced: true, obj: buildv1.Build{}, native: true},
	{group: "image.openshift.io", version: "v1", kind: "ImageStream", plural: "imagestreams", singular: "imagestream",
		shortNames: []string{"is"}, namespaced: true, obj: imagev1.ImageStream{}, statusSubresource: true, native: true},
	{group: "image.openshift.io", version: "v1", kind: "ImageStreamTag", plural: "imagestreamtags", singular: "imagestreamtag",
		shortNames: []string{"istag"}, namespaced: true, obj: imagev1.ImageStreamTag{}, native: true},
	{group: "image.openshift.io", version: "v1", kind: "ImageTag", plural: "imagetags", singular: "imagetag",
		shortNames: []string{"itag"}, namespaced: true, obj: imagev1.ImageTag{}, native: true},
	{group: "image.openshift.io", version: "v1", kind: "Image", plural: "images", singular: "image",
		namespaced: false, obj: imagev1.Image{}, native: true},
	{group: "route.openshift.io", version: "v1", kind: "Route", plural: "routes", singular: "route",
		namespaced: true, obj: routev1.Route{}, statusSubresource: true, native: true},
	{group: "security.openshift.io", version: "v1", kind: "SecurityContextConstraints", plural: "securitycontextconstraints",
		singular: "securitycontextconstraints", shortNames: []string{"scc"}, obj: securityv1.SecurityContextConstraints{}},
	{group: "config.openshift.io", version: "v1", kind: "ClusterVersion", plural: "clusterversions", singular: "clusterversion",
		obj: configv1.ClusterVersion{}, statusSubresource: true},
	{group: "config.openshift.io", version: "v1", kind: "Image", plural: "images", singular: "image",
		obj: configv1.Image{}, statusSubresource: true},
	{group: "config.openshift.io", version: "v1", kind: "Ingress", plural: "ingresses", singular: "ingress",
		obj: configv1.Ingress{}, statusSubresource: true},
	{group: "imageregistry.operator.openshift.io", version: "v1", kind: "Config", plural: "configs", singular: "config",
		obj: imageregistryv1.Config{}, statusSubresource: true},
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
		props[name] = fieldSchema(f, opts, stack)
	}
}

// fieldSchema is the schema of one struct field; a field that marshals as null when empty (a nil
// pointer, map, slice or interface without omitempty, or an empty RawExtension) is nullable.
func fieldSchema(f reflect.StructField, opts string, stack map[reflect.Type]bool) schema {
	s := schemaFor(f.Type, stack)
	omitempty := strings.Contains(","+opts+",", ",omitempty,")
	switch f.Type.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if !omitempty && f.Type != reflect.TypeOf([]byte(nil)) {
			s["nullable"] = true
		}
	}
	if f.Type == rawExtension {
		s["nullable"] = true // RawExtension{} marshals as null even with omitempty
	}
	return s
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
		if name == "-" {
			continue
		}
		props[name] = fieldSchema(f, opts, stack)
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
				"velero-openshift.io/generated-by": generatedBy(g),
			},
		},
		"spec": schema{
			"group": g.group, "names": names, "scope": scope,
			"versions": []any{version},
		},
	}
}

func generatedBy(g generated) string {
	if g.native {
		return "build/crdgen from the github.com/openshift/api Go types; OpenShift serves this API from its own apiserver"
	}
	return "build/crdgen from the github.com/openshift/api Go types"
}

func main() {
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "crdgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, g := range kinds {
		b, err := yaml.Marshal(crdFor(g))
		if err != nil {
			return err
		}
		name := g.plural + "." + g.group + ".yaml"
		if want[name] {
			return fmt.Errorf("two CRDs named %s", name)
		}
		if err := write(filepath.Join(out, name), append([]byte("# Generated by build/crdgen from the github.com/openshift/api Go types. DO NOT EDIT.\n"), b...)); err != nil {
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

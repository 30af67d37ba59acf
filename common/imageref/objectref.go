package imageref

import (
	"fmt"

	"github.com/velero-openshift/plugins/common/fields"
)

// Kinds of the ObjectReference that names an image in image streams, builds and tags.
const (
	KindDockerImage      = "DockerImage"
	KindImageStreamTag   = "ImageStreamTag"
	KindImageStreamImage = "ImageStreamImage"
)

// RewriteObjectRef rewrites, in place, an ObjectReference that names an image ({kind, name,
// namespace}): a DockerImage name through w (internal references move to the destination registry
// and mapped namespace), the namespace of an ImageStreamTag/ImageStreamImage through w's mapping.
// A reference without a namespace is relative to its object and moves with it. field names the
// reference in errors, e.g. "spec.output.to". It reports whether anything changed.
//
// BuildConfigs, ImageStreams, ImageStreamTags and DeploymentConfig triggers all hold such
// references; this is the one place that decides how they move.
func (w Rewriter) RewriteObjectRef(ref map[string]any, field string) (bool, error) {
	kind, err := fields.String(ref, "kind", field)
	if err != nil {
		return false, err
	}
	switch kind {
	case KindDockerImage:
		name, err := fields.String(ref, "name", field)
		if err != nil {
			return false, err
		}
		out, changed, err := w.Rewrite(name)
		if err != nil {
			return false, fmt.Errorf("%s.name: %w", field, err)
		}
		if changed {
			ref["name"] = out
		}
		return changed, nil
	case KindImageStreamTag, KindImageStreamImage:
		ns, err := fields.String(ref, "namespace", field)
		if err != nil || ns == "" {
			return false, err
		}
		if to := w.MapNamespace(ns); to != ns {
			ref["namespace"] = to
			return true, nil
		}
	}
	return false, nil
}

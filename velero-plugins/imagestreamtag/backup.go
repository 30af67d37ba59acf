// Package imagestreamtag backs up and restores ImageStreamTags. At backup it records which tag a
// tag tracks, so the restore can bring that tag first and wait for it; at restore it skips tags of
// images in the source's internal registry (the image stream restore recreates those) and restores
// reference and external tags with their references moved to the destination.
package imagestreamtag

import (
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
)

// backup records the ImageStreamTag a tag's tag.from names.
//
// It annotates the backed-up tag with the tag it references, and drops such annotations
// left from an earlier restore when it references none.
func backup(bi *action.BackupItem) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	from, err := tagFrom(bi.Obj.Object)
	if err != nil {
		return nil, nil, err
	}
	var name, ns string
	if from != nil {
		kind, err := fields.String(from, "kind", "tag.from")
		if err != nil {
			return nil, nil, err
		}
		if kind == imageref.KindImageStreamTag {
			if name, err = fields.String(from, "name", "tag.from"); err != nil {
				return nil, nil, err
			}
			if ns, err = fields.String(from, "namespace", "tag.from"); err != nil {
				return nil, nil, err
			}
			if name == "" {
				bi.Log.Warn("tag.from names an ImageStreamTag without a name; not recording it")
			}
		}
	}
	a, err := fields.Metadata(bi.Obj.Object, "annotations", name != "")
	if err != nil {
		return nil, nil, err
	}
	if name == "" {
		delete(a, keys.RelatedISTag)
		delete(a, keys.RelatedISTagNamespace)
		return bi.Obj, nil, nil
	}
	if ns == "" {
		ns = bi.Obj.GetNamespace()
	}
	a[keys.RelatedISTag] = name
	a[keys.RelatedISTagNamespace] = ns
	return bi.Obj, nil, nil
}

// tagFrom returns the tag.from object of an ImageStreamTag (nil when there is none).
func tagFrom(obj map[string]any) (map[string]any, error) {
	from, _, err := fields.NestedObject(obj, "", "tag", "from")
	return from, err
}

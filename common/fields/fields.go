// Package fields reads and edits typed fields of unstructured content with errors that name the
// field ("spec.source.images[2].from: expected an object, got string"), so a malformed item is
// reported precisely instead of panicking or being silently skipped.
package fields

import "fmt"

// Join appends key to a field path prefix ("" at the top).
func Join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// NestedObject returns the object at path below parent without copying it. found is false when a
// field on the path is absent or null; an error names the first field on the path that is not an
// object. prefix is the field name of parent in messages ("" at the top).
func NestedObject(parent map[string]any, prefix string, path ...string) (obj map[string]any, found bool, err error) {
	field := prefix
	cur := parent
	for _, p := range path {
		field = Join(field, p)
		v, ok := cur[p]
		if !ok || v == nil {
			return nil, false, nil
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false, fmt.Errorf("%s: expected an object, got %T", field, v)
		}
		cur = m
	}
	return cur, true, nil
}

// String reads an optional string field of obj ("" when absent or null); prefix names obj in the
// error for any other type.
func String(obj map[string]any, key, prefix string) (string, error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return "", nil
	}
	s, isString := v.(string)
	if !isString {
		return "", fmt.Errorf("%s: expected a string, got %T", Join(prefix, key), v)
	}
	return s, nil
}

// Objects returns the list of objects at parent[key]; absent or null is an empty list. An error
// names the list or the entry that has the wrong type. prefix is the field name of parent.
func Objects(parent map[string]any, prefix, key string) ([]map[string]any, error) {
	field := Join(prefix, key)
	v, ok := parent[key]
	if !ok || v == nil {
		return nil, nil
	}
	items, isList := v.([]any)
	if !isList {
		return nil, fmt.Errorf("%s: expected a list, got %T", field, v)
	}
	out := make([]map[string]any, 0, len(items))
	for i, item := range items {
		m, isMap := item.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s[%d]: expected an object, got %T", field, i, item)
		}
		out = append(out, m)
	}
	return out, nil
}

// Strings reads the string list obj[key]. found is false when the field is absent or null; an
// error names the field (and the entry) when it has the wrong type.
func Strings(obj map[string]any, key string) (list []string, found bool, err error) {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil, false, nil
	}
	raw, ok := v.([]any)
	if !ok {
		return nil, true, fmt.Errorf("%s: expected a list of strings, got %T", key, v)
	}
	list = make([]string, len(raw))
	for i, e := range raw {
		s, ok := e.(string)
		if !ok {
			return nil, true, fmt.Errorf("%s[%d]: expected a string, got %T", key, i, e)
		}
		list[i] = s
	}
	return list, true, nil
}

// RemapStrings sets item[key] to the entries of orig[key] passed through fn, reading the
// backed-up values so that an earlier action's edits are never mapped twice. The item is left
// alone when fn changes nothing. orig may be item itself when no backed-up copy is at hand.
func RemapStrings(item, orig map[string]any, key string, fn func(string) string) (changed bool, err error) {
	if _, _, err := Strings(item, key); err != nil {
		return false, err
	}
	src, found, err := Strings(orig, key)
	if err != nil || !found {
		return false, err
	}
	out := make([]any, len(src))
	for i, s := range src {
		mapped := fn(s)
		changed = changed || mapped != s
		out[i] = mapped
	}
	if changed {
		item[key] = out
	}
	return changed, nil
}

// StringMap is a map of strings inside unstructured content (labels, annotations), shared with
// it: setting or deleting an entry edits the item. Entries are set as strings.
type StringMap map[string]any

// Get returns the entry of key, "" when absent. (Comparing m[key] itself with "" is wrong: an
// absent entry is nil, not "".)
func (m StringMap) Get(key string) string {
	s, _ := m[key].(string)
	return s
}

// Metadata returns obj's metadata.<field>, "labels" or "annotations" (a map of strings), for
// reading and editing in place. With create, a missing map (and missing metadata) is added so
// entries can be set; without it, a missing map is nil, which reads as empty. Metadata or a map
// of the wrong type, or an entry that is not a string, is an error naming the field: an item's
// labels and annotations are never silently replaced by a map holding only an action's entries.
func Metadata(obj map[string]any, field string, create bool) (StringMap, error) {
	meta, found, err := NestedObject(obj, "", "metadata")
	if err != nil {
		return nil, err
	}
	if !found {
		if !create {
			return nil, nil
		}
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	m, found, err := NestedObject(meta, "metadata", field)
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		if _, isString := v.(string); !isString {
			return nil, fmt.Errorf("metadata.%s.%s: expected a string, got %T", field, k, v)
		}
	}
	if !found && create {
		m = map[string]any{}
		meta[field] = m
	}
	return m, nil
}

package fields

import (
	"fmt"
	"strings"
	"testing"
)

func TestAccessors(t *testing.T) {
	obj := map[string]any{
		"spec": map[string]any{
			"name":  "x",
			"bad":   int64(1),
			"list":  []any{map[string]any{"a": "b"}, "oops"},
			"strs":  []any{"a", "b"},
			"mixed": []any{"a", true},
		},
	}
	if o, found, err := NestedObject(obj, "", "spec"); !found || err != nil || o["name"] != "x" {
		t.Fatalf("NestedObject = %v %v %v", o, found, err)
	}
	if _, found, err := NestedObject(obj, "", "spec", "missing", "deeper"); found || err != nil {
		t.Fatalf("missing path: found=%v err=%v", found, err)
	}
	if _, _, err := NestedObject(obj, "", "spec", "name", "x"); err == nil || !strings.HasPrefix(err.Error(), "spec.name: expected an object") {
		t.Fatalf("err = %v", err)
	}
	spec := obj["spec"].(map[string]any)
	if _, err := String(spec, "bad", "spec"); err == nil || !strings.HasPrefix(err.Error(), "spec.bad: expected a string") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Objects(spec, "spec", "list"); err == nil || !strings.HasPrefix(err.Error(), "spec.list[1]: expected an object") {
		t.Fatalf("err = %v", err)
	}
	if l, found, err := Strings(spec, "strs"); !found || err != nil || strings.Join(l, ",") != "a,b" {
		t.Fatalf("Strings = %v %v %v", l, found, err)
	}
	if _, _, err := Strings(spec, "mixed"); err == nil || !strings.HasPrefix(err.Error(), "mixed[1]") {
		t.Fatalf("err = %v", err)
	}
}

func TestRemapStringsReadsOriginal(t *testing.T) {
	item := map[string]any{"users": []any{"already-b"}}
	orig := map[string]any{"users": []any{"a"}}
	changed, err := RemapStrings(item, orig, "users", func(s string) string { return s + "-b" })
	if err != nil || !changed || item["users"].([]any)[0] != "a-b" {
		t.Fatalf("RemapStrings = %v %v %v", changed, err, item)
	}
	same := map[string]any{"users": []any{"x"}}
	if changed, _ := RemapStrings(same, same, "users", func(s string) string { return s }); changed {
		t.Fatal("identity mapping reported a change")
	}
}

func TestMetadataIsEditedInPlaceAndNeverReplaced(t *testing.T) {
	tests := []struct {
		name    string
		obj     map[string]any
		create  bool
		wantErr string // "" for no error
		wantNil bool
	}{
		{"existing map", map[string]any{"metadata": map[string]any{"annotations": map[string]any{"a": "b"}}}, false, "", false},
		{"absent, read", map[string]any{"metadata": map[string]any{}}, false, "", true},
		{"absent, created", map[string]any{"metadata": map[string]any{}}, true, "", false},
		{"null, created", map[string]any{"metadata": map[string]any{"annotations": nil}}, true, "", false},
		{"no metadata, read", map[string]any{}, false, "", true},
		{"no metadata, created", map[string]any{}, true, "", false},
		{"not a map", map[string]any{"metadata": map[string]any{"annotations": "a=b"}}, true, "metadata.annotations: expected an object, got string", false},
		{"a value not a string", map[string]any{"metadata": map[string]any{"annotations": map[string]any{"n": int64(3)}}}, true, "metadata.annotations.n: expected a string, got int64", false},
		{"metadata not a map", map[string]any{"metadata": []any{}}, true, "metadata: expected an object, got []interface {}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fmt.Sprint(tt.obj)
			m, err := Metadata(tt.obj, "annotations", tt.create)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if after := fmt.Sprint(tt.obj); after != before {
					t.Fatalf("malformed item changed: %s -> %s", before, after)
				}
				return
			}
			if err != nil || (m == nil) != tt.wantNil {
				t.Fatalf("Metadata = %v, %v", m, err)
			}
			if m == nil {
				return
			}
			if m.Get("k") != "" {
				t.Fatalf("absent entry reads %q", m.Get("k"))
			}
			m["k"] = "v"
			if got := tt.obj["metadata"].(map[string]any)["annotations"].(map[string]any)["k"]; got != "v" || m.Get("k") != "v" {
				t.Fatalf("edit not in the item: %v", tt.obj)
			}
		})
	}
}

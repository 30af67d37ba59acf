package liveupdate

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func configMap(value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c", "namespace": "ns"},
		"data":     map[string]any{"k": value},
	}}
}

// setK is a change that writes data.k = v unless it is already v.
func setK(v string, calls *int) Change {
	return func(obj *unstructured.Unstructured) (bool, error) {
		*calls++
		if cur, _, _ := unstructured.NestedString(obj.Object, "data", "k"); cur == v {
			return false, nil
		}
		return true, unstructured.SetNestedField(obj.Object, v, "data", "k")
	}
}

// TestUpdate: the change is written; nothing is written when the change says so; conflicts are
// re-read and retried up to the bound, then an error wrapping ErrConflicts; other API errors
// and NotFound are returned (NotFound recognisable); change errors are returned as they are.
func TestUpdate(t *testing.T) {
	boom := errors.New("bad field")
	for _, tt := range []struct {
		name        string
		conflicts   int // Update answers Conflict this many times first
		change      func(calls *int) Change
		wantValue   string
		wantCalls   int
		wantUpdates int
		check       func(error) bool
	}{
		{"written", 0, func(c *int) Change { return setK("new", c) }, "new", 1, 1, func(err error) bool { return err == nil }},
		{"nothing to write", 0, func(c *int) Change { return setK("old", c) }, "old", 1, 0, func(err error) bool { return err == nil }},
		{"two conflicts then written", 2, func(c *int) Change { return setK("new", c) }, "new", 3, 3, func(err error) bool { return err == nil }},
		{"conflicts every time", 99, func(c *int) Change { return setK("new", c) }, "old", 5, 5, func(err error) bool { return errors.Is(err, ErrConflicts) }},
		{"change fails", 0, func(c *int) Change {
			return func(*unstructured.Unstructured) (bool, error) { *c++; return false, boom }
		}, "old", 1, 0, func(err error) bool { return errors.Is(err, boom) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), configMap("old"))
			left := tt.conflicts
			updates := 0
			client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				updates++
				if left > 0 {
					left--
					return true, nil, apierrors.NewConflict(cmGVR.GroupResource(), "c", errors.New("changed"))
				}
				return false, nil, nil
			})
			calls := 0
			err := Update(context.Background(), client.Resource(cmGVR).Namespace("ns"), "c", nil, tt.change(&calls), Options{})
			if !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
			if calls != tt.wantCalls || updates != tt.wantUpdates {
				t.Errorf("change called %d times, %d updates; want %d, %d", calls, updates, tt.wantCalls, tt.wantUpdates)
			}
			live, _ := client.Resource(cmGVR).Namespace("ns").Get(context.Background(), "c", metav1.GetOptions{})
			if v, _, _ := unstructured.NestedString(live.Object, "data", "k"); v != tt.wantValue {
				t.Errorf("live data.k = %q, want %q", v, tt.wantValue)
			}
		})
	}
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	calls := 0
	err := Update(context.Background(), client.Resource(cmGVR).Namespace("ns"), "gone", nil, setK("x", &calls), Options{})
	if !apierrors.IsNotFound(err) || calls != 0 {
		t.Fatalf("missing object: err = %v, change called %d times; want NotFound and no call", err, calls)
	}
	// A copy the caller already read is used for the first attempt: no Get.
	client = dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), configMap("old"))
	err = Update(context.Background(), client.Resource(cmGVR).Namespace("ns"), "c", configMap("old"), setK("new", &calls), Options{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" {
			t.Errorf("the first attempt read the object although a copy was given")
		}
	}
}

package opcache

import (
	"errors"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGet(t *testing.T) {
	var c Cache[int]
	loads := 0
	load := func(v int) func() (int, error) { return func() (int, error) { loads++; return v, nil } }
	if v, _ := c.Get("op1", "ns", load(1)); v != 1 {
		t.Fatalf("first Get = %d", v)
	}
	if v, _ := c.Get("op1", "ns", load(2)); v != 1 || loads != 1 {
		t.Fatalf("second Get = %d after %d loads; want the cached 1 after 1 load", v, loads)
	}
	if v, _ := c.Get("op2", "ns", load(3)); v != 3 {
		t.Fatalf("other operation = %d, want its own value", v)
	}
	if _, err := c.Get("op1", "other", func() (int, error) { return 0, errors.New("down") }); err == nil {
		t.Fatal("load error not returned")
	}
	if v, err := c.Get("op1", "other", load(4)); err != nil || v != 4 {
		t.Fatalf("after a failed load Get = %d, %v; want a retry", v, err)
	}
}

func TestOldestOperationDropped(t *testing.T) {
	var c Cache[string]
	for i := 0; i <= MaxOperations; i++ {
		op := fmt.Sprint("op", i)
		_, _ = c.Get(op, "k", func() (string, error) { return op, nil })
	}
	reloaded := false
	_, _ = c.Get("op0", "k", func() (string, error) { reloaded = true; return "", nil })
	if !reloaded || len(c.ops) > MaxOperations {
		t.Fatalf("oldest operation kept (reloaded=%v, %d operations)", reloaded, len(c.ops))
	}
}

func TestOp(t *testing.T) {
	if got := Op(&metav1.ObjectMeta{UID: "u1", Namespace: "velero", Name: "b"}); got != "u1" {
		t.Errorf("Op = %q", got)
	}
	if got := Op(&metav1.ObjectMeta{Namespace: "velero", Name: "b"}); got != "velero/b" {
		t.Errorf("Op without UID = %q", got)
	}
}

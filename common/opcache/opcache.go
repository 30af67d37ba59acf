// Package opcache remembers answers for the length of one backup or restore, the one
// implementation behind every "list once per operation" lookup of the actions: a plugin process
// may serve a few operations, and a lookup per item is the per-item cost users complain about.
package opcache

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxOperations bounds how many operations' answers a Cache keeps (oldest dropped first).
const MaxOperations = 4

// Cache holds values per operation and key. The zero value is ready to use. The lock is held while
// a value loads, so concurrent items of one operation wait for that one call instead of each
// making their own.
type Cache[V any] struct {
	mu    sync.Mutex
	ops   map[string]map[string]V
	order []string
}

// Op names a Backup or Restore: its UID, else namespace/name.
func Op(obj metav1.Object) string {
	if uid := obj.GetUID(); uid != "" {
		return string(uid)
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

// Get returns the value of key within operation op, calling load the first time. A failed load is
// not remembered: the next item retries.
func (c *Cache[V]) Get(op, key string, load func() (V, error)) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	values, ok := c.ops[op]
	if ok {
		if v, ok := values[key]; ok {
			return v, nil
		}
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	if !ok {
		if c.ops == nil {
			c.ops = map[string]map[string]V{}
		}
		if len(c.order) >= MaxOperations {
			delete(c.ops, c.order[0])
			c.order = c.order[1:]
		}
		values = map[string]V{}
		c.ops[op] = values
		c.order = append(c.order, op)
	}
	values[key] = v
	return v, nil
}

// Package liveupdate changes one object on a live cluster: read it, change it, write it back, and
// on a conflict (someone else wrote in between) read and change it again, a bounded number of
// times, each API call with its own timeout. It is the one implementation behind every write an
// action makes to the source cluster (the migration quiesce, the moved PV's reclaim policy, the
// unquiesce rollback), so none of them can hang a backup or lose a concurrent change.
package liveupdate

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// Defaults: 5 attempts, 30 s per API call.
const (
	DefaultAttempts = 5
	DefaultTimeout  = 30 * time.Second
)

// Options bound an Update; zero values mean the defaults.
type Options struct {
	Attempts int
	Timeout  time.Duration
}

// ErrConflicts is wrapped by the error of an Update whose every attempt lost to another writer.
var ErrConflicts = errors.New("the object kept changing")

// Change edits the live object in place and reports whether it must be written back. It is called
// once per attempt on a fresh copy, so it must set anything it reports through its closure anew.
type Change func(obj *unstructured.Unstructured) (write bool, err error)

// Update applies change to the live object name of res and writes it back when change asks to,
// re-reading and re-applying on a conflict. first, when given, is a freshly read copy used for
// the first attempt instead of a read (a list the caller already made). Errors of the API are
// returned wrapped (apierrors.IsNotFound sees through), change's errors as they are.
func Update(ctx context.Context, res dynamic.ResourceInterface, name string, first *unstructured.Unstructured, change Change, o Options) error {
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	var lastConflict error
	for attempt := 0; attempt < o.Attempts; attempt++ {
		obj := first
		first = nil
		if obj == nil {
			var err error
			if obj, err = call(ctx, o.Timeout, func(ctx context.Context) (*unstructured.Unstructured, error) {
				return res.Get(ctx, name, metav1.GetOptions{})
			}); err != nil {
				return fmt.Errorf("reading: %w", err)
			}
		} else {
			obj = obj.DeepCopy()
		}
		write, err := change(obj)
		if err != nil || !write {
			return err
		}
		_, err = call(ctx, o.Timeout, func(ctx context.Context) (*unstructured.Unstructured, error) {
			return res.Update(ctx, obj, metav1.UpdateOptions{})
		})
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("updating: %w", err)
		}
		lastConflict = err
	}
	return fmt.Errorf("%w: %d conflicting updates: %v", ErrConflicts, o.Attempts, lastConflict)
}

// call runs one API call with its own timeout.
func call(ctx context.Context, timeout time.Duration, fn func(context.Context) (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(ctx)
}

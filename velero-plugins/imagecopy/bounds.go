package imagecopy

// The two ways a copy must end even when a library misbehaves: a panic becomes the failure of the
// one image (a plugin process that dies takes every remaining item of the backup with it), and a
// copy that stops moving data, or takes too long, is stopped (containers/image sets no timeout on
// a response, so a registry that stalls mid-blob would hold the item forever).

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"go.podman.io/image/v5/types"
)

// Defaults of a zero Copier's time bounds: generous for multi-GiB images on a slow link, short
// enough that a hung connection does not hold a backup for hours.
const (
	DefaultTimeout     = 30 * time.Minute
	DefaultIdleTimeout = 2 * time.Minute
)

// TimeoutError is a copy stopped by one of the Copier's bounds. An idle copy is transient (a
// stalled connection, retried); one over its time limit is not (a retry could only take as long).
type TimeoutError struct {
	// Idle: no data moved for Limit. Otherwise the copy, retries included, took Limit.
	Idle  bool
	Limit time.Duration
	// Setting names where the bound is configured ("" if nowhere).
	Setting string
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("copy exceeded its time limit of %s", e.Limit)
	if e.Idle {
		msg = fmt.Sprintf("copy exceeded its idle limit: no data moved for %s", e.Limit)
	}
	if e.Setting != "" {
		msg += " (setting " + e.Setting + ")"
	}
	return msg
}

// PanicError is a panic recovered during a copy: a bug in this engine or in a library it calls,
// reported as the failure of that image only, and never retried.
type PanicError struct {
	Value any
	Stack []byte // where it panicked, for the debug log
}

func (e *PanicError) Error() string { return fmt.Sprintf("internal error: panic: %v", e.Value) }

// catch turns a panic of the function it is deferred in into *err. Deferred in every method
// containers/image calls on this package's transport, and in every goroutine this package
// starts: containers/image calls them from goroutines of its own, where a panic nobody recovers
// ends the process.
func catch(err *error) {
	if v := recover(); v != nil {
		*err = &PanicError{Value: v, Stack: debug.Stack()}
	}
}

// idleWatch aborts a copy attempt that moves no data for its limit. Data moving is what
// containers/image reports on the progress channel: a blob started, read (at most every
// progressInterval), done or skipped.
//
// An attempt with no blob in flight may be waiting for the Copier's blob semaphore while other
// copies hold it, so it counts as idle only when no copy of the Copier moved data either; one
// with a blob in flight answers for that blob alone.
type idleWatch struct {
	limit  time.Duration
	cause  error
	copier *atomic.Int64 // the last data of any copy of the Copier, unix nanoseconds
	last   atomic.Int64  // the last data of this attempt
	blobs  atomic.Int32  // blobs started and not done
}

func newIdleWatch(limit time.Duration, setting string, copier *atomic.Int64) *idleWatch {
	w := &idleWatch{limit: limit, cause: &TimeoutError{Idle: true, Limit: limit, Setting: setting}, copier: copier}
	w.last.Store(time.Now().UnixNano()) // the attempt's start; no data moved, for the other copies
	return w
}

// progressInterval is how often containers/image reports a blob being read: well within limit.
func (w *idleWatch) progressInterval() time.Duration { return min(time.Second, w.limit/4) }

func (w *idleWatch) touch() {
	now := time.Now().UnixNano()
	w.last.Store(now)
	w.copier.Store(now)
}

// note records one progress event.
func (w *idleWatch) note(p types.ProgressProperties) {
	switch p.Event {
	case types.ProgressEventNewArtifact:
		w.blobs.Add(1)
	case types.ProgressEventDone:
		w.blobs.Add(-1)
	}
	w.touch()
}

// left is how long the attempt may still move no data (<= 0: it is idle).
func (w *idleWatch) left(now int64) time.Duration {
	left := time.Duration(w.last.Load() + int64(w.limit) - now)
	if left <= 0 && w.blobs.Load() <= 0 {
		left = max(left, time.Duration(w.copier.Load()+int64(w.limit)-now))
	}
	return left
}

// run cancels the attempt with the idle error once it is idle; it returns when ctx ends.
func (w *idleWatch) run(ctx context.Context, cancel context.CancelCauseFunc) {
	var err error
	defer func() {
		if err != nil {
			cancel(err)
		}
	}()
	defer catch(&err)
	t := time.NewTimer(w.limit)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			left := w.left(time.Now().UnixNano())
			if left <= 0 {
				cancel(w.cause)
				return
			}
			t.Reset(left)
		}
	}
}

// consume reads the progress channel until it is closed, counting transferred and reused blobs
// into st. After a panic it keeps draining (containers/image blocks on a full channel) and
// cancels the attempt with the panic.
func (w *idleWatch) consume(progress <-chan types.ProgressProperties, st *stats, cancel context.CancelCauseFunc) {
	var err error
	defer func() {
		if err != nil {
			cancel(err)
			for range progress {
			}
		}
	}()
	defer catch(&err)
	for p := range progress {
		w.note(p)
		switch p.Event {
		case types.ProgressEventDone:
			st.bytes += int64(p.Offset)
			st.copied++
		case types.ProgressEventSkipped:
			st.reused++
		}
	}
}

package imagecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"
	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/signature"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/semaphore"
)

// Defaults of a zero Copier.
const (
	DefaultConcurrency = 4
	DefaultAttempts    = 5
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = 30 * time.Second
)

// Copier copies images between Stores and Registries: registry -> store for backups, store ->
// registry for restores (registry -> registry and store -> store work too). Digests are
// preserved (a copy that would have to change one fails), manifest lists are copied whole,
// blobs the destination already has are not copied again, and each image copy is retried with
// exponential backoff on transient errors. Each copy is bounded in time (Timeout, IdleTimeout),
// and a panic during a copy is that image's error ("internal error"), never the process's end.
// The zero value is ready to use.
type Copier struct {
	// Concurrency bounds how many images CopyAll copies at once (default 4).
	Concurrency int
	// MaxBlobs bounds how many blobs are copied at once by this Copier, over all images
	// (default 6). Memory grows with it: an S3 upload buffers one part (5 MiB) per blob.
	MaxBlobs int
	// Attempts is how often one image copy is tried before giving up (default 5).
	Attempts int
	// Backoff is the wait before the first retry, doubled for each further retry up to
	// MaxBackoff (defaults 1s and 30s).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds each image copy, retries included (default DefaultTimeout): a copy still
	// running then fails, and is not tried again.
	Timeout time.Duration
	// IdleTimeout stops a copy attempt that moved no data for that long (default
	// DefaultIdleTimeout): a stalled connection, retried like any transient failure.
	IdleTimeout time.Duration
	// TimeoutSetting and IdleTimeoutSetting name where the bounds are configured, for the errors
	// of copies that reach them.
	TimeoutSetting, IdleTimeoutSetting string
	// Log receives one line per image: copied (bytes, duration, and the causes of any retries)
	// or failed; each retry on its own only at debug level. nil discards.
	Log logrus.FieldLogger

	semOnce sync.Once
	sem     *semaphore.Weighted
	// moved is when any copy of this Copier last moved data (unix nanoseconds), for idleWatch.
	moved atomic.Int64
}

// DefaultMaxBlobs is the default of Copier.MaxBlobs.
const DefaultMaxBlobs = 6

func (c *Copier) blobSemaphore() *semaphore.Weighted {
	c.semOnce.Do(func() {
		n := c.MaxBlobs
		if n <= 0 {
			n = DefaultMaxBlobs
		}
		c.sem = semaphore.NewWeighted(int64(n))
	})
	return c.sem
}

// Job is one image to copy.
type Job struct {
	Src, Dst Image
}

// Result is the outcome of one Job.
type Result struct {
	Job Job
	// Digest is the manifest digest the destination has now (the source's: digests are
	// preserved). For a manifest list, the list's digest.
	Digest digest.Digest
	// Bytes is how many blob bytes were read from the source and handed to the destination, over
	// all attempts (a config blob the store already holds is read but not written again);
	// BlobsCopied counts those blobs, BlobsReused the layers not transferred because the
	// destination had them already.
	Bytes       int64
	BlobsCopied int
	BlobsReused int
	Duration    time.Duration
	Attempts    int
	// Converted is set when the source manifest's format cannot be stored as it is (Docker
	// schema 1, which distribution v3 no longer keeps) and the image was stored converted, so
	// Digest differs from the source's. Only copies into a store convert; any other copy
	// preserves digests or fails.
	Converted bool
	Err       error
}

func (c *Copier) log() logrus.FieldLogger {
	if c.Log != nil {
		return c.Log
	}
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// Copy copies one image and returns its result; the error is also in Result.Err. The error names
// both ends and the image.
func (c *Copier) Copy(ctx context.Context, src, dst Image) (Result, error) {
	res := c.copyWithRetry(ctx, Job{Src: src, Dst: dst})
	return res, res.Err
}

// CopyAll copies the jobs, up to Concurrency at once, and returns one Result per job in the same
// order. Jobs with the same destination run one after another in the given order (so a tag ends
// on the last image written to it); others run concurrently. A failed job (a panic included)
// does not stop the others; a cancelled context does.
func (c *Copier) CopyAll(ctx context.Context, jobs []Job) []Result {
	results := make([]Result, len(jobs))
	// Group by destination, keeping order within a group.
	var groups [][]int
	byDst := map[string]int{}
	for i, j := range jobs {
		key := j.Dst.String()
		g, ok := byDst[key]
		if !ok {
			g = len(groups)
			byDst[key] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	n := c.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	for range min(n, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for _, i := range g {
					// copyWithRetry recovers its panics into the job's result: a panic in
					// this goroutine would end the process.
					results[i] = c.copyWithRetry(ctx, jobs[i])
				}
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	return results
}

func (c *Copier) copyWithRetry(ctx context.Context, job Job) (res Result) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = DefaultAttempts
	}
	backoff, maxBackoff := c.Backoff, c.MaxBackoff
	if backoff <= 0 {
		backoff = DefaultBackoff
	}
	if maxBackoff <= 0 {
		maxBackoff = DefaultMaxBackoff
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := c.log().WithFields(logrus.Fields{"source": job.Src.String(), "destination": job.Dst.String()})
	start := time.Now()
	res = Result{Job: job}
	var err error
	// A panic outside an attempt (each attempt recovers its own) is this image's failure too:
	// CopyAll runs this in goroutines of its own, where it would end the process.
	var perr error
	defer func() {
		if perr != nil {
			res.Err = c.failed(log, job, res.Attempts, attempts, perr, nil)
		}
	}()
	defer catch(&perr)
	// The time limit covers every attempt and the pauses between them.
	bounded, cancel := context.WithTimeoutCause(ctx, timeout, &TimeoutError{Limit: timeout, Setting: c.TimeoutSetting})
	defer cancel()
	var retried []string // the errors of the attempts retried, for the log
	for res.Attempts < attempts {
		res.Attempts++
		var st stats
		res.Digest, res.Converted, st, err = c.copyOnce(bounded, job)
		res.Bytes += st.bytes
		res.BlobsCopied += st.copied
		res.BlobsReused += st.reused
		if err == nil {
			break
		}
		if ctx.Err() == nil && bounded.Err() != nil {
			err = context.Cause(bounded) // the time limit, whatever the attempt made of it
		}
		if bounded.Err() != nil || !Transient(err) || res.Attempts == attempts {
			break
		}
		retried = append(retried, fmt.Sprintf("attempt %d: %v", res.Attempts, err))
		log.WithError(err).WithFields(logrus.Fields{"attempt": res.Attempts, "of": attempts, "retryIn": backoff.String()}).
			Debug("image copy attempt failed, retrying")
		select {
		case <-bounded.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	res.Duration = time.Since(start)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		res.Err = c.failed(log, job, res.Attempts, attempts, err, retried)
		return res
	}
	mibps := 0.0
	if s := res.Duration.Seconds(); s > 0 {
		mibps = float64(res.Bytes) / (1 << 20) / s
	}
	entry := log.WithFields(logrus.Fields{
		"digest": res.Digest.String(), "bytes": res.Bytes, "blobsCopied": res.BlobsCopied,
		"blobsReused": res.BlobsReused, "duration": res.Duration.Round(time.Millisecond).String(),
		"MiBps": fmt.Sprintf("%.1f", mibps), "attempts": res.Attempts,
	})
	if len(retried) > 0 {
		// Once per image, here: what failed and was retried.
		entry = entry.WithField("retried", strings.Join(retried, "; "))
	}
	entry.Info("image copied")
	return res
}

// failed is the error of a copy that failed for good, logged as a warning (whether it is an
// error, and of what, is the caller's call: a missing source image, for one, is only a warning
// for the image stream backup), with the errors of the attempts retried before; a panic's stack
// goes to the debug log.
func (c *Copier) failed(log logrus.FieldLogger, job Job, attempt, attempts int, err error, retried []string) error {
	var perr *PanicError
	if errors.As(err, &perr) {
		log.WithField("panic", fmt.Sprint(perr.Value)).Debugf("image copy panicked:\n%s", perr.Stack)
	}
	entry := log.WithError(err).WithField("attempts", attempt)
	if len(retried) > 0 {
		entry = entry.WithField("retried", strings.Join(retried, "; "))
	}
	entry.Warn("image copy failed")
	return fmt.Errorf("copy %s to %s (attempt %d of %d): %w", job.Src, job.Dst, attempt, attempts, err)
}

type stats struct {
	bytes          int64
	copied, reused int
}

// copyOnce is one copy with digests preserved; into a store, a manifest whose format the store
// cannot keep is then copied again converted (reported by the second result).
func (c *Copier) copyOnce(ctx context.Context, job Job) (digest.Digest, bool, stats, error) {
	d, st, err := c.copyImage(ctx, job.Src, job.Dst, true)
	var rejected types.ManifestTypeRejectedError
	if err == nil || job.Dst.store == nil || !errors.As(err, &rejected) {
		return d, false, st, err
	}
	dst, derr := job.Dst.withoutDigest()
	if derr != nil {
		return "", false, st, errors.Join(err, derr)
	}
	c.log().WithFields(logrus.Fields{"source": job.Src.String(), "reason": rejected.Error()}).
		Info("the source manifest cannot be stored in its format; storing it converted, under a new digest")
	d, st2, err := c.copyImage(ctx, job.Src, dst, false)
	st.bytes += st2.bytes
	st.copied += st2.copied
	st.reused += st2.reused
	return d, err == nil, st, err
}

// copyImage is one copy.Image call, stopped when it moves no data for the idle bound. Progress
// events count transferred and reused blobs. A panic, here or in a goroutine of this package, is
// the attempt's error.
func (c *Copier) copyImage(ctx context.Context, src, dst Image, preserveDigests bool) (d digest.Digest, st stats, err error) {
	idle := c.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer func() {
		// The idle bound, the time limit or a panic in a goroutine of this attempt, rather than
		// whatever copy.Image made of the cancellation.
		var bound *TimeoutError
		var perr *PanicError
		if cause := context.Cause(ctx); err != nil && (errors.As(cause, &bound) || errors.As(cause, &perr)) {
			err = cause
		}
	}()
	defer catch(&err)

	srcSys, err := src.systemContext(ctx)
	if err != nil {
		return "", stats{}, err
	}
	dstSys, err := dst.systemContext(ctx)
	if err != nil {
		return "", stats{}, err
	}
	policy, err := signature.NewPolicyContext(&signature.Policy{
		Default: signature.PolicyRequirements{signature.NewPRInsecureAcceptAnything()},
	})
	if err != nil {
		return "", stats{}, err
	}
	defer func() { _ = policy.Destroy() }()

	watch := newIdleWatch(idle, c.IdleTimeoutSetting, &c.moved)
	progress := make(chan types.ProgressProperties, 16)
	consumed := make(chan struct{})
	var counted stats
	go func() {
		defer close(consumed)
		watch.consume(progress, &counted, cancel)
	}()
	go watch.run(ctx, cancel)
	defer func() {
		// After copy.Image returned or panicked: its goroutines are done, nothing sends.
		close(progress)
		<-consumed
		st = counted
	}()
	opts := &copy.Options{
		SourceCtx:          srcSys,
		DestinationCtx:     dstSys,
		ReportWriter:       io.Discard,
		ImageListSelection: copy.CopyAllImages,
		PreserveDigests:    preserveDigests,
		// A store keeps no signatures, nor does a registry opened with DropSignatures; registry
		// to registry keeps them otherwise.
		RemoveSignatures:                      dst.store != nil || (dst.reg != nil && dst.reg.dropSignatures),
		OptimizeDestinationImageAlreadyExists: true,
		Progress:                              progress,
		ProgressInterval:                      watch.progressInterval(),
		// One bound for all images this Copier copies at once, so memory does not grow with
		// Concurrency.
		ConcurrentBlobCopiesSemaphore: c.blobSemaphore(),
	}
	raw, err := copy.Image(ctx, policy, dst.ref, src.ref, opts)
	if err != nil {
		return "", stats{}, err // st: the deferred count
	}
	d, err = manifest.Digest(raw)
	return d, stats{}, err
}

// withoutDigest is the same store repository with neither tag nor digest: where a converted image
// goes, as its digest is only known once it is written.
func (i Image) withoutDigest() (Image, error) {
	r, ok := i.ref.(storeRef)
	if !ok {
		return Image{}, fmt.Errorf("%s is not in an image store", i)
	}
	r.tag, r.digest = "", ""
	return Image{ref: r, sys: i.sys, where: i.where, name: r.named.Name(), store: i.store}, nil
}

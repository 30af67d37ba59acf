// Package retry is the bounded retry of the process-wide lookups every item depends on (the
// plugin config, the cluster facts). A plugin process lives for one backup or restore and asks
// for them on every item, so an answer is cached for the life of the process and a failure is
// not; retrying must still not cost every item a timeout while the API server is down:
//
//   - within one call, a quick failure (5xx, 429, 403, a server-side timeout, connection
//     refused) is tried Attempts times in all, with pauses of 100ms then 200ms, so a blip (an
//     etcd leader change, an API server restarting) costs no item anything;
//   - a failure that cost a full timeout (client-side deadline) is not retried within the call:
//     trying again at once would cost another timeout;
//   - after a call gives up, later calls answer from what is known, without API calls, for a
//     cool-down that starts at 1s and doubles up to 30s; then one call tries again. A dead API
//     server costs one item a timeout per cool-down, not every item.
package retry

import (
	"context"
	"errors"
	"net"
	"time"
)

// Policy is how failures are retried.
type Policy struct {
	Attempts         int           // tries within one call
	Pause            time.Duration // before the second try; doubles
	MinCool, MaxCool time.Duration // the cool-down after a call that gave up: doubles from MinCool to MaxCool
	Now              func() time.Time
	Sleep            func(context.Context, time.Duration) error
}

// Default is the policy of the config loader and the facts provider.
func Default() Policy {
	return Policy{Attempts: 3, Pause: 100 * time.Millisecond, MinCool: time.Second, MaxCool: 30 * time.Second,
		Now: time.Now, Sleep: sleep}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Again reports whether to try once more after attempt (1-based) failed with err, having paused
// before it returns true.
func (p Policy) Again(ctx context.Context, attempt int, err error) bool {
	return !Slow(err) && attempt < p.Attempts && p.Sleep(ctx, p.Pause<<(attempt-1)) == nil
}

// Slow reports a failure that cost a full timeout: trying again at once would only cost another.
func Slow(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &ne) && ne.Timeout()
}

// Unreachable reports a failure that got no answer from the API server at all.
func Unreachable(err error) bool {
	var ne net.Error
	return Slow(err) || errors.As(err, &ne)
}

// CoolDown is the state of a run of calls that gave up. The zero value is not cooling down.
type CoolDown struct {
	length time.Duration
	until  time.Time
}

// Start starts the next, longer cool-down and returns its length.
func (c *CoolDown) Start(p Policy) time.Duration {
	c.length = min(max(2*c.length, p.MinCool), p.MaxCool)
	c.until = p.Now().Add(c.length)
	return c.length
}

// Left is how long the current cool-down still lasts (0: try again).
func (c *CoolDown) Left(p Policy) time.Duration {
	return max(c.until.Sub(p.Now()), 0)
}

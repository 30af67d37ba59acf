// Package retrytest fakes what retry.Policy waits on, and API calls that fail before they answer.
package retrytest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/velero-openshift/plugins/common/retry"
)

// Clock is a test clock: sleeping advances it, and tests advance it by hand.
type Clock struct{ T time.Time }

// Policy returns the default retry policy on c's time.
func (c *Clock) Policy() retry.Policy {
	p := retry.Default()
	p.Now = func() time.Time { return c.T }
	p.Sleep = func(_ context.Context, d time.Duration) error {
		c.T = c.T.Add(d)
		return nil
	}
	return p
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// NewClock returns a Clock at a fixed time.
func NewClock() *Clock { return &Clock{T: time.Unix(1700000000, 0)} }

// FailFirst makes the first verb calls on resource fail with errs in turn, then lets the fake
// answer; it returns the number of such calls made so far.
func FailFirst(fake *k8stesting.Fake, verb, resource string, errs ...error) *int {
	calls := 0
	fake.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++
		if calls <= len(errs) {
			return true, nil, errs[calls-1]
		}
		return false, nil, nil
	})
	return &calls
}

// Logged returns the entries at level whose message, with its error field, contains every part.
func Logged(hook *logtest.Hook, level logrus.Level, parts ...string) []string {
	var out []string
	for _, e := range hook.AllEntries() {
		line := e.Message
		if err, ok := e.Data[logrus.ErrorKey]; ok {
			line += " " + fmt.Sprint(err)
		}
		match := e.Level == level
		for _, p := range parts {
			match = match && strings.Contains(line, p)
		}
		if match {
			out = append(out, line)
		}
	}
	return out
}

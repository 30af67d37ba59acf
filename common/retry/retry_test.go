package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/common/retry"
	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

var (
	refused     = &url.Error{Op: "Get", URL: "https://api:6443/version", Err: syscall.ECONNREFUSED}
	errDeadline = fmt.Errorf("list: %w", context.DeadlineExceeded)
	internal    = apierrors.NewInternalError(errors.New("etcd"))
)

func TestAgainRetriesQuickFailuresWithDoublingPausesButNotTimeouts(t *testing.T) {
	clk := retrytest.NewClock()
	p := clk.Policy()
	start := clk.T
	if !p.Again(context.Background(), 1, internal) || !p.Again(context.Background(), 2, refused) || p.Again(context.Background(), 3, internal) {
		t.Fatal("want two more tries after quick failures, then none")
	}
	if got := clk.T.Sub(start); got != 300*time.Millisecond {
		t.Fatalf("paused %s, want 100ms + 200ms", got)
	}
	if p.Again(context.Background(), 1, errDeadline) {
		t.Fatal("a timeout is retried at once")
	}
}

func TestCoolDownDoublesUpToItsCap(t *testing.T) {
	clk := retrytest.NewClock()
	p := clk.Policy()
	var c retry.CoolDown
	if c.Left(p) != 0 {
		t.Fatal("the zero CoolDown is cooling down")
	}
	var got []time.Duration
	for i := 0; i < 7; i++ {
		got = append(got, c.Start(p))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cool-downs %v, want %v", got, want)
	}
	clk.Advance(29 * time.Second)
	if c.Left(p) != time.Second {
		t.Fatalf("left %s, want 1s", c.Left(p))
	}
	clk.Advance(2 * time.Second)
	if c.Left(p) != 0 {
		t.Fatalf("left %s after the cool-down", c.Left(p))
	}
}

func TestClassification(t *testing.T) {
	for _, tt := range []struct {
		err               error
		slow, unreachable bool
	}{
		{errDeadline, true, true}, {refused, false, true}, {internal, false, false},
		{apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "list", 1), false, false},
	} {
		if retry.Slow(tt.err) != tt.slow || retry.Unreachable(tt.err) != tt.unreachable {
			t.Errorf("%v: slow %v unreachable %v, want %v %v", tt.err, retry.Slow(tt.err), retry.Unreachable(tt.err), tt.slow, tt.unreachable)
		}
	}
}

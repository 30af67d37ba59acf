package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

func testLoader(client *fake.Clientset) (*Loader, *logtest.Hook, *retrytest.Clock) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	l := NewLoader(func() (corev1client.ConfigMapsGetter, error) { return client.CoreV1(), nil }, log)
	clk := retrytest.NewClock()
	l.policy = clk.Policy()
	return l, hook, clk
}

func TestLoaderRetriesTransientReadFailureInsteadOfCachingIt(t *testing.T) {
	client := fake.NewSimpleClientset(configMap("cfg", pluginLabels, map[string]string{KeyPullSecretWait: "5s"}))
	calls := retrytest.FailFirst(&client.Fake, "list", "configmaps",
		&url.Error{Op: "Get", URL: "https://172.30.0.1:443/api/v1/namespaces/velero/configmaps", Err: syscall.ECONNREFUSED},
		apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "list", 1))
	l, hook, _ := testLoader(client)
	for item := 0; item < 3; item++ {
		c, err := l.Config(context.Background(), "velero")
		if err != nil || c.PullSecretWait != 5*time.Second {
			t.Fatalf("item %d: Config = %+v, %v; want the ConfigMap's 5s and no error", item, c, err)
		}
	}
	if *calls != 3 {
		t.Fatalf("%d list calls, want 3 (two failures, then one answer cached)", *calls)
	}
	if got := retrytest.Logged(hook, logrus.InfoLevel, "after 2 failed attempts", "could not be completed at this time"); len(got) != 1 {
		t.Fatalf("want one line saying what was retried, got %q (all: %d entries)", got, len(hook.AllEntries()))
	}
	if got := retrytest.Logged(hook, logrus.WarnLevel); len(got) != 0 {
		t.Fatalf("a failure retried away within the call must not warn: %q", got)
	}
}

func TestLoaderUnreadableConfigFailsFastDuringCoolDownThenIsReadAgain(t *testing.T) {
	client := fake.NewSimpleClientset(configMap("cfg", pluginLabels, map[string]string{KeyPullSecretWait: "5s"}))
	internal := apierrors.NewInternalError(errors.New("etcdserver: leader changed"))
	calls := retrytest.FailFirst(&client.Fake, "list", "configmaps", fmt.Errorf("client rate limiter: %w", context.DeadlineExceeded), internal, internal, internal)
	l, hook, clk := testLoader(client)
	ctx := context.Background()
	step := func(name string, advance time.Duration, wantCalls int, wantErr string) {
		t.Helper()
		clk.Advance(advance)
		c, err := l.Config(ctx, "velero")
		switch {
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("%s: error %v, want one containing %q", name, err, wantErr)
		case wantErr == "" && (err != nil || c.PullSecretWait != 5*time.Second):
			t.Fatalf("%s: Config = %+v, %v", name, c, err)
		case *calls != wantCalls:
			t.Fatalf("%s: %d list calls, want %d", name, *calls, wantCalls)
		}
	}
	// A client-side timeout is not retried at once: it would cost another timeout.
	step("timeout", 0, 1, "deadline exceeded")
	step("cooling down", 500*time.Millisecond, 1, "deadline exceeded")
	// After the cool-down, one call tries again: answered failures are retried within it.
	step("after cool-down", 600*time.Millisecond, 4, "leader changed")
	step("longer cool-down", time.Second, 4, "not read again")
	step("answered", 2*time.Second, 5, "")
	step("cached", time.Hour, 5, "")
	if got := retrytest.Logged(hook, logrus.WarnLevel, "unreadable", "deadline exceeded"); len(got) != 1 {
		t.Fatalf("want one warning when reads start failing, got %q", got)
	}
	if got := retrytest.Logged(hook, logrus.InfoLevel, "after 4 failed attempts", "leader changed"); len(got) != 1 {
		t.Fatalf("want one line saying what was retried, got %q", got)
	}
}

func TestLoaderBadValueFallsBackToDefaultForThatKeyOnly(t *testing.T) {
	client := fake.NewSimpleClientset(configMap("cfg", pluginLabels, map[string]string{
		KeyPullSecretWait: "soon", KeyImageStreamBackup: "true", KeyDisabledActions: "openshift.io/10-route-restore"}))
	l, hook, _ := testLoader(client)
	for item := 0; item < 3; item++ {
		c, err := l.Config(context.Background(), "velero")
		if err != nil {
			t.Fatalf("item %d: error %v; a bad value must not fail items", item, err)
		}
		if c.PullSecretWait != DefaultPullSecretWait || !c.ImageStreamBackup || !c.Disabled("openshift.io/10-route-restore") {
			t.Fatalf("Config = %+v; want pullSecretWait at its default and the other settings read", c)
		}
	}
	// Reported once per process (one backup or restore), as an error naming ConfigMap and key.
	if got := retrytest.Logged(hook, logrus.ErrorLevel, "configmap velero/cfg", KeyPullSecretWait, `"soon"`, "default"); len(got) != 1 || len(hook.AllEntries()) != 1 {
		t.Fatalf("want exactly one error naming the ConfigMap and key, got %q (all: %d entries)", got, len(hook.AllEntries()))
	}
}

func TestLoaderClientBuildFailureIsRetried(t *testing.T) {
	client := fake.NewSimpleClientset()
	builds := 0
	log, _ := logtest.NewNullLogger()
	l := NewLoader(func() (corev1client.ConfigMapsGetter, error) {
		if builds++; builds == 1 {
			return nil, errors.New("no kubeconfig yet")
		}
		return client.CoreV1(), nil
	}, log)
	l.policy = retrytest.NewClock().Policy()
	if c, err := l.Config(context.Background(), "velero"); err != nil || c.PullSecretWait != DefaultPullSecretWait {
		t.Fatalf("Config = %+v, %v; want the defaults once the client builds", c, err)
	}
}

// A disabledActions entry naming an action earlier versions registered, and this one does not,
// is a warning naming it and what replaced it, once per operation; current names are not warned
// about.
func TestLoaderWarnsAboutRetiredDisabledActions(t *testing.T) {
	client := fake.NewSimpleClientset(configMap("cfg", pluginLabels, map[string]string{
		KeyDisabledActions: "openshift.io/01-common-restore, openshift.io/10-route-restore,openshift.io/05-configmap-backup"}))
	l, hook, _ := testLoader(client)
	for item := 0; item < 3; item++ {
		c, err := l.Config(context.Background(), "velero")
		if err != nil || !c.Disabled("openshift.io/10-route-restore") {
			t.Fatalf("config %+v, err %v", c, err)
		}
	}
	warned := retrytest.Logged(hook, logrus.WarnLevel, "configmap velero/cfg", KeyDisabledActions, "no longer registers")
	if len(warned) != 2 {
		t.Fatalf("want one warning per retired name, got %q", warned)
	}
	for i, name := range []string{"openshift.io/01-common-restore", "openshift.io/05-configmap-backup"} {
		if !strings.Contains(warned[i], name) || !strings.Contains(warned[i], RetiredActions[name]) {
			t.Errorf("warning %q does not name %s and what replaced it", warned[i], name)
		}
	}
}

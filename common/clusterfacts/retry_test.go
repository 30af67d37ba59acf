package clusterfacts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	imagev1 "github.com/openshift/api/image/v1"
	configfake "github.com/openshift/client-go/config/clientset/versioned/fake"
	imagefake "github.com/openshift/client-go/image/clientset/versioned/fake"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/velero-openshift/plugins/common/retry"
	"github.com/velero-openshift/plugins/common/retry/retrytest"
)

const internalRegistry = "image-registry.openshift-image-registry.svc:5000"

var (
	imagesGR  = schema.GroupResource{Group: "config.openshift.io", Resource: "images"}
	imagesObj = &configv1.Image{ObjectMeta: metav1.ObjectMeta{Name: "cluster"},
		Status: configv1.ImageStatus{InternalRegistryHostname: internalRegistry}}
	ingressObj = &configv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Spec: configv1.IngressSpec{Domain: "apps.example.com"}}
)

// testProvider is a Provider over fixed clients, with a test clock and a log hook.
func testProvider(c Clients) (*Provider, *logtest.Hook, *retrytest.Clock) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	p := NewProvider(func() (Clients, error) { return c, nil }, log)
	clk := retrytest.NewClock()
	p.policy = clk.Policy()
	return p, hook, clk
}

func TestProviderRetriesFailedLookupInsteadOfCachingNone(t *testing.T) {
	cfg := configfake.NewSimpleClientset(imagesObj)
	calls := retrytest.FailFirst(&cfg.Fake, "get", "images",
		&url.Error{Op: "Get", URL: "https://api:6443/apis/config.openshift.io/v1/images/cluster", Err: syscall.ECONNREFUSED},
		apierrors.NewServerTimeout(imagesGR, "get", 1))
	p, hook, _ := testProvider(Clients{Kube: kube(version.Info{Major: "1", Minor: "30"}), Config: cfg})
	for item := 0; item < 3; item++ {
		f, unknown := p.Lookup(context.Background())
		if f.RegistryHostname != internalRegistry || !f.RegistryEnabled || len(unknown) != 0 {
			t.Fatalf("item %d: facts = %+v, unknown %v; want the registry that answered on the third call", item, f, unknown)
		}
	}
	if *calls != 3 {
		t.Fatalf("%d gets of images.config, want 3 (two failures, then one answer cached)", *calls)
	}
	if got := retrytest.Logged(hook, logrus.InfoLevel, "images.config.openshift.io/cluster answered after 2 failed attempts", "could not be completed"); len(got) != 1 {
		t.Fatalf("want one line saying what was retried, got %q", got)
	}
	if got := retrytest.Logged(hook, logrus.WarnLevel); len(got) != 0 {
		t.Fatalf("a failure retried away within the call must not warn: %q", got)
	}
}

func TestProviderReportsUnknownFactWithCauseAndLooksItUpAfterCoolDown(t *testing.T) {
	cfg := configfake.NewSimpleClientset(imagesObj, ingressObj)
	forbidden := apierrors.NewForbidden(imagesGR, "cluster", errors.New("RBAC: not yet bound"))
	calls := retrytest.FailFirst(&cfg.Fake, "get", "images", forbidden, forbidden, forbidden)
	p, hook, clk := testProvider(Clients{Kube: kube(version.Info{Major: "1", Minor: "30"}), Config: cfg})
	ctx := context.Background()

	f, unknown := p.Lookup(ctx)
	u, ok := unknown.Of(FactRegistryHostname)
	if f.RegistryHostname != "" || !ok || u.Lookup != "images.config.openshift.io/cluster" || !apierrors.IsForbidden(u.Err) {
		t.Fatalf("facts %+v, unknown %v; want registryHostname unknown because images.config is forbidden", f, unknown)
	}
	_, external := unknown.Of(FactRegistryExternalHostnames)
	if _, ok := unknown.Of(FactRegistryEnabled); !ok || !external || f.AppsDomain != "apps.example.com" || len(unknown) != 3 {
		t.Fatalf("unknown %v, facts %+v; want registryHostname, registryExternalHostnames and registryEnabled unknown, the rest known", unknown, f)
	}
	// During the cool-down the cached answer is returned without API calls.
	clk.Advance(500 * time.Millisecond)
	if _, unknown := p.Lookup(ctx); len(unknown) != 3 || *calls != 3 {
		t.Fatalf("cooling down: unknown %v after %d calls, want the same 3 after 3", unknown, *calls)
	}
	clk.Advance(600 * time.Millisecond)
	if f, unknown := p.Lookup(ctx); f.RegistryHostname != internalRegistry || !f.RegistryEnabled || len(unknown) != 0 {
		t.Fatalf("after cool-down: facts %+v, unknown %v", f, unknown)
	}
	gets := len(cfg.Actions())
	clk.Advance(time.Hour)
	if p.Lookup(ctx); len(cfg.Actions()) != gets {
		t.Fatalf("known facts were looked up again: %d -> %d calls", gets, len(cfg.Actions()))
	}
	if got := retrytest.Logged(hook, logrus.WarnLevel, "registryHostname unknown", "forbidden"); len(got) != 1 {
		t.Fatalf("want one warning naming the unknown fact and cause, got %q", got)
	}
	if got := retrytest.Logged(hook, logrus.InfoLevel, "answered after 3 failed attempts"); len(got) != 1 {
		t.Fatalf("want one line saying what was retried, got %q", got)
	}
}

func TestProviderStopsLookingUpWhenAPIUnreachable(t *testing.T) {
	cfg := configfake.NewSimpleClientset(clusterVersion("4.16.3", nil, nil), imagesObj, ingressObj)
	timeout := fmt.Errorf("Get \"https://api:6443/apis/config.openshift.io/v1/clusterversions/version\": %w", context.DeadlineExceeded)
	retrytest.FailFirst(&cfg.Fake, "get", "clusterversions", timeout)
	p, _, clk := testProvider(Clients{Kube: kube(version.Info{Major: "1", Minor: "30"}), Config: cfg})

	f, unknown := p.Lookup(context.Background())
	if len(cfg.Actions()) != 1 {
		t.Fatalf("%d config API calls after a client-side timeout, want 1 (the rest of the round not tried): %v", len(cfg.Actions()), cfg.Actions())
	}
	for _, fact := range []string{FactOpenShiftVersion, FactRegistryHostname, FactRegistryExternalHostnames, FactAppsDomain, FactRegistryEnabled} {
		if u, ok := unknown.Of(fact); !ok || !errors.Is(u.Err, context.DeadlineExceeded) {
			t.Fatalf("%s: unknown %v; want it unknown, caused by the timeout", fact, unknown)
		}
	}
	if f.KubeVersion != "1.30" {
		t.Fatalf("facts %+v: the version discovery answered is lost", f)
	}
	clk.Advance(time.Second)
	want := Facts{KubeVersion: "1.30", OpenShiftVersion: "4.16.3", RegistryHostname: internalRegistry, AppsDomain: "apps.example.com", RegistryEnabled: true}
	if f, unknown := p.Lookup(context.Background()); !reflect.DeepEqual(f, want) || len(unknown) != 0 {
		t.Fatalf("after cool-down: %+v, %v; want %+v", f, unknown, want)
	}
}

func TestProviderStopsLookingUpWhenAPIStillRefusesConnections(t *testing.T) {
	cfg := configfake.NewSimpleClientset(clusterVersion("4.16.3", nil, nil), imagesObj, ingressObj)
	refused := &url.Error{Op: "Get", URL: "https://api:6443/apis/config.openshift.io/v1/clusterversions/version", Err: syscall.ECONNREFUSED}
	retrytest.FailFirst(&cfg.Fake, "get", "clusterversions", refused, refused, refused)
	p, _, _ := testProvider(Clients{Kube: kube(version.Info{Major: "1", Minor: "30"}), Config: cfg})
	_, unknown := p.Lookup(context.Background())
	if len(cfg.Actions()) != retry.Default().Attempts {
		t.Fatalf("%d config API calls, want %d (the refused lookup's attempts, then the round ends)", len(cfg.Actions()), retry.Default().Attempts)
	}
	if u, ok := unknown.Of(FactAppsDomain); !ok || !errors.Is(u.Err, syscall.ECONNREFUSED) || !strings.Contains(u.Error(), "not tried") {
		t.Fatalf("unknown %v; want appsDomain not tried because the server refuses connections", unknown)
	}
}

func TestProviderRegistryFromFallbackWhileImagesConfigFails(t *testing.T) {
	cfg := configfake.NewSimpleClientset()
	retrytest.FailFirst(&cfg.Fake, "get", "images", apierrors.NewInternalError(errors.New("a")), apierrors.NewInternalError(errors.New("b")), apierrors.NewInternalError(errors.New("c")))
	stream := &imagev1.ImageStream{ObjectMeta: metav1.ObjectMeta{Namespace: "openshift", Name: "ruby"},
		Status: imagev1.ImageStreamStatus{DockerImageRepository: internalRegistry + "/openshift/ruby"}}
	p, _, _ := testProvider(Clients{Kube: kube(version.Info{Major: "1", Minor: "30"}), Config: cfg, Image: imagefake.NewSimpleClientset(stream)})
	f, unknown := p.Lookup(context.Background())
	// Only images.config knows the registry's external hostnames: they stay unknown (and looked up
	// again) while it fails.
	if _, ok := unknown.Of(FactRegistryExternalHostnames); f.RegistryHostname != internalRegistry || !f.RegistryEnabled || len(unknown) != 1 || !ok {
		t.Fatalf("facts %+v, unknown %v; an imagestream answers the registry host (first source that answers), the external hostnames unknown", f, unknown)
	}
}

func TestProviderClientBuildFailureIsRetried(t *testing.T) {
	builds := 0
	log, _ := logtest.NewNullLogger()
	p := NewProvider(func() (Clients, error) {
		if builds++; builds == 1 {
			return Clients{}, errors.New("no kubeconfig")
		}
		return Clients{Kube: kube(version.Info{Major: "1", Minor: "30"})}, nil
	}, log)
	clk := retrytest.NewClock()
	p.policy = clk.Policy()
	if _, unknown := p.Lookup(context.Background()); len(unknown) != 6 || !strings.Contains(unknown[0].Error(), "no kubeconfig") {
		t.Fatalf("unknown %v; want every fact unknown, naming the cause", unknown)
	}
	clk.Advance(time.Second)
	if f, unknown := p.Lookup(context.Background()); f.KubeVersion != "1.30" || len(unknown) != 0 {
		t.Fatalf("after cool-down: %+v, %v", f, unknown)
	}
}

func TestGetReportsUnknownsOnlyFromReporters(t *testing.T) {
	if f, u := Get(context.Background(), Static{KubeVersion: "1.30"}); f.KubeVersion != "1.30" || u != nil {
		t.Fatalf("Static: %+v, %v", f, u)
	}
	want := Unknowns{{Fact: FactAppsDomain, Lookup: "x", Err: errors.New("boom")}}
	if _, u := Get(context.Background(), Partial{Unknown: want}); len(u) != 1 || len(u.Without(FactAppsDomain)) != 0 {
		t.Fatalf("Partial: %v", u)
	}
}

package clusterfacts

import (
	"context"
	"io"
	"reflect"
	"testing"
	"time"

	configv1 "github.com/openshift/api/config/v1"
	imagev1 "github.com/openshift/api/image/v1"
	imageregistryv1 "github.com/openshift/api/imageregistry/v1"
	operatorv1 "github.com/openshift/api/operator/v1"
	configfake "github.com/openshift/client-go/config/clientset/versioned/fake"
	imagefake "github.com/openshift/client-go/image/clientset/versioned/fake"
	imageregistryfake "github.com/openshift/client-go/imageregistry/clientset/versioned/fake"
	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func kube(v version.Info, objs ...runtime.Object) *fake.Clientset {
	c := fake.NewSimpleClientset(objs...)
	c.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &v
	return c
}

func clusterVersion(v string, known, enabled []configv1.ClusterVersionCapability) *configv1.ClusterVersion {
	return &configv1.ClusterVersion{
		ObjectMeta: metav1.ObjectMeta{Name: "version"},
		Status: configv1.ClusterVersionStatus{
			Desired:      configv1.Release{Version: v},
			Capabilities: configv1.ClusterVersionCapabilitiesStatus{KnownCapabilities: known, EnabledCapabilities: enabled},
		},
	}
}

func TestDiscover(t *testing.T) {
	reg := configv1.ClusterVersionCapabilityImageRegistry
	images := &configv1.Image{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Status: configv1.ImageStatus{InternalRegistryHostname: "image-registry.openshift-image-registry.svc:5000",
		ExternalRegistryHostnames: []string{"default-route-openshift-image-registry.apps.example.com"}}}
	ingress := &configv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Spec: configv1.IngressSpec{Domain: "apps.example.com"}}
	removed := &imageregistryv1.Config{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Spec: imageregistryv1.ImageRegistrySpec{OperatorSpec: operatorv1.OperatorSpec{ManagementState: operatorv1.Removed}}}
	stream := &imagev1.ImageStream{ObjectMeta: metav1.ObjectMeta{Namespace: "openshift", Name: "ruby"}, Status: imagev1.ImageStreamStatus{DockerImageRepository: "172.30.1.1:5000/openshift/ruby"}}
	registrySvc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "docker-registry"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5000}}}}

	tests := []struct {
		name   string
		kube   *fake.Clientset
		config []runtime.Object
		image  []runtime.Object
		ireg   []runtime.Object
		want   Facts
	}{
		{"openshift 4", kube(version.Info{Major: "1", Minor: "29"}),
			[]runtime.Object{clusterVersion("4.16.3", []configv1.ClusterVersionCapability{reg}, []configv1.ClusterVersionCapability{reg}), images, ingress}, nil, nil,
			Facts{KubeVersion: "1.29", OpenShiftVersion: "4.16.3", RegistryHostname: "image-registry.openshift-image-registry.svc:5000", AppsDomain: "apps.example.com", RegistryEnabled: true,
				RegistryExternalHostnames: []string{"default-route-openshift-image-registry.apps.example.com"}}},
		{"registry capability disabled", kube(version.Info{Major: "1", Minor: "29"}),
			[]runtime.Object{clusterVersion("4.16.3", []configv1.ClusterVersionCapability{reg}, nil), images}, nil, nil,
			Facts{KubeVersion: "1.29", OpenShiftVersion: "4.16.3", RegistryHostname: "image-registry.openshift-image-registry.svc:5000",
				RegistryExternalHostnames: []string{"default-route-openshift-image-registry.apps.example.com"}}},
		{"registry removed", kube(version.Info{Major: "1", Minor: "29"}),
			[]runtime.Object{clusterVersion("4.16.3", nil, nil), images}, nil, []runtime.Object{removed},
			Facts{KubeVersion: "1.29", OpenShiftVersion: "4.16.3", RegistryHostname: "image-registry.openshift-image-registry.svc:5000",
				RegistryExternalHostnames: []string{"default-route-openshift-image-registry.apps.example.com"}}},
		{"3.x from imagestreams, 11+ minor", kube(version.Info{Major: "1", Minor: "11+"}),
			nil, []runtime.Object{stream}, nil,
			Facts{KubeVersion: "1.11", RegistryHostname: "172.30.1.1:5000", RegistryEnabled: true}},
		{"3.x from service, gitVersion only", kube(version.Info{GitVersion: "v1.11.0+d4cacc0"}, registrySvc),
			nil, nil, nil,
			Facts{KubeVersion: "1.11", RegistryHostname: "docker-registry.default.svc:5000", RegistryEnabled: true}},
		{"plain kubernetes", kube(version.Info{Major: "1", Minor: "32"}), nil, nil, nil, Facts{KubeVersion: "1.32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Clients{
				Kube:          tt.kube,
				Config:        configfake.NewSimpleClientset(tt.config...),
				Image:         imagefake.NewSimpleClientset(tt.image...),
				ImageRegistry: imageregistryfake.NewSimpleClientset(tt.ireg...),
			}
			if got := Discover(context.Background(), c, time.Second, quiet()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Discover = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

func TestProviderDiscoversOnce(t *testing.T) {
	calls := 0
	p := NewProvider(func() (Clients, error) {
		calls++
		return Clients{Kube: kube(version.Info{Major: "1", Minor: "30"})}, nil
	}, quiet())
	for i := 0; i < 3; i++ {
		if f := p.Facts(context.Background()); f.KubeVersion != "1.30" {
			t.Fatalf("facts = %+v", f)
		}
	}
	if calls != 1 {
		t.Fatalf("clients built %d times, want once", calls)
	}
}

func TestKubeMajorMinor(t *testing.T) {
	for _, tt := range []struct{ major, minor, git, want string }{
		{"1", "27", "", "1.27"}, {"1", "11+", "", "1.11"}, {"", "", "v1.32.13", "1.32"}, {"", "", "garbage", ""},
	} {
		if got := KubeMajorMinor(tt.major, tt.minor, tt.git); got != tt.want {
			t.Errorf("KubeMajorMinor(%q,%q,%q) = %q, want %q", tt.major, tt.minor, tt.git, got, tt.want)
		}
	}
}

// OpenShift generates route hosts on spec.appsDomain when it is set, else on spec.domain: the
// apps domain fact is the one hosts are generated on.
func TestAppsDomainIsWhereRouteHostsAreGenerated(t *testing.T) {
	for _, tt := range []struct{ domain, appsDomain, want string }{
		{"apps.example.com", "", "apps.example.com"},
		{"apps.example.com", "shop.example.com", "shop.example.com"},
	} {
		ingress := &configv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "cluster"}, Spec: configv1.IngressSpec{Domain: tt.domain, AppsDomain: tt.appsDomain}}
		c := Clients{Kube: kube(version.Info{Major: "1", Minor: "29"}), Config: configfake.NewSimpleClientset(ingress)}
		if got := Discover(context.Background(), c, time.Second, quiet()).AppsDomain; got != tt.want {
			t.Errorf("domain %q, appsDomain %q: AppsDomain = %q, want %q", tt.domain, tt.appsDomain, got, tt.want)
		}
	}
}

//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Env is the stack's env file (KEY=value lines written by `hack/stack.sh up`).
type Env map[string]string

// Get returns a required key or fails the test.
func (e Env) Get(t testing.TB, key string) string {
	t.Helper()
	v, ok := e[key]
	if !ok || v == "" {
		t.Fatalf("stack env file has no %s", key)
	}
	return v
}

func envPath() string {
	if p := os.Getenv("E2E_ENV"); p != "" {
		return p
	}
	return filepath.Join("..", "..", ".e2e", "env") // go test runs in the package directory
}

// loadEnv reads the stack's env file. A missing stack is a failure, never a silent skip.
func loadEnv(t testing.TB) Env {
	t.Helper()
	p := envPath()
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("the end-to-end stack is not up (%v): run hack/stack.sh up, or hack/e2e.sh", err)
	}
	defer f.Close()
	env := Env{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(s.Text(), "export "))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: malformed line %q", p, line)
		}
		env[k] = strings.Trim(v, `'"`)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// Cluster is one of the stack's clusters, as the test sees it.
type Cluster struct {
	Name       string // "a" or "b"
	Registry   string // internal registry host:port (images.config.openshift.io/cluster)
	AppsDomain string
	Kubeconfig string
	LogFile    string // this cluster's Velero server log
	Config     *rest.Config
	Kube       kubernetes.Interface
	Dynamic    dynamic.Interface

	// RegistryCA is the registry's CA (PEM file), RegistryCredentials a file holding the tests'
	// "user:password" for it: HTTPS and authentication are required, as on OpenShift.
	RegistryCA, RegistryCredentials string

	// EtcdURL is the stack's etcd (shared by both clusters), EtcdPrefix this cluster's key prefix
	// in it (kube-apiserver's --etcd-prefix): where createLegacy writes what the API refuses.
	EtcdURL, EtcdPrefix string
}

func newCluster(t testing.TB, env Env, name string) *Cluster {
	t.Helper()
	up := strings.ToUpper(name)
	c := &Cluster{
		Name:       name,
		Registry:   env.Get(t, "REGISTRY_"+up),
		AppsDomain: env.Get(t, "APPS_DOMAIN_"+up),
		Kubeconfig: env.Get(t, "KUBECONFIG_"+up),
		LogFile:    filepath.Join(env.Get(t, "LOG_DIR"), "velero-"+name+".log"),
	}
	c.RegistryCA, c.RegistryCredentials = env.Get(t, "REGISTRY_CA_"+up), env.Get(t, "REGISTRY_CREDENTIALS_"+up)
	c.EtcdURL, c.EtcdPrefix = env.Get(t, "ETCD_URL"), env.Get(t, "ETCD_PREFIX_"+up)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("cluster %s: %v", name, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	c.Config = cfg
	cl, err := kubeFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Kube, c.Dynamic = cl.kube, cl.dyn
	return c
}

type clients struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func kubeFor(cfg *rest.Config) (clients, error) {
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	d, err := dynamic.NewForConfig(cfg)
	return clients{kube: k, dyn: d}, err
}

func (c *Cluster) String() string { return fmt.Sprintf("cluster %s", c.Name) }

// tailFile returns the last n lines of a file (for failure diagnostics).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

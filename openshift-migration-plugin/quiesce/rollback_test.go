package quiesce

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	k8stesting "k8s.io/client-go/testing"
)

// in moves obj to namespace ns and renames it.
func in(ns, name string, obj *unstructured.Unstructured) *unstructured.Unstructured {
	obj.SetNamespace(ns)
	obj.SetName(name)
	return obj
}

// rollbackCluster is a source after a quiesce: quiesced workloads of several kinds in a and b,
// one workload never quiesced, and a quiesced one in a namespace not rolled back.
func rollbackCluster() (objs, want []*unstructured.Unstructured) {
	pairs := []struct{ quiesced, restored *unstructured.Unstructured }{
		{in("a", "dc", wl("DeploymentConfig", map[string]any{"replicas": int64(0), "paused": false}, recReplicas, "2", recPaused, "true")),
			in("a", "dc", wl("DeploymentConfig", map[string]any{"replicas": int64(2), "paused": true}))},
		{in("a", "web", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3", recPaused, "false")),
			in("a", "web", wl("Deployment", map[string]any{"replicas": int64(3)}))},
		{in("a", "db", wl("StatefulSet", map[string]any{"replicas": int64(0)}, recReplicas, "1")),
			in("a", "db", wl("StatefulSet", map[string]any{"replicas": int64(1)}))},
		{in("b", "agent", ds(map[string]any{"role": "x", dsKey: "true"}, recSelector, `{"role":"x"}`)),
			in("b", "agent", ds(map[string]any{"role": "x"}))},
		{in("b", "nightly", wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true")),
			in("b", "nightly", wl("CronJob", map[string]any{"suspend": false}))},
		{in("b", "batch", wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "2")),
			in("b", "batch", wl("Job", map[string]any{"parallelism": int64(2)}))},
		{in("b", "rs", wl("ReplicaSet", map[string]any{"replicas": int64(0)}, recReplicas, "2")),
			in("b", "rs", wl("ReplicaSet", map[string]any{"replicas": int64(2)}))},
		// Never quiesced, and quiesced in a namespace not named: both untouched.
		{in("a", "idle", wl("Deployment", map[string]any{"replicas": int64(0)})), nil},
		{in("c", "web", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3")), nil},
	}
	for _, p := range pairs {
		objs = append(objs, p.quiesced)
		if p.restored == nil {
			p.restored = p.quiesced
		}
		want = append(want, p.restored)
	}
	return objs, want
}

func TestRollback(t *testing.T) {
	objs, want := rollbackCluster()
	c := cluster(objs...)
	var out bytes.Buffer
	if err := Rollback(context.Background(), c, []string{"a", "b", "a"}, false, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for i, w := range want {
		if got := live(t, c, objs[i]); !reflect.DeepEqual(got.Object, w.Object) {
			t.Errorf("%s\ngot  %v\nwant %v", objs[i].GetName(), got.Object, w.Object)
		}
	}
	text := out.String()
	for _, line := range []string{
		"unquiesced DeploymentConfig a/dc: spec.replicas 0 -> 2; spec.paused false -> true; removed ",
		"unquiesced Deployment a/web: spec.replicas 0 -> 3",
		"unquiesced StatefulSet a/db:", "unquiesced DaemonSet b/agent: spec.template.spec.nodeSelector -> {role=x}",
		"unquiesced CronJob b/nightly: spec.suspend true -> false", "unquiesced Job b/batch: spec.parallelism 0 -> 2",
		"unquiesced ReplicaSet b/rs:", "7 workload(s) unquiesced, 0 failed",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("output lacks %q:\n%s", line, text)
		}
	}
	if strings.Contains(text, "idle") || strings.Contains(text, "c/web") {
		t.Errorf("output names an untouched workload:\n%s", text)
	}
}

func TestRollbackDryRunWritesNothing(t *testing.T) {
	objs, _ := rollbackCluster()
	c := cluster(objs...)
	var out bytes.Buffer
	if err := Rollback(context.Background(), c, []string{"a", "b"}, true, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range verbs(c) {
		if v != "list" {
			t.Fatalf("dry run made a %s call", v)
		}
	}
	for _, o := range objs {
		if got := live(t, c, o); !reflect.DeepEqual(got.Object, o.Object) {
			t.Errorf("%s changed: %v", o.GetName(), got.Object)
		}
	}
	if text := out.String(); !strings.Contains(text, "would unquiesce Deployment a/web: spec.replicas 0 -> 3") ||
		!strings.Contains(text, "7 workload(s) would be unquiesced") {
		t.Fatalf("output:\n%s", text)
	}
}

func TestRollbackFailuresAndServedVersions(t *testing.T) {
	objs := []*unstructured.Unstructured{
		in("a", "web", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3")),
		in("a", "db", wl("StatefulSet", map[string]any{"replicas": int64(0)}, recReplicas, "1")),
		in("a", "bad", wl("Job", map[string]any{"parallelism": int64(0)}, recReplicas, "lots")),
		in("a", "old", wl("CronJob", map[string]any{"suspend": true}, recSuspend, "true")),
	}
	objs[3].SetAPIVersion("batch/v1beta1") // a cluster before Kubernetes 1.21
	c := cluster(objs...)
	c.PrependReactor("update", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("no"))
	})
	notServed := func(a k8stesting.Action) (bool, runtime.Object, error) {
		if r := a.GetResource(); r.Resource == "deploymentconfigs" || (r.Resource == "cronjobs" && r.Version == "v1") {
			return true, nil, apierrors.NewNotFound(r.GroupResource(), "")
		}
		return false, nil, nil
	}
	c.PrependReactor("list", "*", notServed)
	var out bytes.Buffer
	err := Rollback(context.Background(), c, []string{"a"}, false, &out)
	if err == nil || !strings.Contains(err.Error(), "2 failure(s)") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	text := out.String()
	for _, line := range []string{"FAILED Deployment a/web: ", "forbidden", "FAILED Job a/bad: " + annotationField(recReplicas),
		"unquiesced StatefulSet a/db", "unquiesced CronJob a/old", "2 workload(s) unquiesced, 2 failed"} {
		if !strings.Contains(text, line) {
			t.Errorf("output lacks %q:\n%s", line, text)
		}
	}
	if got := live(t, c, objs[1]); got.GetAnnotations()[recReplicas] != "" {
		t.Errorf("StatefulSet not unquiesced after another workload failed: %v", got.Object)
	}
}

func TestRollbackCommand(t *testing.T) {
	quiesced := in("a", "web", wl("Deployment", map[string]any{"replicas": int64(0)}, recReplicas, "3"))
	tests := []struct {
		name       string
		args       []string
		connectErr error
		failUpdate bool
		wantCode   int
		wantOut    string
		wantErr    string
		wantWrites bool
		wantConfig string
	}{
		{"no namespace", nil, nil, false, 2, "", "--namespace is required", false, ""},
		{"empty namespace", []string{"--namespace", " "}, nil, false, 2, "", "--namespace is required", false, ""},
		{"unknown flag", []string{"-n", "a", "--force"}, nil, false, 2, "", "unknown flag: --force", false, ""},
		{"flag without its value", []string{"--namespace"}, nil, false, 2, "", "flag needs an argument", false, ""},
		{"stray argument", []string{"-n", "a", "now"}, nil, false, 2, "", `unexpected argument "now"`, false, ""},
		{"help", []string{"--help"}, nil, false, 0, "", "--dry-run", false, ""},
		{"unquiesces", []string{"--namespace", "a", "--kubeconfig", "/k"}, nil, false, 0, "unquiesced Deployment a/web", "", true, "/k"},
		{"dry run", []string{"-n", "a,b", "--dry-run"}, nil, false, 0, "would unquiesce Deployment a/web", "", false, ""},
		{"no cluster", []string{"-n", "a"}, errors.New("no cluster configuration"), false, 1, "", "no cluster configuration", false, ""},
		{"a workload fails", []string{"-n", "a"}, nil, true, 1, "FAILED Deployment a/web", "1 failure(s)", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(quiesced)
			if tt.failUpdate {
				c.PrependReactor("update", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("apiserver down")
				})
			}
			var stdout, stderr bytes.Buffer
			config := "(not connected)"
			cmd := rollbackCommand(&stdout, &stderr, func(kubeconfig string) (dynamic.Interface, error) {
				config = kubeconfig
				if tt.connectErr != nil {
					return nil, tt.connectErr
				}
				return c, nil
			})
			if cmd.Name != "unquiesce" || !strings.Contains(cmd.Usage, "--namespace") {
				t.Fatalf("command = %+v", cmd)
			}
			code := cmd.Run(tt.args)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if tt.wantCode == 2 && config != "(not connected)" {
				t.Fatal("a usage error connected to a cluster")
			}
			if tt.wantConfig != "" && config != tt.wantConfig {
				t.Fatalf("kubeconfig = %q", config)
			}
			wrote := false
			for _, v := range verbs(c) {
				wrote = wrote || v == "update"
			}
			if wrote != tt.wantWrites && !tt.failUpdate {
				t.Fatalf("API calls %v; writes wanted: %v", verbs(c), tt.wantWrites)
			}
		})
	}
}

func TestDynamicClientFromKubeconfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	config := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := dynamicClient(path); err != nil || c == nil {
		t.Fatalf("dynamicClient(%s) = %v, %v", path, c, err)
	}
	if _, err := dynamicClient(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing kubeconfig file gave a client")
	}
}

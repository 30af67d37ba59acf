package config

import (
	"context"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/keys"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		data    map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", nil, func(c Config) bool { return c.PullSecretWait == DefaultPullSecretWait && len(c.DisabledActions) == 0 }, ""},
		{"disabled list", map[string]string{KeyDisabledActions: "openshift.io/10-route-restore, openshift.io/03-pod-restore\nopenshift.io/12-secret-restore"},
			func(c Config) bool {
				return c.Disabled("openshift.io/10-route-restore") && c.Disabled("openshift.io/03-pod-restore") && c.Disabled("openshift.io/12-secret-restore") && !c.Disabled("openshift.io/01-common-restore")
			}, ""},
		{"hostnames", map[string]string{KeyBackupRegistryHostname: " reg.a:5000 ", KeyRestoreRegistryHostname: "reg.b"},
			func(c Config) bool {
				return c.BackupRegistryHostname == "reg.a:5000" && c.RestoreRegistryHostname == "reg.b"
			}, ""},
		{"wait duration", map[string]string{KeyPullSecretWait: "2m"}, func(c Config) bool { return c.PullSecretWait == 2*time.Minute }, ""},
		{"wait seconds", map[string]string{KeyPullSecretWait: "45"}, func(c Config) bool { return c.PullSecretWait == 45*time.Second }, ""},
		{"wait zero", map[string]string{KeyPullSecretWait: "0"}, func(c Config) bool { return c.PullSecretWait == 0 }, ""},
		{"image stream backup", map[string]string{KeyImageStreamBackup: "true"}, func(c Config) bool { return c.ImageStreamBackup }, ""},
		{"bad image stream backup", map[string]string{KeyImageStreamBackup: "yes please"}, nil, KeyImageStreamBackup},
		{"registry TLS verified by default", map[string]string{}, func(c Config) bool { return !c.ImageRegistryInsecureSkipTLSVerify }, ""},
		{"registry TLS verification off", map[string]string{KeyImageRegistryInsecureSkipTLSVerify: " true "}, func(c Config) bool { return c.ImageRegistryInsecureSkipTLSVerify }, ""},
		{"bad registry TLS switch", map[string]string{KeyImageRegistryInsecureSkipTLSVerify: "sometimes"}, nil, KeyImageRegistryInsecureSkipTLSVerify},
		{"migration registry TLS verified by default", map[string]string{}, func(c Config) bool { return !c.MigrationRegistryInsecureSkipTLSVerify }, ""},
		{"migration registry TLS verification off", map[string]string{KeyMigrationRegistryInsecureSkipTLSVerify: "True"}, func(c Config) bool {
			return c.MigrationRegistryInsecureSkipTLSVerify && !c.ImageRegistryInsecureSkipTLSVerify
		}, ""},
		{"bad migration registry TLS switch", map[string]string{KeyMigrationRegistryInsecureSkipTLSVerify: "maybe"}, nil, KeyMigrationRegistryInsecureSkipTLSVerify},
		{"bad wait", map[string]string{KeyPullSecretWait: "soon"}, nil, KeyPullSecretWait},
		{"bad values each named", map[string]string{KeyPullSecretWait: "soon", KeyImageStreamBackup: "ja"}, nil, KeyImageStreamBackup},
		{"negative wait", map[string]string{KeyPullSecretWait: "-5s"}, nil, KeyPullSecretWait},
		{"image copy bounds: the engine's by default", nil, func(c Config) bool { return c.ImageCopyTimeout == 0 && c.ImageCopyIdleTimeout == 0 }, ""},
		{"image copy bounds", map[string]string{KeyImageCopyTimeout: "1h30m", KeyImageCopyIdleTimeout: " 90 "}, func(c Config) bool {
			return c.ImageCopyTimeout == 90*time.Minute && c.ImageCopyIdleTimeout == 90*time.Second
		}, ""},
		{"bad image copy timeout", map[string]string{KeyImageCopyTimeout: "a while"}, nil, KeyImageCopyTimeout},
		{"zero image copy timeout: every copy is bounded", map[string]string{KeyImageCopyTimeout: "0"}, nil, KeyImageCopyTimeout},
		{"negative image copy idle timeout", map[string]string{KeyImageCopyIdleTimeout: "-2m"}, nil, KeyImageCopyIdleTimeout},
		{"zero image copy idle timeout", map[string]string{KeyImageCopyIdleTimeout: "0s"}, nil, KeyImageCopyIdleTimeout},
		{"image sweep grace", map[string]string{KeyImageSweepGrace: "10m"}, func(c Config) bool { return c.ImageSweepGrace == 10*time.Minute }, ""},
		{"zero image sweep grace", map[string]string{KeyImageSweepGrace: "0"}, nil, KeyImageSweepGrace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tt.wantErr)
				}
				// Every key of these rows is bad: each keeps its default, and the Config is usable.
				if !reflect.DeepEqual(c, Default()) {
					t.Fatalf("Parse(%v) = %+v; want the defaults for the bad keys", tt.data, c)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("Parse(%v) = %+v, %v", tt.data, c, err)
			}
		})
	}
}

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func configMap(name string, labels map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: name, Labels: labels}, Data: data}
}

var pluginLabels = map[string]string{keys.VeleroPluginConfigLabel: "", keys.PluginConfigLabel: "config"}

func TestLoader(t *testing.T) {
	tests := []struct {
		name    string
		objects []*corev1.ConfigMap
		wait    time.Duration
		wantErr string
	}{
		{"none", nil, DefaultPullSecretWait, ""},
		{"one", []*corev1.ConfigMap{configMap("cfg", pluginLabels, map[string]string{KeyPullSecretWait: "5s"})}, 5 * time.Second, ""},
		{"unlabelled ignored", []*corev1.ConfigMap{configMap("other", map[string]string{keys.VeleroPluginConfigLabel: ""}, map[string]string{KeyPullSecretWait: "5s"})}, DefaultPullSecretWait, ""},
		{"two", []*corev1.ConfigMap{configMap("a", pluginLabels, nil), configMap("b", pluginLabels, nil)}, 0, "more than one"},
		{"bad value keeps that default", []*corev1.ConfigMap{configMap("cfg", pluginLabels, map[string]string{KeyPullSecretWait: "x"})}, DefaultPullSecretWait, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewSimpleClientset()
			for _, cm := range tt.objects {
				if _, err := client.CoreV1().ConfigMaps("velero").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			l := NewLoader(func() (corev1client.ConfigMapsGetter, error) { return client.CoreV1(), nil }, quiet())
			c, err := l.Config(context.Background(), "velero")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || c.PullSecretWait != tt.wait {
				t.Fatalf("Config = %+v, %v; want wait %v", c, err, tt.wait)
			}
			// Cached, an answer (even two ConfigMaps) as much as a configuration: one List call
			// per namespace for the life of the process.
			if _, err2 := l.Config(context.Background(), "velero"); (err2 == nil) != (err == nil) {
				t.Fatalf("second call error %v, first %v", err2, err)
			}
			lists := 0
			for _, a := range client.Actions() {
				if a.GetVerb() == "list" {
					lists++
				}
			}
			if lists != 1 {
				t.Fatalf("%d list calls, want 1", lists)
			}
		})
	}
}

// The plugin finds Velero's namespace as Velero's deployment passes it, else from its pod.
func TestVeleroNamespace(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/namespace"
	saved := serviceAccountNamespaceFile
	t.Cleanup(func() { serviceAccountNamespaceFile = saved })
	serviceAccountNamespaceFile = file
	t.Setenv(VeleroNamespaceEnv, "")
	if ns := VeleroNamespace(); ns != "" {
		t.Fatalf("no env, no file: %q, want none", ns)
	}
	if err := os.WriteFile(file, []byte("openshift-adp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ns := VeleroNamespace(); ns != "openshift-adp" {
		t.Fatalf("from the pod: %q", ns)
	}
	t.Setenv(VeleroNamespaceEnv, "velero")
	if ns := VeleroNamespace(); ns != "velero" {
		t.Fatalf("from the environment: %q", ns)
	}
}

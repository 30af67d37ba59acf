package imagestream

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
)

// failingConfig is a plugin config that cannot be read.
type failingConfig struct{}

func (failingConfig) Config(context.Context, string) (config.Config, error) {
	return config.Config{}, errors.New("configmaps is forbidden")
}

// With image backup known to be off, Velero makes no call per image stream at backup (the call
// could only hand the stream back); whenever it may be on, or that cannot be told, the streams
// are selected and Execute decides per stream as before.
func TestBackupAppliesToOnlyWhenImagesMayBeCopied(t *testing.T) {
	on := config.Default()
	on.ImageStreamBackup = true
	for _, tt := range []struct {
		name      string
		env       bool
		namespace string
		cfg       config.Source
		selected  bool
	}{
		{name: "off in config and environment", namespace: "velero", cfg: config.Static(config.Default()), selected: false},
		{name: "on in the plugin config", namespace: "velero", cfg: config.Static(on), selected: true},
		{name: "on in the environment", env: true, namespace: "velero", cfg: config.Static(config.Default()), selected: true},
		{name: "Velero's namespace unknown", namespace: "", cfg: config.Static(config.Default()), selected: true},
		{name: "config unreadable", namespace: "velero", cfg: failingConfig{}, selected: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			env.Config = tt.cfg
			b := NewBackup(env)
			b.Enabled = func() bool { return tt.env }
			b.VeleroNamespace = func() string { return tt.namespace }
			sel, err := b.AppliesTo()
			if err != nil {
				t.Fatal(err)
			}
			want := velero.ResourceSelector{IncludedResources: []string{Resource}}
			if !tt.selected {
				want.ExcludedResources = []string{Resource}
			}
			if !reflect.DeepEqual(sel, want) {
				t.Fatalf("AppliesTo = %+v, want %+v", sel, want)
			}
		})
	}
}

package action_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/action/actiontest"
	"github.com/velero-openshift/plugins/common/config"
)

type restoreFunc func(*velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error)

func (f restoreFunc) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("pods"), nil
}
func (f restoreFunc) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	return f(in)
}

type backupFunc func(runtime.Unstructured) error

func (f backupFunc) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources("pods"), nil
}
func (f backupFunc) Execute(item runtime.Unstructured, _ *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	return item, nil, f(item)
}

type failingConfig struct{}

func (failingConfig) Config(context.Context, string) (config.Config, error) {
	return config.Config{}, errors.New("configmap velero/cfg: pullSecretWait: bad")
}

func TestGuardRestore(t *testing.T) {
	pod := func() *unstructured.Unstructured { return actiontest.Object("v1", "Pod", "app", "web", nil) }
	tests := []struct {
		name     string
		fn       restoreFunc
		cfg      config.Source
		wantErr  []string
		wantSkip bool
	}{
		{"panic becomes named error", func(*velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			panic("boom")
		}, nil, []string{"test/act", "Pod app/web", "recovered panic"}, false},
		{"error names action and object", func(*velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			return nil, errors.New("spec.x: bad")
		}, nil, []string{"test/act: Pod app/web: spec.x: bad"}, false},
		{"nil output keeps item", func(*velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			return nil, nil
		}, nil, nil, false},
		{"disabled is pass-through", func(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			return action.Skip(in.Item), nil
		}, config.Static(config.Config{DisabledActions: map[string]bool{"test/act": true}}), nil, false},
		{"config error is reported", func(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			return action.Keep(in.Item), nil
		}, failingConfig{}, []string{"test/act", "pullSecretWait"}, false},
		{"skip is passed on", func(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
			return action.Skip(in.Item), nil
		}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := actiontest.Env()
			if tt.cfg != nil {
				env.Config = tt.cfg
			}
			out, err := actiontest.RunRestore(t, actiontest.Registration("test/act", action.KindRestore, tt.fn), env, pod(), actiontest.Restore(nil))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil || out == nil || out.UpdatedItem == nil || out.SkipRestore != tt.wantSkip {
				t.Fatalf("out = %+v, err = %v", out, err)
			}
		})
	}
}

func TestGuardBackupRecoversPanicOnMalformedItem(t *testing.T) {
	reg := actiontest.Registration("test/backup", action.KindBackup, backupFunc(func(item runtime.Unstructured) error {
		_ = item.UnstructuredContent()["spec"].(map[string]any) // panics: spec is a string
		return nil
	}))
	item := actiontest.Object("v1", "Pod", "app", "web", map[string]any{"spec": "oops"})
	_, _, err := actiontest.RunBackup(t, reg, actiontest.Env(), item, actiontest.Backup())
	actiontest.ErrorNames(t, err, "recovered panic", "Pod app/web")
}

func TestWrapRejectsWrongKind(t *testing.T) {
	_, err := action.Wrap(actiontest.Registration("test/x", action.KindBackup, restoreFunc(nil)), actiontest.Env())
	if err == nil || !strings.Contains(err.Error(), "not a backup action") {
		t.Fatalf("err = %v", err)
	}
}

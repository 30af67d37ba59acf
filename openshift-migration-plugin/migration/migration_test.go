package migration

import (
	"reflect"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func meta(labels, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: "m", Namespace: "velero", Labels: labels, Annotations: annotations}
}

func TestOf(t *testing.T) {
	partOf := map[string]string{PartOfLabel: PartOfValue}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        Info
	}{
		{"not labelled: not a migration, whatever else it carries", map[string]string{StageRestoreLabel: "u"},
			map[string]string{TypeAnnotation: "stage", RegistryAnnotation: "r:5000"}, Info{}},
		{"wrong part-of value", map[string]string{PartOfLabel: "something-else"}, nil, Info{}},
		{"stage backup", with(partOf, StageBackupLabel, "mig-1", MigratedByMigrationLabel, "mig-1", MigratedByPlanLabel, "plan-1"),
			map[string]string{TypeAnnotation: "stage", RegistryAnnotation: " reg-a:5000 "},
			Info{Migration: true, Type: TypeStage, Phase: PhaseStageBackup, MigrationUID: "mig-1", Registry: "reg-a:5000",
				MigratedBy: map[string]string{MigratedByMigrationLabel: "mig-1", MigratedByPlanLabel: "plan-1"}}},
		{"final restore, legacy type spelling", with(partOf, FinalRestoreLabel, "mig-2"), map[string]string{LegacyTypeAnnotation: "Final"},
			Info{Migration: true, Type: TypeFinal, Phase: PhaseFinalRestore, MigrationUID: "mig-2"}},
		{"new type spelling wins over legacy", with(partOf, StageRestoreLabel, "mig-3"),
			map[string]string{TypeAnnotation: "final", LegacyTypeAnnotation: "stage", StagePodImageAnnotation: "img:1"},
			Info{Migration: true, Type: TypeFinal, Phase: PhaseStageRestore, MigrationUID: "mig-3", StagePodImage: "img:1"}},
		{"unknown type value falls back to legacy", with(partOf, InitialBackupLabel, "mig-4"),
			map[string]string{TypeAnnotation: "bogus", LegacyTypeAnnotation: "stage", QuiesceAnnotation: "true", DisableImageCopyAnnotation: "True"},
			Info{Migration: true, Type: TypeStage, Phase: PhaseInitialBackup, MigrationUID: "mig-4", Quiesce: true, DisableImageCopy: true}},
		{"no phase, no type", partOf, map[string]string{QuiesceAnnotation: "no"}, Info{Migration: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &velerov1.Backup{ObjectMeta: meta(tt.labels, tt.annotations)}
			if got := OfBackup(b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OfBackup = %+v, want %+v", got, tt.want)
			}
			r := &velerov1.Restore{ObjectMeta: meta(tt.labels, tt.annotations)}
			if got := OfRestore(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OfRestore = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := OfBackup(nil); got.Migration {
		t.Errorf("OfBackup(nil) = %+v", got)
	}
	if got := OfRestore(nil); got.Migration {
		t.Errorf("OfRestore(nil) = %+v", got)
	}
}

func TestVolumeOf(t *testing.T) {
	tests := []struct {
		annotations map[string]string
		want        Volume
	}{
		{nil, Volume{}},
		{map[string]string{MigrateTypeAnnotation: "Copy", TargetStorageClassAnnotation: "", CopyMethodAnnotation: "snapshot", TargetAccessModeAnnotation: "ReadWriteMany"},
			Volume{Action: ActionCopy, HasTargetStorageClass: true, CopyMethod: CopySnapshot, TargetAccessMode: "ReadWriteMany"}},
		{map[string]string{MigrateTypeAnnotation: "move"}, Volume{Action: ActionMove}},
		{map[string]string{MigrateTypeAnnotation: "copy", TargetStorageClassAnnotation: "gp3"}, Volume{Action: ActionCopy, TargetStorageClass: "gp3", HasTargetStorageClass: true}},
	}
	for _, tt := range tests {
		if got := VolumeOf(tt.annotations); got != tt.want {
			t.Errorf("VolumeOf(%v) = %+v, want %+v", tt.annotations, got, tt.want)
		}
	}
}

// TestSkipsSnapshotCopy is the whole truth table of SPEC §6's snapshot-skip rule: skipped only
// when the Restore is of type stage, carries the stage-restore phase label, and the volume is a
// copy by snapshot.
func TestSkipsSnapshotCopy(t *testing.T) {
	types := []Type{TypeNone, TypeStage, TypeFinal}
	phases := []Phase{PhaseNone, PhaseInitialBackup, PhaseStageBackup, PhaseStageRestore, PhaseFinalRestore}
	actions := []string{"", ActionCopy, ActionMove}
	methods := []string{"", CopyFilesystem, CopySnapshot, CopyBlock}
	skipped := 0
	for _, migration := range []bool{false, true} {
		for _, ty := range types {
			for _, ph := range phases {
				for _, act := range actions {
					for _, m := range methods {
						info := Info{Migration: migration, Type: ty, Phase: ph}
						want := migration && ty == TypeStage && ph == PhaseStageRestore && act == ActionCopy && m == CopySnapshot
						got := SkipsSnapshotCopy(info, Volume{Action: act, CopyMethod: m})
						if got != want {
							t.Errorf("SkipsSnapshotCopy(%+v, %s/%s) = %v, want %v", info, act, m, got, want)
						}
						if got {
							skipped++
						}
					}
				}
			}
		}
	}
	if skipped != 1 {
		t.Errorf("%d combinations skipped, want exactly 1", skipped)
	}
	// From real objects: a final migration's stage restore restores snapshot copies.
	restore := func(typ string) Info {
		return OfRestore(&velerov1.Restore{ObjectMeta: meta(
			map[string]string{PartOfLabel: PartOfValue, StageRestoreLabel: "u"}, map[string]string{TypeAnnotation: typ})})
	}
	v := VolumeOf(map[string]string{MigrateTypeAnnotation: "copy", CopyMethodAnnotation: "snapshot"})
	if !SkipsSnapshotCopy(restore("stage"), v) {
		t.Error("a stage migration's stage restore must skip a snapshot copy")
	}
	if SkipsSnapshotCopy(restore("final"), v) {
		t.Error("a final migration's stage restore must restore a snapshot copy")
	}
}

func TestName(t *testing.T) {
	if got := Name("01-quiesce-backup"); got != "migration.openshift.io/01-quiesce-backup" {
		t.Errorf("Name = %q", got)
	}
}

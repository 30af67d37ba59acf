// Package migration is the one place that answers "is this a migration, of which type, in which
// phase" from a Backup or Restore, and spells every key a migration controller (MTC's
// mig-controller) puts on Backups, Restores, PVs, PVCs, pods and workloads (SPEC §6). Every
// migration action reads these facts through it; general code never imports it.
package migration

import (
	"strconv"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamePrefix is the prefix of every migration action's registered name.
const NamePrefix = "migration.openshift.io/"

// Name returns the registered name of a migration action: migration.openshift.io/<NN>-<name>.
func Name(numberedName string) string { return NamePrefix + numberedName }

// Keys on migration Backups and Restores.
const (
	// PartOfLabel = PartOfValue marks every migration Backup and Restore: it is how a migration is
	// recognised. Outside a migration every migration action passes items through unchanged.
	PartOfLabel = "app.kubernetes.io/part-of"
	PartOfValue = "openshift-migration"
	// MigratedByMigrationLabel and MigratedByPlanLabel carry the MigMigration and MigPlan UIDs; the
	// restore copies them onto every restored item (the controller's rollback deletes by them).
	MigratedByMigrationLabel = "migration.openshift.io/migrated-by-migmigration"
	MigratedByPlanLabel      = "migration.openshift.io/migrated-by-migplan"
	// TypeAnnotation is the kind of migration (TypeStage or TypeFinal), on all four objects of a
	// migration; LegacyTypeAnnotation is the older controllers' spelling, read when it is absent.
	TypeAnnotation       = "migration.openshift.io/migmigration-type"
	LegacyTypeAnnotation = "openshift.io/migrate-copy-phase"
	// The phase labels; the value is the migration's UID.
	InitialBackupLabel = "migration-initial-backup"
	StageBackupLabel   = "migration-stage-backup"
	StageRestoreLabel  = "migration-stage-restore"
	FinalRestoreLabel  = "migration-final-restore"
	// IncludedInStageBackupLabel selects what a stage backup holds (PVs, PVCs, pods, image
	// streams, ...); on a pod restored by a stage restore it makes the pod a stage pod.
	IncludedInStageBackupLabel = "migration-included-stage-backup"
	// RegistryAnnotation names the migration registry ("host:port") as the cluster of the Backup
	// (or Restore) reaches it.
	RegistryAnnotation = "openshift.io/migration-registry"
	// DisableImageCopyAnnotation = "true" turns image copy off for a Backup.
	DisableImageCopyAnnotation = "migration.openshift.io/disable-image-copy"
	// QuiesceAnnotation = "true" on a final migration's Backup asks for the source workloads to be
	// stopped.
	QuiesceAnnotation = "openshift.io/migrate-quiesce-pods"
	// StagePodImageAnnotation on a stage Restore is the image stage pods run.
	StagePodImageAnnotation = "migration.openshift.io/stage-pod-image"
)

// Keys on pods.
const (
	// StagePodLabel = "true" marks a stage pod (the controller cleans up by it);
	// ApplicationPodLabel = "true" a running application pod labelled in place for a stage backup.
	StagePodLabel       = "migration.openshift.io/is-stage-pod"
	ApplicationPodLabel = "migration.openshift.io/is-application-pod"
	// ExcludePVCsAnnotation lists (comma separated) volume names a stage pod must not mount.
	ExcludePVCsAnnotation = "migration.openshift.io/exclude-pvcs"
)

// Keys on PVs and PVCs.
const (
	// MigrateTypeAnnotation is ActionCopy or ActionMove.
	MigrateTypeAnnotation = "openshift.io/migrate-type"
	// TargetStorageClassAnnotation is the destination storage class of a copy (may be "").
	TargetStorageClassAnnotation = "openshift.io/target-storage-class"
	// TargetAccessModeAnnotation is the destination access mode of a copied PVC, when set.
	TargetAccessModeAnnotation = "openshift.io/target-access-mode"
	// CopyMethodAnnotation is CopyFilesystem, CopySnapshot or CopyBlock.
	CopyMethodAnnotation = "migration.openshift.io/copy-method"
	// OrigReclaimPolicyAnnotation records a moved PV's reclaim policy before it was set to Retain.
	OrigReclaimPolicyAnnotation = "migration.openshift.io/orig-reclaim-policy"
)

// Quiesce records: the controller's keys, which its rollback (and ours) reads.
const (
	PreQuiesceReplicasAnnotation     = "migration.openshift.io/preQuiesceReplicas"
	PreQuiescePausedAnnotation       = "migration.openshift.io/preQuiescePaused"
	PreQuiesceSuspendAnnotation      = "migration.openshift.io/preQuiesceSuspend"
	PreQuiesceNodeSelectorAnnotation = "migration.openshift.io/preQuiesceNodeSelector"
	// QuiesceDaemonSetSelector = "true" in a DaemonSet's pod node selector matches no node.
	QuiesceDaemonSetSelector = "migration.openshift.io/quiesceDaemonSet"
)

// Type is the kind of migration.
type Type string

// The migration types.
const (
	TypeNone  Type = ""
	TypeStage Type = "stage"
	TypeFinal Type = "final"
)

// Phase is which of a migration's four objects a Backup or Restore is.
type Phase string

// The phases, named after their labels.
const (
	PhaseNone          Phase = ""
	PhaseInitialBackup Phase = InitialBackupLabel
	PhaseStageBackup   Phase = StageBackupLabel
	PhaseStageRestore  Phase = StageRestoreLabel
	PhaseFinalRestore  Phase = FinalRestoreLabel
)

// phaseLabels in the order they are looked for (an object carries one).
var phaseLabels = []Phase{PhaseInitialBackup, PhaseStageBackup, PhaseStageRestore, PhaseFinalRestore}

// Info is what a Backup or Restore says about the migration it belongs to.
type Info struct {
	// Migration is true for a migration's Backup or Restore (PartOfLabel = PartOfValue). When
	// false every other field is empty and migration actions leave items alone.
	Migration bool
	Type      Type
	Phase     Phase
	// MigrationUID is the value of the phase label.
	MigrationUID string
	// MigratedBy are the MigratedByMigrationLabel and MigratedByPlanLabel labels present on the
	// object, by key.
	MigratedBy map[string]string
	// Registry is the migration registry ("host:port") as this object's cluster reaches it.
	Registry string
	// StagePodImage is the stage pods' image (stage restores).
	StagePodImage string
	// Quiesce is true when the Backup asks for the source workloads to be stopped.
	Quiesce bool
	// DisableImageCopy is true when image copy is turned off for the Backup.
	DisableImageCopy bool
}

// Of reads the migration facts of a Backup's or Restore's metadata (nil: not a migration).
func Of(obj metav1.Object) Info {
	if obj == nil {
		return Info{}
	}
	labels, annotations := obj.GetLabels(), obj.GetAnnotations()
	if labels[PartOfLabel] != PartOfValue {
		return Info{}
	}
	info := Info{
		Migration:        true,
		Type:             typeOf(annotations),
		Registry:         strings.TrimSpace(annotations[RegistryAnnotation]),
		StagePodImage:    strings.TrimSpace(annotations[StagePodImageAnnotation]),
		Quiesce:          isTrue(annotations[QuiesceAnnotation]),
		DisableImageCopy: isTrue(annotations[DisableImageCopyAnnotation]),
	}
	for _, p := range phaseLabels {
		if uid, ok := labels[string(p)]; ok {
			info.Phase, info.MigrationUID = p, uid
			break
		}
	}
	for _, k := range []string{MigratedByMigrationLabel, MigratedByPlanLabel} {
		if v, ok := labels[k]; ok && v != "" {
			if info.MigratedBy == nil {
				info.MigratedBy = map[string]string{}
			}
			info.MigratedBy[k] = v
		}
	}
	return info
}

// OfBackup reads the migration facts of a Backup.
func OfBackup(b *velerov1.Backup) Info {
	if b == nil {
		return Info{}
	}
	return Of(b)
}

// OfRestore reads the migration facts of a Restore.
func OfRestore(r *velerov1.Restore) Info {
	if r == nil {
		return Info{}
	}
	return Of(r)
}

// typeOf reads the migration type, the current key first, then the legacy one.
func typeOf(annotations map[string]string) Type {
	for _, k := range []string{TypeAnnotation, LegacyTypeAnnotation} {
		switch Type(strings.ToLower(strings.TrimSpace(annotations[k]))) {
		case TypeStage:
			return TypeStage
		case TypeFinal:
			return TypeFinal
		}
	}
	return TypeNone
}

// isTrue reports whether an annotation value says true ("true", "True", "1", ...).
func isTrue(v string) bool {
	b, _ := strconv.ParseBool(strings.TrimSpace(v))
	return b
}

// Volume actions and copy methods of PVs and PVCs.
const (
	ActionCopy     = "copy"
	ActionMove     = "move"
	CopyFilesystem = "filesystem"
	CopySnapshot   = "snapshot"
	CopyBlock      = "block"
)

// Volume is what the controller put on a PV or PVC (its annotations).
type Volume struct {
	// Action is ActionCopy, ActionMove, or "" (not part of the migration plan).
	Action string
	// TargetStorageClass is the copy's destination class; HasTargetStorageClass tells "" set
	// on purpose (the destination's default class) from absent.
	TargetStorageClass    string
	HasTargetStorageClass bool
	// TargetAccessMode is the destination access mode of a copied PVC ("" when not set).
	TargetAccessMode string
	// CopyMethod is CopyFilesystem, CopySnapshot, CopyBlock or "".
	CopyMethod string
}

// VolumeOf reads the migration annotations of a PV or PVC.
func VolumeOf(annotations map[string]string) Volume {
	sc, has := annotations[TargetStorageClassAnnotation]
	return Volume{
		Action:                strings.ToLower(strings.TrimSpace(annotations[MigrateTypeAnnotation])),
		TargetStorageClass:    strings.TrimSpace(sc),
		HasTargetStorageClass: has,
		TargetAccessMode:      strings.TrimSpace(annotations[TargetAccessModeAnnotation]),
		CopyMethod:            strings.ToLower(strings.TrimSpace(annotations[CopyMethodAnnotation])),
	}
}

// SkipsSnapshotCopy is the snapshot-skip rule of SPEC §6: a copied volume whose copy method is
// snapshot is left out of a restore only when the Restore is a stage migration's stage restore
// (type stage and the stage-restore phase label). Snapshots are not incremental: a stage
// migration skips them, and the final migration's stage restore restores them; skipping them on
// every stage restore would never migrate snapshot volumes.
func SkipsSnapshotCopy(restore Info, v Volume) bool {
	return restore.Migration && restore.Type == TypeStage && restore.Phase == PhaseStageRestore &&
		v.Action == ActionCopy && v.CopyMethod == CopySnapshot
}

package imagestream

import (
	"context"
	"strconv"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	general "github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

// Backup copies the internal images of an ImageStream into the migration registry a migration
// Backup names, by digest, and records that on the backed-up item.
type Backup struct {
	env action.Env
	// Engine reads the source internal registry (the plugin's service-account token and service
	// CA) and copies (general.DefaultEngine: retries, concurrency bound).
	Engine general.Engine

	registries registries
}

// NewBackup returns the backup action.
func NewBackup(env action.Env) *Backup {
	return &Backup{env: env, Engine: general.DefaultEngine(), registries: registries{open: OpenRegistry}}
}

// AppliesTo selects image streams.
func (b *Backup) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute copies the stream's internal images to <registry>/<namespace>/<stream> on a migration
// Backup naming a migration registry, unless image copy is off for the Backup or the stream.
// Anything else passes the item through unchanged (with no migration registry named, the
// general image backup of SPEC §5 applies).
func (b *Backup) Execute(item runtime.Unstructured, backup *velerov1.Backup) (runtime.Unstructured, []velero.ResourceIdentifier, error) {
	info := migration.OfBackup(backup)
	if !info.Migration || info.Registry == "" {
		return item, nil, nil
	}
	bi, err := b.env.BackupItem(item, backup)
	if err != nil {
		return nil, nil, err
	}
	if info.DisableImageCopy {
		bi.Log.Debugf("image copy disabled for this migration (%s)", migration.DisableImageCopyAnnotation)
		return bi.Obj, nil, nil
	}
	if v, _ := strconv.ParseBool(strings.TrimSpace(bi.Obj.GetAnnotations()[keys.SkipImageCopy])); v {
		bi.Log.Infof("image copy skipped for this image stream (%s)", keys.SkipImageCopy)
		return bi.Obj, nil, nil
	}
	if err := general.BackupImages(context.Background(), bi, b.Engine, registryTarget{host: info.Registry, regs: &b.registries}); err != nil {
		return nil, nil, err
	}
	return bi.Obj, nil, nil
}

// registryTarget is the migration registry named on the Backup.
type registryTarget struct {
	host string
	regs *registries
}

func (t registryTarget) Open(ctx context.Context, bi *action.BackupItem) (general.Endpoint, error) {
	reg, err := t.regs.get(ctx, t.host, bi.Config, bi.Log)
	if err != nil {
		return nil, err
	}
	return reg, nil
}

func (t registryTarget) Mark(*action.BackupItem) (string, string) {
	return migration.ImageCopyRegistryAnnotation, t.host
}

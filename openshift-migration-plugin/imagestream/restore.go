package imagestream

import (
	"context"
	"fmt"

	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
	general "github.com/velero-openshift/plugins/velero-plugins/imagestream"
)

// Restore pushes the images a migration backup copied into the migration registry into the
// destination's internal registry, then restores the stream as the general restore does.
type Restore struct {
	env action.Env
	// Engine opens the destination internal registry and copies (general.DefaultEngine).
	Engine general.Engine
	// Streams reads and updates ImageStreams on the destination (a stream the registry created on
	// push is completed with the backed-up metadata).
	Streams general.Streams

	registries registries
}

// NewRestore returns the restore action.
func NewRestore(env action.Env) *Restore {
	return &Restore{env: env, Engine: general.DefaultEngine(), Streams: general.ClusterStreams(env.Clients),
		registries: registries{open: OpenRegistry}}
}

// AppliesTo selects image streams.
func (r *Restore) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute restores, on a migration Restore, a stream whose images the backup copied into the
// migration registry (migration.ImageCopyRegistryAnnotation): the images are read from the
// registry named on the Restore, as this cluster reaches it, never from the host recorded at
// backup (how the source cluster reached it). Other items and Restores pass through unchanged:
// the general restore restores them.
func (r *Restore) Execute(in *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	info := migration.OfRestore(in.Restore)
	if !info.Migration {
		return action.Keep(in.Item), nil
	}
	ri, err := r.env.RestoreItem(in)
	if err != nil {
		return nil, err
	}
	if ri.FromBackup.GetAnnotations()[migration.ImageCopyRegistryAnnotation] == "" {
		return action.Keep(ri.Obj), nil
	}
	return general.RestoreStream(context.Background(), ri, r.Engine, r.Streams, registrySource{host: info.Registry, regs: &r.registries})
}

// registrySource is the migration registry named on the Restore.
type registrySource struct {
	host string
	regs *registries
}

func (registrySource) Key() string { return migration.ImageCopyRegistryAnnotation }

func (s registrySource) Open(ctx context.Context, ri *action.RestoreItem, recorded string) (general.Endpoint, error) {
	if s.host == "" {
		return nil, fmt.Errorf("image copy: the backup holds this stream's images in the migration registry (%s %s, as the source cluster reached it), "+
			"but the Restore names no migration registry: set annotation %s on the Restore to the registry's host:port as this cluster reaches it",
			migration.ImageCopyRegistryAnnotation, recorded, migration.RegistryAnnotation)
	}
	reg, err := s.regs.get(ctx, s.host, ri.Config, ri.Log)
	if err != nil {
		return nil, err
	}
	return reg, nil
}

package imagestream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/opcache"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// DeleteName is the registered name of the delete action.
const DeleteName = "openshift.io/07-imagestream-delete"

// DefaultSweepTimeout bounds one deleted backup's sweep.
const DefaultSweepTimeout = 30 * time.Minute

// Delete frees the images of a deleted backup that no remaining backup needs. Velero calls it
// for each ImageStream of the backup being deleted (with the item from the backup's tarball);
// the first call for a backup whose images are in the store retires the backup's reference
// records (or, for a backup taken before records existed, derives them from its tarball) and
// sweeps the location once; later calls for that backup have nothing to do.
type Delete struct {
	// Cluster reads the location and its credential; Backups lists Velero's Backups.
	Cluster Cluster
	Backups BackupLister
	// Engine opens the store.
	Engine Engine
	// Grace (default: the plugin config's imageSweepGrace, else imagecopy.DefaultSweepGrace) and
	// Timeout (default DefaultSweepTimeout) bound what is kept and how long a sweep runs.
	Grace, Timeout time.Duration

	// Log is Velero's logger for this plugin; Config the plugin config (imageSweepGrace).
	Log    logrus.FieldLogger
	Config config.Source

	stores stores
	mu     sync.Mutex
	tried  map[string]int // per backup (opcache.Op), sweeps attempted
}

// NewDelete returns the delete action using the process's clients.
func NewDelete(env action.Env) *Delete {
	c := clusterClients{set: env.Clients}
	return &Delete{Cluster: c, Backups: c, Engine: DefaultEngine(), Log: env.Log, Config: env.Config}
}

// AppliesTo selects image streams.
func (d *Delete) AppliesTo() (velero.ResourceSelector, error) {
	return action.Resources(Resource), nil
}

// Execute retires the backup's records and sweeps its location, once per backup (a failed sweep
// is tried once more, on the next stream). A sweep skipped because a backup to the location is in
// progress is logged, not an error: the tombstones stay and the next sweep frees the images.
func (d *Delete) Execute(in *velero.DeleteItemActionExecuteInput) error {
	obj, err := action.Object(in.Item)
	if err != nil {
		return err
	}
	recorded, ok := obj.GetAnnotations()[keys.ImageCopyLocation]
	if !ok {
		return nil // the stream's images were not copied into a location's store
	}
	backup := in.Backup
	op := opcache.Op(backup)
	d.mu.Lock()
	if d.tried == nil {
		d.tried = map[string]int{}
	}
	n := d.tried[op]
	if n < 0 || n >= 2 {
		d.mu.Unlock()
		return nil
	}
	d.tried[op] = n + 1
	d.mu.Unlock()

	var log logrus.FieldLogger = logrus.New()
	if d.Log != nil {
		log = d.Log
	}
	log = log.WithField("backup", backup.Namespace+"/"+backup.Name)
	loc := strings.TrimSpace(backup.Spec.StorageLocation)
	if loc == "" {
		loc = recorded
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultSweepTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	store, err := d.stores.get(ctx, d.Cluster, d.Engine, backup.Namespace, loc, log)
	if err != nil {
		return fmt.Errorf("freeing the images of backup %s: %w", backup.Name, err)
	}
	view := locationBackups{list: d.Backups, namespace: backup.Namespace, location: loc, store: store}
	retired, err := store.RetireBackup(ctx, backup.Name, func(ctx context.Context) ([]imagecopy.ImageRefs, error) {
		refs, _, err := view.Derive(ctx, backup.Name)
		return refs, err
	})
	if err != nil {
		return fmt.Errorf("freeing the images of backup %s: %w", backup.Name, err)
	}
	start := time.Now()
	grace := d.Grace
	if d.Config != nil && grace <= 0 {
		if cfg, err := d.Config.Config(ctx, backup.Namespace); err == nil {
			grace = cfg.ImageSweepGrace
		}
	}
	rep, err := store.Sweep(ctx, imagecopy.SweepOptions{Backups: view, Deleting: backup.Name, Grace: grace})
	if err != nil {
		return fmt.Errorf("freeing the images of backup %s (its records are retired; the next sweep retries): %w", backup.Name, err)
	}
	d.mu.Lock()
	d.tried[op] = -1 // done
	d.mu.Unlock()
	for _, w := range rep.Warnings {
		log.Warnf("image store sweep: %s", w)
	}
	if rep.Skipped != "" {
		log.Infof("image store sweep of %s skipped: %s; the backup's %d reference records are retired and the next sweep frees its images", store, rep.Skipped, retired)
		return nil
	}
	log.WithField("duration", time.Since(start).Round(time.Millisecond)).
		Infof("image store sweep of %s after deleting backup %s: freed %s", store, backup.Name, rep)
	return nil
}

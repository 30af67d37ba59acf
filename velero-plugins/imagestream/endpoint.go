package imagestream

import (
	"context"

	"github.com/velero-openshift/plugins/common/action"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// The stream logic (which images, digests, missing images, pushing each tag oldest first,
// restoring the stream) is one implementation, parameterised by where a stream's images are
// kept between backup and restore: the image store of the Backup's storage location (SPEC §5,
// this package's actions) or a migration registry (SPEC §6, the migration plugin's actions).

// Endpoint is where a stream's images are kept between backup and restore, in repository
// <source namespace>/<stream> by digest. *imagecopy.Store and *imagecopy.Registry implement it.
type Endpoint interface {
	// Image names an image: repo is "namespace/name", ref a tag or a digest.
	Image(repo, ref string) (imagecopy.Image, error)
	// String names the endpoint in logs and errors, never with credentials.
	String() string
}

// Target is where BackupImages copies a stream's images.
type Target interface {
	// Open returns the endpoint of this backup; it is called for each stream with images to
	// copy, so an implementation opens each endpoint once and keeps it.
	Open(ctx context.Context, bi *action.BackupItem) (Endpoint, error)
	// Mark is the bookkeeping annotation (key and value) written on the backed-up item: "this
	// backup holds the stream's images there". The matching Source reads it at restore.
	Mark(bi *action.BackupItem) (key, value string)
}

// Source is where RestoreStream reads a stream's images from.
type Source interface {
	// Key is the bookkeeping annotation of the matching Target: a backed-up item carrying it
	// has its images at this source. RestoreStream removes it from the restored item.
	Key() string
	// Open returns the endpoint the images are read from in this restore; recorded is the
	// annotation's value written at backup. Called only when there are images to push.
	Open(ctx context.Context, ri *action.RestoreItem, recorded string) (Endpoint, error)
}

package migration

// ImageCopyRegistryAnnotation, on an ImageStream backed up by a migration Backup, records the
// migration registry ("host:port", as the source cluster reached it) that the backup copied the
// stream's internal images into. It says "this backup holds the stream's images in the migration
// registry"; the host itself is for diagnostics only: the restore reads the images from the
// registry named on the Restore (RegistryAnnotation), as the destination reaches it. The restore
// removes it.
const ImageCopyRegistryAnnotation = "migration.openshift.io/image-copy-registry"

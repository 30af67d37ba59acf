// Package keys holds every annotation and label key the plugins read or write, so that a key is
// spelled once and its meaning is documented in one place.
package keys

// Source facts, written on backed-up items by the common backup action so that restore actions
// never depend on the order in which Velero runs them.
const (
	// BackupServerVersion is the source cluster's Kubernetes version, "major.minor": the meaning
	// upstream's plugin and older backups give it.
	BackupServerVersion = "openshift.io/backup-server-version"
	// BackupOpenShiftVersion is the source cluster's OpenShift version (e.g. "4.16.3"), when it has one.
	BackupOpenShiftVersion = "openshift.io/backup-openshift-version"
	// BackupRegistryHostname is the source cluster's internal registry hostname (may be empty).
	BackupRegistryHostname = "openshift.io/backup-registry-hostname"
	// BackupRegistryExternalHostnames lists (comma separated) the other hostnames of the source's
	// internal registry (images.config status.externalRegistryHostnames): references naming them
	// are internal too, and only the source knows them.
	BackupRegistryExternalHostnames = "openshift.io/backup-registry-external-hostnames"
	// BackupAppsDomain is the source cluster's router (apps) domain, when known.
	BackupAppsDomain = "openshift.io/backup-apps-domain"
	// RestoreServerVersion (Kubernetes "major.minor"), RestoreOpenShiftVersion (when the
	// destination has one) and RestoreRegistryHostname record the destination facts at restore.
	RestoreServerVersion    = "openshift.io/restore-server-version"
	RestoreOpenShiftVersion = "openshift.io/restore-openshift-version"
	RestoreRegistryHostname = "openshift.io/restore-registry-hostname"
)

// OpenShift's own keys that the plugins read.
const (
	// BuildName marks a pod created for a Build; the BuildConfig re-creates it.
	BuildName = "openshift.io/build.name"
	// HostGenerated marks a route whose host the router generated.
	HostGenerated = "openshift.io/host.generated"
	// ServingCertOriginatingService marks a service-CA serving-cert secret.
	ServingCertOriginatingService = "service.alpha.openshift.io/originating-service-name"
	// ServiceAccountName and ServiceAccountUID link a legacy token/dockercfg secret to its SA.
	ServiceAccountName = "kubernetes.io/service-account.name"
	ServiceAccountUID  = "kubernetes.io/service-account.uid"
	// InternalRegistryAuthTokenSA (4.16+) names the SA whose dockercfg secret this is.
	InternalRegistryAuthTokenSA = "openshift.io/internal-registry-auth-token.service-account"
	// InternalRegistryPullSecretRef (4.16+) on a ServiceAccount names its managed dockercfg secret.
	InternalRegistryPullSecretRef = "openshift.io/internal-registry-pull-secret-ref"
	// DeploymentConfigLabel and DeploymentLabel tie pods and RCs to their DeploymentConfig.
	DeploymentConfigLabel = "deploymentconfig"
	DeploymentLabel       = "deployment"
	// DeploymentConfigAnnotation on an RC names its DeploymentConfig.
	DeploymentConfigAnnotation = "openshift.io/deployment-config.name"
	// SCCUIDRange, SCCMCS and SCCSupplementalGroups are namespace annotations the SCC admission
	// uses for file ownership.
	SCCUIDRange           = "openshift.io/sa.scc.uid-range"
	SCCMCS                = "openshift.io/sa.scc.mcs"
	SCCSupplementalGroups = "openshift.io/sa.scc.supplemental-groups"
)

// Velero's keys that the plugins read.
const (
	// VeleroBackupVolumes is the opt-in file-system-backup annotation on a pod.
	VeleroBackupVolumes = "backup.velero.io/backup-volumes"
	// VeleroBackupNameLabel labels PodVolumeBackups with their Backup's name.
	VeleroBackupNameLabel = "velero.io/backup-name"
	// VeleroPluginConfigLabel marks plugin ConfigMaps (Velero's convention).
	VeleroPluginConfigLabel = "velero.io/plugin-config"
	// Restore hook annotations Velero honours on pods.
	VeleroPostRestoreHookCommand = "post.hook.restore.velero.io/command"
	VeleroInitRestoreHookImage   = "init.hook.restore.velero.io/container-image"
)

// Keys OADP's plugin (openshift/openshift-velero-plugin) writes on a DeploymentConfig at backup,
// read so a DC it backed up is restored consistently with its pods: whether the DC's live pods had
// volumes Velero could back up (any, not only those it did), whether they had restore hook
// annotations, and the labels of one pod in selector form ("k=v,k2=v2"; empty: no pods).
// IncludesDMFix marks the backups that carry the other three.
const (
	OADPIncludesDMFix      = "oadp.openshift.io/includes-dm-dc-fix"
	OADPPodsHaveVolumes    = "oadp.openshift.io/pods-have-volumes"
	OADPHasPodRestoreHooks = "oadp.openshift.io/has-pod-restore-hooks"
	OADPPodLabels          = "oadp.openshift.io/pod-labels"
)

// Keys this project writes.
const (
	// PluginConfigLabel, with VeleroPluginConfigLabel, selects this project's plugin ConfigMap.
	PluginConfigLabel = "openshift.io/velero-plugin"
	// PausedOwnerRef marks an RC whose DeploymentConfig was paused at backup: such an RC is restored.
	PausedOwnerRef = "openshift.io/paused-owner-ref"
	// DCPodsHaveVolumeBackups, DCPodsHaveRestoreHooks and DCPodLabels are written on a
	// DeploymentConfig at backup from its live pods: whether they had volumes to back up, restore
	// hook annotations, and the newest pod's labels (JSON; absent: no pods). The restore reads the
	// last two; the first only when it cannot list the backup's PodVolumeBackups.
	DCPodsHaveVolumeBackups = "openshift.io/dc-pods-volume-backups"
	DCPodsHaveRestoreHooks  = "openshift.io/dc-pods-restore-hooks"
	DCPodLabels             = "openshift.io/dc-pod-labels"
	// DisconnectedFromDC labels, with the restore's name, pods detached from their DeploymentConfig
	// at restore (OADP's post-restore cleanup selects on it).
	DisconnectedFromDC = "oadp.openshift.io/disconnected-from-dc"
	// DCReplicasModified labels, with the restore's name, a DeploymentConfig the restore scaled to 0
	// (OADP's post-restore cleanup selects on it).
	DCReplicasModified = "oadp.openshift.io/replicas-modified"
	// OriginalReplicas and OriginalPaused record a DeploymentConfig's values before restore scaled it to 0.
	OriginalReplicas = "oadp.openshift.io/original-replicas"
	OriginalPaused   = "oadp.openshift.io/original-paused"
	// SkipBuildConfigConfigMapRestore marks build-pod CA / sys-config ConfigMaps.
	SkipBuildConfigConfigMapRestore = "oadp.openshift.io/skip-buildconfig-configmap-restore"
	// RelatedISTag and RelatedISTagNamespace record the tag an ImageStreamTag references.
	RelatedISTag          = "migration.openshift.io/related-istag"
	RelatedISTagNamespace = "migration.openshift.io/related-istag-ns"
	// ImageCopyLocation, on a backed-up ImageStream, names the backup storage location whose image
	// store holds the stream's images; ImageCopyMissing lists (comma separated) the digests that
	// were missing on the source registry at backup. The restore removes both.
	ImageCopyLocation = "openshift.io/image-copy-location"
	ImageCopyMissing  = "openshift.io/image-copy-missing"
	// SkipImageCopy opts an ImageStream out of image copy; DisableImageCopy a whole Backup.
	SkipImageCopy    = "openshift.io/skip-image-copy"
	DisableImageCopy = "migration.openshift.io/disable-image-copy"
)

// Migration keys that general code reads (SPEC §6). General code never imports the migration
// plugin's packages, so the few keys it needs are spelled here as well; the migration package
// spells the same values and a test there pins them equal.
const (
	// MigrationRegistry on a Backup names the migration registry ("host:port") the migration
	// plugin copies ImageStream images into: the general image backup to the storage location
	// then does not copy them as well (one copy per stream).
	MigrationRegistry = "openshift.io/migration-registry"
)

package action

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/label"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/velero-openshift/plugins/common/clusterfacts"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/nsmap"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// SourceFacts are the source cluster's facts as recorded on a backed-up item.
type SourceFacts struct {
	KubeVersion      string // "major.minor"
	OpenShiftVersion string // empty when the source is not OpenShift (or the backup predates the key)
	RegistryHostname string
	// RegistryExternalHostnames are the registry's other hostnames (see imageref.Aliases).
	RegistryExternalHostnames []string
	AppsDomain                string
}

// SourceFactsOf reads the facts a backup recorded on obj: earlier versions of this plugin and
// the upstream OpenShift plugin recorded them on every pod, workload, BuildConfig, ImageStream and
// ImageStreamTag (keys.BackupRegistryHostname and the other openshift.io/backup-* annotations);
// this version records the registry only on ImageStreams whose images it copied.
func SourceFactsOf(obj *unstructured.Unstructured) SourceFacts {
	a := obj.GetAnnotations()
	return SourceFacts{
		KubeVersion:               a[keys.BackupServerVersion],
		OpenShiftVersion:          a[keys.BackupOpenShiftVersion],
		RegistryHostname:          a[keys.BackupRegistryHostname],
		RegistryExternalHostnames: SplitList(a[keys.BackupRegistryExternalHostnames]),
		AppsDomain:                a[keys.BackupAppsDomain],
	}
}

// recordsRegistry reports whether a backup recorded the source registry on obj. An empty value
// is a record too: it says the source had no internal registry, so nothing is rewritten.
func recordsRegistry(obj *unstructured.Unstructured) bool {
	_, ok := obj.GetAnnotations()[keys.BackupRegistryHostname]
	return ok
}

// OpenShiftRegistryHostnames are the internal registry's hostnames OpenShift gives every cluster:
// the image-registry service of OpenShift 4 and the docker-registry service of 3.x.
var OpenShiftRegistryHostnames = []string{"image-registry.openshift-image-registry.svc:5000", "docker-registry.default.svc:5000"}

// assumedSource is the source registry of an item on which the backup recorded none (backups
// taken by this version, which visits no pod or workload at backup; or without any OpenShift
// plugin): OpenShift's own registry hostnames, and first the one the destination's plugin config
// names with backupRegistryHostname, for a source whose registry was given another hostname. Each
// counts under both forms of its service name (imageref.Aliases).
func assumedSource(configured string) SourceFacts {
	hosts := append([]string{}, OpenShiftRegistryHostnames...)
	if configured != "" {
		hosts = append([]string{configured}, hosts...)
	}
	src := SourceFacts{RegistryHostname: hosts[0]}
	for _, h := range hosts {
		src.RegistryExternalHostnames = append(src.RegistryExternalHostnames, h)
		src.RegistryExternalHostnames = append(src.RegistryExternalHostnames, imageref.Aliases(h)...)
	}
	return src
}

// SplitList splits a comma-separated annotation value, trimming spaces and dropping empty entries.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// RestoreItem is everything a restore action decides from: the item, the Restore, the namespace
// mapping, the source facts recorded at backup and the destination facts of this cluster.
type RestoreItem struct {
	Obj *unstructured.Unstructured
	// FromBackup is the item as backed up (Velero's ItemFromBackup, else Obj): decisions and
	// computed values read it, because Velero clears ownerReferences and status on Obj before
	// the actions run, and another action may already have edited Obj.
	FromBackup      *unstructured.Unstructured
	Restore         *velerov1.Restore
	Mapping         nsmap.Mapping
	SourceNamespace string // the item's namespace in the backup
	TargetNamespace string // where it is restored
	Source          SourceFacts
	// SourceAssumed is true when the backup recorded no source registry on the item, so Source
	// names OpenShift's own registry hostnames (and the configured one, see assumedSource).
	SourceAssumed bool
	Destination   clusterfacts.Facts // registry hostname override applied (see overrideRegistry)
	// UnknownFacts are the destination facts whose lookup failed (retried on later items), less
	// those the plugin config overrides; their values in Destination are guesses. An action that
	// needs one says so with WarnUnknownFacts.
	UnknownFacts clusterfacts.Unknowns
	Config       config.Config
	Images       imageref.Rewriter
	// PullSecrets finds the destination's generated dockercfg secrets (Env.PullSecrets).
	PullSecrets *pullsecret.Finder
	Log         logrus.FieldLogger
	warnings    *FactWarnings
}

// RenamePullSecrets swaps the generated dockercfg secrets named in the item's pod spec (a pod,
// or the pod template of any workload kind) to the ones the destination minted for the same
// service accounts in the target namespace, waiting for them as configured.
func (ri *RestoreItem) RenamePullSecrets(ctx context.Context) error {
	return ri.PullSecrets.RenamePodSpec(ctx, ri.Obj, ri.TargetNamespace, ri.Destination.RegistryEnabled, ri.Config.PullSecretWait, ri.Log)
}

// RestoreItem builds the context of one restore item.
func (e Env) RestoreItem(in *velero.RestoreItemActionExecuteInput) (*RestoreItem, error) {
	obj, err := Object(in.Item)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config.Config(background(), in.Restore.Namespace)
	if err != nil {
		return nil, err
	}
	dest, unknown := clusterfacts.Get(background(), e.Facts)
	dest, unknown = overrideRegistry(dest, unknown, cfg.RestoreRegistryHostname)
	fromBackup := obj
	if in.ItemFromBackup != nil {
		if fromBackup, err = Object(in.ItemFromBackup); err != nil {
			return nil, fmt.Errorf("backed-up item: %w", err)
		}
	}
	// Items backed up by earlier versions and by the upstream plugin rewrite exactly as they did:
	// from the registry recorded on them (on the item as restored, else as backed up).
	src := SourceFactsOf(obj)
	if src.RegistryHostname == "" {
		src = SourceFactsOf(fromBackup)
	}
	assumed := false
	switch lived := fromBackup.GetAnnotations()[keys.RestoreRegistryHostname]; {
	case lived != "" && !strings.EqualFold(lived, src.RegistryHostname):
		// An object an earlier restore put on the backed-up cluster had its references rewritten
		// to that cluster's registry, recorded then; the source record next to it names the
		// cluster it came from, which this version's backup no longer overwrites. (Earlier
		// versions overwrote it at backup, so for their items both name the same registry.)
		src.RegistryHostname, src.RegistryExternalHostnames = lived, nil
	case src.RegistryHostname == "" && !recordsRegistry(obj) && !recordsRegistry(fromBackup):
		domain := src.AppsDomain
		src, assumed = assumedSource(cfg.BackupRegistryHostname), true
		src.AppsDomain = domain
	}
	mapping := nsmap.FromRestore(in.Restore)
	ns := obj.GetNamespace()
	ri := &RestoreItem{
		Obj:             obj,
		FromBackup:      fromBackup,
		Restore:         in.Restore,
		Mapping:         mapping,
		SourceNamespace: ns,
		TargetNamespace: mapping.Map(ns),
		Source:          src,
		SourceAssumed:   assumed,
		Destination:     dest,
		UnknownFacts:    unknown,
		Config:          cfg,
		Images: imageref.Rewriter{
			SourceHost:      src.RegistryHostname,
			SourceAliases:   imageref.Aliases(src.RegistryHostname, src.RegistryExternalHostnames...),
			DestinationHost: dest.RegistryHostname, Mapping: mapping,
		},
		PullSecrets: e.PullSecrets,
		Log: e.Log.WithFields(logrus.Fields{
			"restore": in.Restore.Namespace + "/" + in.Restore.Name, "item": Describe(obj),
		}),
		warnings: e.FactWarnings,
	}
	// An item backed up with a registry host is rewritten to the destination's: without that
	// fact its internal references would silently stay pointing at the source cluster.
	if src.RegistryHostname != "" {
		ri.WarnUnknownFacts("its internal image references are not rewritten to the destination registry", clusterfacts.FactRegistryHostname)
	}
	return ri, nil
}

// WarnUnknownFacts logs a warning for each of the named destination facts that is unknown,
// naming the cause and the consequence for this item; an item several actions handle is warned
// once per fact.
func (ri *RestoreItem) WarnUnknownFacts(consequence string, facts ...string) {
	if len(ri.UnknownFacts) == 0 {
		return
	}
	op := "restore"
	if ri.Restore != nil {
		op += " " + ri.Restore.Namespace + "/" + ri.Restore.Name
	}
	ri.warnings.warn(ri.Log, op, ri.Obj, ri.UnknownFacts, consequence, facts)
}

// overrideRegistry applies a plugin-config registry hostname override (none when host is empty) to
// discovered facts. The override names the registry, so the registry counts as enabled whatever
// discovery found (no registry, or a failed lookup): otherwise the restore would rewrite references
// to it but push no images there and wait for no pull secrets. Both facts are then known.
func overrideRegistry(f clusterfacts.Facts, unknown clusterfacts.Unknowns, host string) (clusterfacts.Facts, clusterfacts.Unknowns) {
	if host == "" {
		return f, unknown
	}
	f.RegistryHostname, f.RegistryEnabled = host, true
	return f, unknown.Without(clusterfacts.FactRegistryHostname, clusterfacts.FactRegistryEnabled)
}

// BackupItem is everything a backup action decides from.
type BackupItem struct {
	Obj    *unstructured.Unstructured
	Backup *velerov1.Backup
	Facts  clusterfacts.Facts // registry hostname override applied (see overrideRegistry)
	// UnknownFacts are the facts whose lookup failed (retried on later items), less those the
	// plugin config overrides; their values in Facts are guesses. An action that needs one says so
	// with WarnUnknownFacts.
	UnknownFacts clusterfacts.Unknowns
	Config       config.Config
	Log          logrus.FieldLogger
	warnings     *FactWarnings
}

// WarnUnknownFacts logs a warning for each of the named facts that is unknown, naming the cause
// and the consequence for this item; an item several actions handle is warned once per fact.
func (bi *BackupItem) WarnUnknownFacts(consequence string, facts ...string) {
	if len(bi.UnknownFacts) == 0 {
		return
	}
	op := "backup"
	if bi.Backup != nil {
		op += " " + bi.Backup.Namespace + "/" + bi.Backup.Name
	}
	bi.warnings.warn(bi.Log, op, bi.Obj, bi.UnknownFacts, consequence, facts)
}

// BackupItem builds the context of one backup item.
func (e Env) BackupItem(item runtime.Unstructured, backup *velerov1.Backup) (*BackupItem, error) {
	obj, err := Object(item)
	if err != nil {
		return nil, err
	}
	cfg, err := e.Config.Config(background(), backup.Namespace)
	if err != nil {
		return nil, err
	}
	facts, unknown := clusterfacts.Get(background(), e.Facts)
	facts, unknown = overrideRegistry(facts, unknown, cfg.BackupRegistryHostname)
	return &BackupItem{
		Obj: obj, Backup: backup, Facts: facts, UnknownFacts: unknown, Config: cfg,
		Log:      e.Log.WithFields(logrus.Fields{"backup": backup.Namespace + "/" + backup.Name, "item": Describe(obj)}),
		warnings: e.FactWarnings,
	}, nil
}

// RestoreLabels are the labels Velero puts on every object it restores (velero.io/restore-name and
// velero.io/backup-name, long names shortened as Velero shortens them). An object an action writes
// itself in place of Velero's create must carry them too, or selecting a restore's objects by
// label misses it.
func RestoreLabels(restore *velerov1.Restore) map[string]string {
	return map[string]string{
		velerov1.RestoreNameLabel: label.GetValidName(restore.Name),
		velerov1.BackupNameLabel:  label.GetValidName(restore.Spec.BackupName),
	}
}

// Skip returns the output that tells Velero not to restore the item.
func Skip(item runtime.Unstructured) *velero.RestoreItemActionExecuteOutput {
	return velero.NewRestoreItemActionExecuteOutput(item).WithoutRestore()
}

// Keep returns the output that restores the (possibly edited) item.
func Keep(item runtime.Unstructured) *velero.RestoreItemActionExecuteOutput {
	return velero.NewRestoreItemActionExecuteOutput(item)
}

// FactWarnings remembers which per-item warnings about unknown facts were logged in this process
// (one backup or restore), so an item that several actions handle is warned once per fact. It
// grows only while facts are unknown, by one entry per item and fact. A nil *FactWarnings warns
// every time.
type FactWarnings struct {
	mu   sync.Mutex
	seen map[string]bool
}

// warn logs a warning for each of facts that is unknown, unless this item of this operation was
// already warned about it.
func (w *FactWarnings) warn(log logrus.FieldLogger, operation string, obj *unstructured.Unstructured, unknown clusterfacts.Unknowns, consequence string, facts []string) {
	for _, fact := range facts {
		u, ok := unknown.Of(fact)
		if !ok || !w.first(operation+" "+obj.GetAPIVersion()+" "+Describe(obj)+" "+fact) {
			continue
		}
		log.WithError(u.Err).WithField("fact", fact).Warnf("cluster fact %s unknown (%s failed; retried on later items): %s", fact, u.Lookup, consequence)
	}
}

// first reports whether key is new; a nil *FactWarnings has seen nothing.
func (w *FactWarnings) first(key string) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	if w.seen[key] {
		return false
	}
	w.seen[key] = true
	return true
}

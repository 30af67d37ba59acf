package imagestream

// The image copy of SPEC §5: which images of a stream are copied, the configuration read from the
// environment, and the cluster and copy-engine dependencies of the two actions (behind small
// interfaces and func fields so tests replace them).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/distribution/registry/api/errcode"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/velero-openshift/plugins/common/clients"
	"github.com/velero-openshift/plugins/common/config"
	"github.com/velero-openshift/plugins/common/fields"
	"github.com/velero-openshift/plugins/common/imageref"
	"github.com/velero-openshift/plugins/velero-plugins/imagecopy"
)

// Environment of the plugin process (Velero's server environment, which plugins inherit).
const (
	// BackupEnv switches the image backup on when "true" (read once per process).
	BackupEnv = "OPENSHIFT_IMAGESTREAM_BACKUP"
	// TokenFileEnv and CAFileEnv override where the service-account token and the service CA
	// bundle are read from (tests, or a token mounted elsewhere).
	TokenFileEnv = "OPENSHIFT_IMAGESTREAM_TOKEN_FILE"
	CAFileEnv    = "OPENSHIFT_IMAGESTREAM_CA_FILE"
)

// Defaults of the token and CA files: the plugin's projected service-account credentials.
const (
	DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
)

// Velero's default credential of a location without spec.credential: secret cloud-credentials,
// key cloud, in the location's namespace.
const (
	DefaultCredentialSecret = "cloud-credentials"
	DefaultCredentialKey    = "cloud"
)

// backupEnabledEnv reads BackupEnv once.
var backupEnabledEnv = sync.OnceValue(func() bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(os.Getenv(BackupEnv)))
	return v
})

// annotationTrue reports whether an opt-out annotation is set to a true value.
func annotationTrue(a map[string]string, key string) bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(a[key]))
	return v
}

// streamImage is one history generation of one status tag whose image is in the internal registry.
type streamImage struct {
	Tag        string
	Generation int64
	Field      string       // status.tags[i].items[j], for messages
	Ref        imageref.Ref // the dockerImageReference (its repository is where the image lives)
	Digest     string       // the manifest digest, "sha256:..."
	// entry is the status history entry itself, edited in place when the image is stored
	// under another digest (recordConverted).
	entry map[string]any
}

// internalImages lists the internal images of an ImageStream's status: per tag, oldest generation
// first (the API lists newest first). Entries without a usable digest are returned in skipped
// (with the reason) rather than failing the stream; a malformed status is an error naming the field.
//
// hosts are the source registry's names (its hostname and aliases, imageref.Aliases): an image
// referenced under any of them is in the registry, and copied from it by repository and digest.
func internalImages(obj map[string]any, hosts []string) (images []streamImage, skipped []string, err error) {
	if len(hosts) == 0 || hosts[0] == "" {
		return nil, nil, nil
	}
	w := imageref.Rewriter{SourceHost: hosts[0], SourceAliases: hosts[1:]}
	status, found, err := fields.NestedObject(obj, "", "status")
	if err != nil || !found {
		return nil, nil, err
	}
	tags, err := fields.Objects(status, "status", "tags")
	if err != nil {
		return nil, nil, err
	}
	for i, tag := range tags {
		tf := fmt.Sprintf("status.tags[%d]", i)
		name, err := fields.String(tag, "tag", tf)
		if err != nil {
			return nil, nil, err
		}
		items, err := fields.Objects(tag, tf, "items")
		if err != nil {
			return nil, nil, err
		}
		for j := len(items) - 1; j >= 0; j-- {
			item := items[j]
			f := fmt.Sprintf("%s.items[%d]", tf, j)
			ref, err := fields.String(item, "dockerImageReference", f)
			if err != nil {
				return nil, nil, err
			}
			if !w.IsSource(ref) {
				// A reference naming the internal registry that does not parse is reported,
				// not silently left out of the backup.
				for _, host := range hosts {
					if strings.HasPrefix(strings.ToLower(ref), strings.ToLower(host)+"/") {
						if _, err := imageref.Parse(ref); err != nil {
							return nil, nil, fmt.Errorf("%s.dockerImageReference: %w", f, err)
						}
					}
				}
				continue
			}
			r, err := imageref.Parse(ref)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.dockerImageReference: %w", f, err)
			}
			dgst, err := fields.String(item, "image", f)
			if err != nil {
				return nil, nil, err
			}
			if r.Digest != "" {
				dgst = r.Digest
			}
			if !strings.Contains(dgst, ":") || r.Name() == "" {
				skipped = append(skipped, fmt.Sprintf("tag %q %s: %s has no image digest or no namespace/name", name, f, ref))
				continue
			}
			gen, _ := item["generation"].(int64)
			if g, ok := item["generation"].(float64); ok {
				gen = int64(g)
			}
			images = append(images, streamImage{Tag: name, Generation: gen, Field: f, Ref: r, Digest: dgst, entry: item})
		}
	}
	return images, skipped, nil
}

// isMissing reports whether a copy error says the source image (manifest or repository) does
// not exist, as opposed to any other failure.
func isMissing(err error) bool {
	var ec errcode.ErrorCoder
	if errors.As(err, &ec) {
		switch ec.ErrorCode().String() {
		case "MANIFEST_UNKNOWN", "NAME_UNKNOWN":
			return true
		}
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "manifest unknown") || strings.Contains(msg, "name unknown") ||
		strings.Contains(msg, "statuscode: 404")
}

// ---------------------------------------------------------------- dependencies

// Cluster is what the actions read from the cluster Velero runs against.
type Cluster interface {
	// Location returns a BackupStorageLocation.
	Location(ctx context.Context, namespace, name string) (*velerov1.BackupStorageLocation, error)
	// SecretKey returns one key of a secret; found is false when the secret or key is absent.
	SecretKey(ctx context.Context, namespace, name, key string) (data []byte, found bool, err error)
	// BackupLocation returns spec.storageLocation of a Backup.
	BackupLocation(ctx context.Context, namespace, backup string) (string, error)
}

// Streams reads and writes ImageStreams on the destination (the restore completes a stream the
// registry created on push, and creates one whose item fails for images not restored).
type Streams interface {
	// Get returns the stream, or nil when it does not exist.
	Get(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured) error
	// Create creates the stream; an existing one is an AlreadyExists error.
	Create(ctx context.Context, obj *unstructured.Unstructured) error
}

// Engine builds the ends of a copy and runs it. Every field has a working default; tests point
// them at in-process registries and local stores.
type Engine struct {
	// OpenStore opens the image store of a location with its credential (may be empty).
	OpenStore func(ctx context.Context, bsl *velerov1.BackupStorageLocation, creds []byte, log logrus.FieldLogger) (*imagecopy.Store, error)
	// OpenRegistry prepares access to the internal registry at host; insecure skips the
	// verification of its certificate.
	OpenRegistry func(host string, insecure bool) (*imagecopy.Registry, error)
	// CopyAll copies jobs (imagecopy.Copier.CopyAll semantics: one result per job, same order),
	// each copy bounded in time as cfg says.
	CopyAll func(ctx context.Context, log logrus.FieldLogger, cfg config.Config, jobs []imagecopy.Job) []imagecopy.Result
}

// DefaultEngine uses the image copy engine with the plugin's service-account token and service CA.
func DefaultEngine() Engine {
	return Engine{
		OpenStore: func(ctx context.Context, bsl *velerov1.BackupStorageLocation, creds []byte, log logrus.FieldLogger) (*imagecopy.Store, error) {
			return imagecopy.OpenStore(ctx, bsl, imagecopy.StoreOptions{Credentials: creds, Log: log})
		},
		OpenRegistry: func(host string, insecure bool) (*imagecopy.Registry, error) {
			token, ca, err := serviceAccountCredentials()
			if err != nil {
				return nil, fmt.Errorf("registry %s: %w", host, err)
			}
			return imagecopy.NewRegistry(imagecopy.RegistryOptions{Host: host, Token: token, CA: ca,
				InsecureSkipTLSVerify: insecure, UserAgent: "openshift-velero-plugin"})
		},
		CopyAll: func(ctx context.Context, log logrus.FieldLogger, cfg config.Config, jobs []imagecopy.Job) []imagecopy.Result {
			c := &imagecopy.Copier{Log: log, Timeout: cfg.ImageCopyTimeout, IdleTimeout: cfg.ImageCopyIdleTimeout,
				TimeoutSetting: config.KeyImageCopyTimeout, IdleTimeoutSetting: config.KeyImageCopyIdleTimeout}
			return c.CopyAll(ctx, jobs)
		},
	}
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

// serviceAccountCredentials reads the token (required) and the service CA (when present). Read on
// each use: projected tokens rotate.
func serviceAccountCredentials() (token string, ca []byte, err error) {
	tokenFile := envOr(TokenFileEnv, DefaultTokenFile)
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return "", nil, fmt.Errorf("reading the service account token %s: %w", tokenFile, err)
	}
	token = strings.TrimSpace(string(raw))
	if token == "" {
		return "", nil, fmt.Errorf("the service account token %s is empty", tokenFile)
	}
	caFile := envOr(CAFileEnv, DefaultCAFile)
	ca, err = os.ReadFile(caFile)
	if errors.Is(err, os.ErrNotExist) {
		return token, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading the service CA %s: %w", caFile, err)
	}
	return token, ca, nil
}

// locationCredential returns the content of a location's credential: spec.credential, else
// Velero's default secret (absent means the provider's default chain, e.g. the filesystem store).
func locationCredential(ctx context.Context, c Cluster, bsl *velerov1.BackupStorageLocation) ([]byte, error) {
	name, key := DefaultCredentialSecret, DefaultCredentialKey
	explicit := bsl.Spec.Credential != nil
	if explicit {
		name, key = bsl.Spec.Credential.Name, bsl.Spec.Credential.Key
	}
	data, found, err := c.SecretKey(ctx, bsl.Namespace, name, key)
	if err != nil {
		return nil, fmt.Errorf("backup storage location %s/%s: reading its credential (secret %s, key %s): %w", bsl.Namespace, bsl.Name, name, key, err)
	}
	if !found && explicit {
		return nil, fmt.Errorf("backup storage location %s/%s: its credential (secret %s, key %s) does not exist", bsl.Namespace, bsl.Name, name, key)
	}
	return data, nil
}

// clusterClients implements Cluster and Streams with the process's lazily built clients.
type clusterClients struct{ set *clients.Set }

// ClusterStreams reads and updates ImageStreams with the process's clients (built on first use).
func ClusterStreams(set *clients.Set) Streams { return clusterClients{set: set} }

var (
	bslGVR    = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backupstoragelocations"}
	backupGVR = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backups"}
	streamGVR = schema.GroupVersionResource{Group: "image.openshift.io", Version: "v1", Resource: "imagestreams"}
)

var errNoClients = errors.New("no cluster clients")

// dynamic is the dynamic client of the plugin's cluster.
func (c clusterClients) dynamic() (dynamic.Interface, error) {
	if c.set == nil {
		return nil, errNoClients
	}
	return c.set.Dynamic()
}

func (c clusterClients) Get(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	d, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	u, err := d.Resource(streamGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

func (c clusterClients) Update(ctx context.Context, obj *unstructured.Unstructured) error {
	d, err := c.dynamic()
	if err != nil {
		return err
	}
	_, err = d.Resource(streamGVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
	return err
}

func (c clusterClients) Create(ctx context.Context, obj *unstructured.Unstructured) error {
	d, err := c.dynamic()
	if err != nil {
		return err
	}
	_, err = d.Resource(streamGVR).Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{})
	return err
}

func (c clusterClients) Location(ctx context.Context, namespace, name string) (*velerov1.BackupStorageLocation, error) {
	d, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	u, err := d.Resource(bslGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	bsl := &velerov1.BackupStorageLocation{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, bsl); err != nil {
		return nil, fmt.Errorf("backup storage location %s/%s: %w", namespace, name, err)
	}
	return bsl, nil
}

func (c clusterClients) SecretKey(ctx context.Context, namespace, name, key string) ([]byte, bool, error) {
	if c.set == nil {
		return nil, false, errNoClients
	}
	k, err := c.set.Kube()
	if err != nil {
		return nil, false, err
	}
	s, err := k.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	data, ok := s.Data[key]
	return data, ok, nil
}

func (c clusterClients) BackupLocation(ctx context.Context, namespace, backup string) (string, error) {
	d, err := c.dynamic()
	if err != nil {
		return "", err
	}
	u, err := d.Resource(backupGVR).Namespace(namespace).Get(ctx, backup, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	loc, _, err := unstructuredString(u.Object, "spec", "storageLocation")
	return loc, err
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	parent, found, err := fields.NestedObject(obj, "", path[:len(path)-1]...)
	if err != nil || !found {
		return "", false, err
	}
	s, err := fields.String(parent, path[len(path)-1], strings.Join(path[:len(path)-1], "."))
	return s, s != "", err
}

// stores opens each location's store once per process (one backup or restore).
type stores struct {
	mu   sync.Mutex
	open map[string]*imagecopy.Store
}

func (s *stores) get(ctx context.Context, c Cluster, e Engine, namespace, name string, log logrus.FieldLogger) (*imagecopy.Store, error) {
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.open[key]; ok {
		return st, nil
	}
	bsl, err := c.Location(ctx, namespace, name)
	if err != nil {
		return nil, fmt.Errorf("backup storage location %s: %w", key, err)
	}
	creds, err := locationCredential(ctx, c, bsl)
	if err != nil {
		return nil, err
	}
	st, err := e.OpenStore(ctx, bsl, creds, log)
	if err != nil {
		return nil, err
	}
	if s.open == nil {
		s.open = map[string]*imagecopy.Store{}
	}
	s.open[key] = st
	return st, nil
}

// openRegistry opens the internal registry at host as the plugin config says, warning when its
// certificate is not to be verified.
func openRegistry(e Engine, host string, cfg config.Config, log logrus.FieldLogger) (*imagecopy.Registry, error) {
	if cfg.ImageRegistryInsecureSkipTLSVerify {
		log.Warnf("image copy: the certificate of registry %s is not verified (plugin config %s)", host, config.KeyImageRegistryInsecureSkipTLSVerify)
	}
	reg, err := e.OpenRegistry(host, cfg.ImageRegistryInsecureSkipTLSVerify)
	if err != nil {
		return nil, fmt.Errorf("image copy: %w", err)
	}
	return reg, nil
}

package imagecopy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	awss3 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	// The storage drivers a location can select, registered with distribution's driver factory.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/azure"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/gcs"
	s3driver "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
)

// ImagesDir is the folder under the location's prefix that holds the image store, so images
// never collide with Velero's own objects (backups/, restores/, kopia/, ...). It is inside
// plugins/, the one top-level folder Velero reserves for plugins: Velero accepts nothing but its
// own top-level folders under a location's prefix (backups, restores, restic, kopia, metadata,
// plugins) and marks a location holding any other one Unavailable ("Backup store contains
// invalid top-level directories"), after which it refuses backups to it and syncs none from it.
const ImagesDir = "plugins/openshift-velero-plugin/images"

// ProviderFilesystem selects a local directory instead of an object store: config "path" is the
// base directory; the store lives in <path>/<bucket>/<prefix>/<ImagesDir>. For tests and local use.
const ProviderFilesystem = "filesystem"

// Store is an image store inside a backup storage location: distribution's registry storage
// layer over the location's storage driver, used in-process (no server). It is safe for
// concurrent use.
type Store struct {
	desc   string // the location, for errors and logs; never credentials
	driver storagedriver.StorageDriver
	ns     distribution.Namespace
	log    logrus.FieldLogger

	// direct: blobs with a known digest are streamed straight to their final path (see
	// directWrites) instead of through distribution's upload-then-move blob writer.
	direct bool

	mu    sync.Mutex
	known map[digest.Digest]reference.Named // blobs this process wrote or saw, by repository

	// location is a driver rooted at the location's prefix (OpenStore only), for Velero's own
	// objects under backups/; s3Bucket and s3Root (the store's key prefix) locate unfinished
	// multipart uploads.
	location         storagedriver.StorageDriver
	s3Bucket, s3Root string

	written atomic.Int64
}

// StoreOptions are what OpenStore needs besides the location object.
type StoreOptions struct {
	// Credentials is the content of the location's credential (the secret key Velero passes to
	// its object store plugin): an AWS shared credentials file (profile from config "profile",
	// default "default"), an Azure env-style file, or a GCP service account JSON key. Empty means
	// the provider's default credential chain.
	Credentials []byte
	// Log receives progress and warnings; nil discards.
	Log logrus.FieldLogger
	// DriverParameters are extra storage driver parameters, overriding the derived ones (for
	// example "chunksize" for S3). Credentials do not belong here.
	DriverParameters map[string]any
	// WrapDriver, if set, wraps the storage driver (instrumentation, tests).
	WrapDriver func(storagedriver.StorageDriver) storagedriver.StorageDriver
}

// OpenStore opens the image store of a backup storage location and checks that it is reachable
// with the given credentials. Errors name the location.
func OpenStore(ctx context.Context, bsl *velerov1.BackupStorageLocation, opts StoreOptions) (*Store, error) {
	desc := describeLocation(bsl)
	cfg, err := driverConfig(bsl, opts.Credentials)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	if cfg.s3 != nil {
		if err := cfg.s3.prepare(ctx, cfg.params, opts.Log); err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
	}
	for k, v := range opts.DriverParameters {
		cfg.params[k] = v
	}
	drv, err := factory.Create(ctx, cfg.driver, cfg.params)
	if err != nil {
		return nil, fmt.Errorf("%s: opening %s storage driver: %w", desc, cfg.driver, err)
	}
	if cfg.s3 != nil {
		if err := cfg.s3.apply(drv); err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
	}
	if opts.WrapDriver != nil {
		drv = opts.WrapDriver(drv)
	}
	s, err := NewStore(ctx, desc, drv, opts.Log)
	if err != nil {
		return nil, err
	}
	// The location's own objects, read-only: the same driver rooted at the prefix.
	locParams := map[string]any{}
	for k, v := range cfg.params {
		locParams[k] = v
	}
	locParams["rootdirectory"] = cfg.locationRoot
	loc, err := factory.Create(ctx, cfg.driver, locParams)
	if err != nil {
		return nil, fmt.Errorf("%s: opening %s storage driver: %w", desc, cfg.driver, err)
	}
	if cfg.s3 != nil {
		if err := cfg.s3.apply(loc); err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
		s.s3Bucket = bsl.Spec.ObjectStorage.Bucket
		s.s3Root = strings.TrimPrefix(path.Join("/", bsl.Spec.ObjectStorage.Prefix, ImagesDir), "/") + "/"
	}
	s.location = loc
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// NewStore wraps any distribution storage driver (rooted where the images go) as a Store.
// desc names it in errors and logs.
func NewStore(ctx context.Context, desc string, drv storagedriver.StorageDriver, log logrus.FieldLogger) (*Store, error) {
	if log == nil {
		l := logrus.New()
		l.Out = io.Discard
		log = l
	}
	ns, err := storage.NewRegistry(ctx, drv,
		// Hash state is kept in memory while a blob streams; storing it in the driver for
		// resumable uploads costs requests and is never used by a single-pass copy.
		storage.DisableDigestResumption,
		// An index is refused unless every image it lists is stored.
		storage.EnableValidateImageIndexImagesExist,
	)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	return &Store{desc: desc, driver: drv, ns: ns, log: log, direct: directWrites(drv), known: map[digest.Digest]reference.Named{}}, nil
}

// String describes the location (provider, bucket, prefix, endpoint), never credentials.
func (s *Store) String() string { return s.desc }

// Check lists the store's root: it fails on wrong credentials, a missing bucket or an
// unreachable endpoint, with an error naming the location.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.driver.List(ctx, "/")
	if ignoreNotFound(err) != nil {
		return fmt.Errorf("%s: cannot access the image store: %w", s.desc, err)
	}
	return nil
}

// Image names an image in the store: repo is "namespace/name", ref a tag or a digest
// ("sha256:..."), or "" for "latest".
func (s *Store) Image(repo, ref string) (Image, error) {
	str := repo
	switch {
	case ref == "":
	case strings.Contains(ref, ":"):
		str += "@" + ref
	default:
		str += ":" + ref
	}
	r, err := s.parseRef(str)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", s.desc, err)
	}
	return Image{ref: r, sys: hermeticSystemContext(), where: s.desc, name: str, store: s}, nil
}

// Resolve returns the manifest digest an image in the store has (its tag's target), or an error
// if it is not stored.
func (s *Store) Resolve(ctx context.Context, img Image) (digest.Digest, error) {
	r, ok := img.ref.(storeRef)
	if !ok || r.store != s {
		return "", fmt.Errorf("%s is not in %s", img, s.desc)
	}
	repo, err := r.repository(ctx)
	if err != nil {
		return "", err
	}
	d, err := r.resolve(ctx, repo)
	if err != nil {
		return "", fmt.Errorf("%s: %w", img, err)
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return "", err
	}
	ok, err = ms.Exists(ctx, d)
	if err != nil {
		return "", fmt.Errorf("%s: %w", img, err)
	}
	if !ok {
		return "", fmt.Errorf("%s: manifest %s not stored", img, d)
	}
	return d, nil
}

// BytesWritten is the number of blob bytes this Store uploaded since it was opened.
func (s *Store) BytesWritten() int64 { return s.written.Load() }

func (s *Store) addWritten(n int64) { s.written.Add(n) }

func (s *Store) noteBlob(d digest.Digest, repo reference.Named) {
	s.mu.Lock()
	s.known[d] = repo
	s.mu.Unlock()
}

// linkExisting makes a blob the store already holds for another repository part of repo,
// without uploading it. With a repository known (in this process) to hold it, that is
// distribution's cross-repository mount. Otherwise, if the store has the blob at all (from an
// earlier backup), it is linked into repo with linkStored. It reports false when the store does
// not have the blob.
func (s *Store) linkExisting(ctx context.Context, repo distribution.Repository, d digest.Digest) (imgspecv1.Descriptor, bool, error) {
	s.mu.Lock()
	from, ok := s.known[d]
	s.mu.Unlock()
	if ok && from.Name() != repo.Named().Name() {
		if canonical, err := reference.WithDigest(from, d); err == nil {
			bw, err := repo.Blobs(ctx).Create(ctx, storage.WithMountFrom(canonical))
			var mounted distribution.ErrBlobMounted
			switch {
			case errors.As(err, &mounted):
				s.noteBlob(d, repo.Named())
				return mounted.Descriptor, true, nil
			case err != nil:
				return imgspecv1.Descriptor{}, false, fmt.Errorf("mounting blob %s from %s: %w", d, from.Name(), err)
			default: // the source repository no longer has it
				_ = bw.Cancel(context.WithoutCancel(ctx))
			}
		}
	}
	desc, err := s.ns.BlobStatter().Stat(ctx, d)
	if err != nil {
		if errors.Is(err, distribution.ErrBlobUnknown) {
			return imgspecv1.Descriptor{}, false, nil
		}
		return imgspecv1.Descriptor{}, false, fmt.Errorf("checking blob %s: %w", d, err)
	}
	if err := linkStored(ctx, repo, desc); err != nil {
		return imgspecv1.Descriptor{}, false, err
	}
	s.noteBlob(d, repo.Named())
	return desc, true, nil
}

// linkStored links a blob whose bytes are in the store's global blob store (desc as the store's
// BlobStatter reports it) into repo, with distribution's own API for that: a cross-repository
// mount whose source descriptor is given (distribution.CreateOptions.Mount.Stat), for which
// linkedBlobStore.Create skips the source repository check, writes the repository's link
// (_layers/<algorithm>/<hex>/link) and reports distribution.ErrBlobMounted.
func linkStored(ctx context.Context, repo distribution.Repository, desc imgspecv1.Descriptor) error {
	self, err := reference.WithDigest(repo.Named(), desc.Digest)
	if err != nil {
		return err
	}
	bw, err := repo.Blobs(ctx).Create(ctx, mountStored{from: self, desc: desc})
	var mounted distribution.ErrBlobMounted
	switch {
	case errors.As(err, &mounted):
		return nil
	case err != nil:
		return fmt.Errorf("linking blob %s into %s: %w", desc.Digest, repo.Named().Name(), err)
	default:
		// Writing the link failed and distribution fell back to starting an upload (it does not
		// return the mount's error).
		_ = bw.Cancel(context.WithoutCancel(ctx))
		return fmt.Errorf("linking blob %s into %s failed", desc.Digest, repo.Named().Name())
	}
}

// mountStored is a distribution.BlobCreateOption: storage.WithMountFrom plus the descriptor of
// the stored blob, which the caller has checked.
type mountStored struct {
	from reference.Canonical
	desc imgspecv1.Descriptor
}

func (m mountStored) Apply(v any) error {
	opts, ok := v.(*distribution.CreateOptions)
	if !ok {
		return fmt.Errorf("unexpected blob create options type %T", v)
	}
	opts.Mount.ShouldMount = true
	opts.Mount.From = m.from
	opts.Mount.Stat = &m.desc
	return nil
}

// directWrites reports whether blobs may be written straight to their final path with the
// driver's writer: only if nothing appears at the path before Commit and Cancel leaves an object
// already there (the same blob, stored earlier or concurrently) alone. S3's multipart upload does
// both. The filesystem driver truncates and writes the final file in place, Azure's deletes the
// blob and appends to a new one that is visible while it grows, and GCS's Cancel deletes the
// object: those keep distribution's blob writer (upload, then move).
func directWrites(drv storagedriver.StorageDriver) bool {
	return drv.Name() == "s3aws"
}

// blobDataPath is where distribution keeps a blob's bytes in the storage driver:
// /docker/registry/v2/blobs/<algorithm>/<first two hex digits>/<hex>/data (blobDataPathSpec in
// distribution's registry/storage/paths.go; the package does not export its path mapper).
// putBlobDirect checks each blob it writes through distribution's blob statter before linking
// it, so a change of layout fails the copy instead of storing blobs where nobody looks.
func blobDataPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	hex := d.Encoded()
	return path.Join("/docker/registry/v2/blobs", d.Algorithm().String(), hex[:2], hex, "data"), nil
}

// putBlobDirect stores a blob whose digest is known (and size, if size >= 0) and links it into
// repo. The bytes stream straight to the blob's final path through the driver's writer, hashed on
// the way; the writer is committed only when digest and size match, and cancelled otherwise (on
// S3 the multipart upload is completed or aborted: the object appears whole or not at all, and
// an object already at the path is left alone). Then the blob is checked through distribution's
// blob statter and linked into the repository. Unlike distribution's blob writer, which uploads
// to _uploads/<id>/data and moves the result (on S3 a server-side copy and a delete), every byte
// is written once. Only for stores where directWrites holds.
func (s *Store) putBlobDirect(ctx context.Context, repo distribution.Repository, stream io.Reader, want digest.Digest, size int64) (imgspecv1.Descriptor, error) {
	p, err := blobDataPath(want)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("blob digest %q: %w", want, err)
	}
	fw, err := s.driver.Writer(ctx, p, false)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("starting upload of blob %s: %w", want, err)
	}
	committed := false
	defer func() {
		if !committed {
			if cerr := fw.Cancel(context.WithoutCancel(ctx)); cerr != nil {
				s.log.WithError(cerr).WithField("blob", want).Debug("cancelling blob upload")
			}
		}
	}()
	digester := want.Algorithm().Digester()
	src := stream
	if size >= 0 {
		src = io.LimitReader(stream, size+1) // one byte too many is enough to refuse it
	}
	n, err := io.Copy(fw, io.TeeReader(src, digester.Hash()))
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("storing blob %s: %w", want, err)
	}
	if size >= 0 && n != size {
		return imgspecv1.Descriptor{}, fmt.Errorf("storing blob %s: read %d bytes, expected %d", want, n, size)
	}
	if got := digester.Digest(); got != want {
		return imgspecv1.Descriptor{}, distribution.ErrBlobInvalidDigest{Digest: want, Reason: fmt.Errorf("the content's digest is %s", got)}
	}
	if err := fw.Commit(ctx); err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("committing blob %s: %w", want, err)
	}
	committed = true
	_ = fw.Close() // returns the writer's buffer; nothing is left to write
	desc, err := s.ns.BlobStatter().Stat(ctx, want)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("blob %s after upload: %w", want, err)
	}
	if desc.Size != n {
		return imgspecv1.Descriptor{}, fmt.Errorf("blob %s after upload: %d bytes stored, %d written", want, desc.Size, n)
	}
	if err := linkStored(ctx, repo, desc); err != nil {
		return imgspecv1.Descriptor{}, err
	}
	return desc, nil
}

// ---------------------------------------------------------------- location -> driver

func describeLocation(bsl *velerov1.BackupStorageLocation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "backup storage location %s/%s (%s", bsl.Namespace, bsl.Name, bsl.Spec.Provider)
	if obj := bsl.Spec.ObjectStorage; obj != nil {
		fmt.Fprintf(&b, ", bucket %q", obj.Bucket)
		if obj.Prefix != "" {
			fmt.Fprintf(&b, ", prefix %q", obj.Prefix)
		}
	}
	for _, k := range []string{"s3Url", "storageAccount", "storageAccountURI", "path"} {
		if v := bsl.Spec.Config[k]; v != "" {
			fmt.Fprintf(&b, ", %s %s", k, v)
		}
	}
	b.WriteString(")")
	return b.String()
}

type driverCfg struct {
	driver string
	params map[string]any
	s3     *s3Fixups
	// locationRoot is the "rootdirectory" of the location's prefix (the store is ImagesDir below).
	locationRoot string
}

// driverConfig maps a location to a distribution storage driver and its parameters.
func driverConfig(bsl *velerov1.BackupStorageLocation, creds []byte) (driverCfg, error) {
	cfg, err := driverConfigOf(bsl, creds)
	if err == nil {
		cfg.locationRoot = path.Join("/", bsl.Spec.ObjectStorage.Prefix)
		if cfg.driver == "filesystem" {
			cfg.locationRoot = filepath.Join(bsl.Spec.Config["path"], bsl.Spec.ObjectStorage.Bucket, filepath.FromSlash(cfg.locationRoot))
		}
	}
	return cfg, err
}

func driverConfigOf(bsl *velerov1.BackupStorageLocation, creds []byte) (driverCfg, error) {
	obj := bsl.Spec.ObjectStorage
	if obj == nil || obj.Bucket == "" {
		return driverCfg{}, errors.New("no objectStorage bucket")
	}
	root := path.Join("/", obj.Prefix, ImagesDir)
	config := bsl.Spec.Config
	provider := strings.TrimPrefix(bsl.Spec.Provider, "velero.io/")
	switch provider {
	case "aws":
		return awsConfig(obj, root, config, creds)
	case "azure":
		return azureConfig(obj, root, config, creds)
	case "gcp":
		p := map[string]any{"bucket": obj.Bucket, "rootdirectory": root}
		if len(bytes.TrimSpace(creds)) > 0 {
			var key map[string]any
			if err := json.Unmarshal(creds, &key); err != nil {
				return driverCfg{}, errors.New("credentials are not a GCP service account JSON key")
			}
			m := make(map[any]any, len(key)) // the driver wants a YAML-style map
			for k, v := range key {
				m[k] = v
			}
			p["credentials"] = m
		}
		return driverCfg{driver: "gcs", params: p}, nil
	case ProviderFilesystem:
		base := config["path"]
		if base == "" {
			return driverCfg{}, errors.New(`provider filesystem needs config "path"`)
		}
		return driverCfg{driver: "filesystem", params: map[string]any{
			"rootdirectory": filepath.Join(base, obj.Bucket, filepath.FromSlash(root)),
		}}, nil
	default:
		return driverCfg{}, fmt.Errorf("provider %q is not supported for image copy (aws, azure, gcp, %s)", bsl.Spec.Provider, ProviderFilesystem)
	}
}

func awsConfig(obj *velerov1.ObjectStorageLocation, root string, config map[string]string, creds []byte) (driverCfg, error) {
	// Parts of 5 MiB (S3's minimum, distribution's default is 10): the driver buffers one part
	// per blob being uploaded, and measured throughput did not change.
	p := map[string]any{"bucket": obj.Bucket, "rootdirectory": root, "chunksize": 5 << 20}
	fix := &s3Fixups{bucket: obj.Bucket}
	region, endpoint := config["region"], config["s3Url"]
	if endpoint != "" {
		if region == "" {
			region = "us-east-1"
		}
	} else {
		endpoint = endpointFromEnv("S3")
	}
	if endpoint != "" {
		p["regionendpoint"] = endpoint
	}
	// Without a region (and without s3Url) the bucket's region is asked when the store opens.
	fix.endpoint, fix.region = endpoint, region
	if region != "" {
		p["region"] = region
	}
	for key, param := range map[string]string{"s3ForcePathStyle": "forcepathstyle", "insecureSkipTLSVerify": "skipverify"} {
		if v := config[key]; v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return driverCfg{}, fmt.Errorf("config %q: %w", key, err)
			}
			p[param] = b
			if param == "skipverify" {
				fix.skipVerify = b
			}
		}
	}
	switch sse := config["serverSideEncryption"]; sse {
	case "":
	case "AES256":
		p["encrypt"] = true
	case "aws:kms":
		p["encrypt"] = true
		p["keyid"] = config["kmsKeyId"]
	default:
		return driverCfg{}, fmt.Errorf("config serverSideEncryption %q is not supported", sse)
	}
	if len(bytes.TrimSpace(creds)) > 0 {
		profile := config["profile"]
		if profile == "" {
			profile = "default"
		}
		c, err := sharedCredentials(creds, profile)
		if err != nil {
			return driverCfg{}, err
		}
		if c.tokenFile != "" {
			fix.webIdentity = &webIdentity{roleARN: c.roleARN, tokenFile: c.tokenFile, sessionName: c.sessionName,
				from: fmt.Sprintf("credentials profile %q", profile)}
		} else {
			p["accesskey"], p["secretkey"] = c.id, c.secret
			fix.sessionToken = c.token
			if fix.sessionToken != "" {
				fix.creds = credentials.NewStaticCredentials(c.id, c.secret, c.token)
			}
		}
	} else {
		wi, err := webIdentityFromEnv()
		if err != nil {
			return driverCfg{}, err
		}
		fix.webIdentity = wi
	}
	if len(obj.CACert) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(obj.CACert) {
			return driverCfg{}, errors.New("objectStorage.caCert holds no PEM certificate")
		}
		fix.roots = pool
	}
	if v, ok := config["checksumAlgorithm"]; ok && v == "" {
		// Velero's AWS plugin sends no checksums then; neither do we (the SDK's Content-MD5 on
		// every part costs a full MD5 pass; TLS and the signed payload SHA-256 protect the data).
		fix.noContentMD5 = true
	}
	return driverCfg{driver: "s3aws", params: p, s3: fix}, nil
}

func azureConfig(obj *velerov1.ObjectStorageLocation, root string, config map[string]string, creds []byte) (driverCfg, error) {
	env := envFile(creds)
	account := config["storageAccount"]
	if account == "" {
		return driverCfg{}, errors.New(`config "storageAccount" is required`)
	}
	p := map[string]any{"accountname": account, "container": obj.Bucket, "rootdirectory": root}
	if u := config["storageAccountURI"]; u != "" {
		p["serviceurl"] = u
	}
	switch env["AZURE_CLOUD_NAME"] {
	case "AzureChinaCloud":
		p["realm"] = "core.chinacloudapi.cn"
	case "AzureUSGovernmentCloud":
		p["realm"] = "core.usgovcloudapi.net"
	}
	if v := config["insecureSkipTLSVerify"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return driverCfg{}, fmt.Errorf(`config "insecureSkipTLSVerify": %w`, err)
		}
		p["skipverify"] = b
	}
	keyVar := config["storageAccountKeyEnvVar"]
	switch {
	case keyVar != "":
		key := env[keyVar]
		if key == "" {
			return driverCfg{}, fmt.Errorf("credentials have no %s (config storageAccountKeyEnvVar)", keyVar)
		}
		p["accountkey"] = key
		p["credentials"] = map[string]any{"type": "shared_key"}
	case env["AZURE_CLIENT_SECRET"] != "":
		for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID"} {
			if env[k] == "" {
				return driverCfg{}, fmt.Errorf("credentials have AZURE_CLIENT_SECRET but no %s", k)
			}
		}
		p["credentials"] = map[string]any{
			"type": "client_secret", "clientid": env["AZURE_CLIENT_ID"],
			"tenantid": env["AZURE_TENANT_ID"], "secret": env["AZURE_CLIENT_SECRET"],
		}
	default:
		// azidentity's default chain: environment, workload identity, managed identity.
		if err := checkWorkloadIdentity(env); err != nil {
			return driverCfg{}, err
		}
		p["credentials"] = map[string]any{"type": "default_credentials"}
	}
	return driverCfg{driver: "azure", params: p}, nil
}

// awsCreds is a profile's static keys, or its web identity (role_arn and web_identity_token_file).
type awsCreds struct{ id, secret, token, roleARN, tokenFile, sessionName string }

// sharedCredentials reads one profile of an AWS shared credentials (or config) file: static keys,
// or a web identity (role_arn with web_identity_token_file, as OpenShift's STS mode writes it),
// which wins over keys in the same profile. Other ways of assuming a role (source_profile,
// credential_source) are refused by name rather than signing with the keys as someone else.
func sharedCredentials(data []byte, profile string) (awsCreds, error) {
	var c awsCreds
	section, found := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line[1:len(line)-1]), "profile "))
			found = found || section == profile
			continue
		}
		if section != profile {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			c.id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.secret = strings.TrimSpace(v)
		case "aws_session_token":
			c.token = strings.TrimSpace(v)
		case "role_arn":
			c.roleARN = strings.TrimSpace(v)
		case "web_identity_token_file":
			c.tokenFile = strings.TrimSpace(v)
		case "role_session_name":
			c.sessionName = strings.TrimSpace(v)
		}
	}
	switch {
	case !found:
		return c, fmt.Errorf("credentials have no profile %q", profile)
	case c.tokenFile != "" && c.roleARN == "":
		return c, fmt.Errorf("credentials profile %q has web_identity_token_file but no role_arn (web identity needs both)", profile)
	case c.tokenFile != "":
		return c, nil
	case c.roleARN != "":
		return c, fmt.Errorf("credentials profile %q has role_arn without web_identity_token_file: image copy assumes a role only with a web identity token (role_arn with web_identity_token_file), not from source_profile or credential_source", profile)
	case c.id == "" || c.secret == "":
		return c, fmt.Errorf("credentials profile %q has neither aws_access_key_id and aws_secret_access_key nor role_arn and web_identity_token_file", profile)
	}
	return c, nil
}

// envFile parses KEY=VALUE lines (Velero's Azure credentials format).
func envFile(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return out
}

// s3Fixups are settings distribution's S3 driver has no parameter for: the bucket's region when
// the location names none (asked by prepare, s3auth.go), a CA bundle (only "skipverify"
// exists), a session token (the parameter is ignored), web identity credentials and turning off
// Content-MD5. Those of the client are applied to the driver's AWS client after creation.
type s3Fixups struct {
	bucket       string
	endpoint     string // s3Url or the environment's S3 endpoint; "" for AWS
	region       string // "" until asked
	roots        *x509.CertPool
	skipVerify   bool
	sessionToken string
	creds        *credentials.Credentials
	webIdentity  *webIdentity
	noContentMD5 bool

	clientOnce sync.Once
	client     *http.Client
}

func (f *s3Fixups) apply(drv storagedriver.StorageDriver) error {
	if f.roots == nil && f.creds == nil && !f.noContentMD5 {
		return nil
	}
	d, ok := drv.(*s3driver.Driver)
	if !ok {
		return fmt.Errorf("unexpected S3 driver type %T", drv)
	}
	client, err := s3Client(d)
	if err != nil {
		return err
	}
	if f.roots != nil {
		client.Config.HTTPClient = f.httpClient()
	}
	if f.creds != nil {
		client.Config.Credentials = f.creds
	}
	if f.noContentMD5 {
		// Only for data uploads: DeleteObjects (used by the driver's Delete) requires Content-MD5.
		client.Handlers.Build.PushFront(func(r *request.Request) {
			if r.Operation.Name == "UploadPart" || r.Operation.Name == "PutObject" {
				r.Config.S3DisableContentMD5Validation = aws.Bool(true)
			}
		})
	}
	return nil
}

// s3Client digs the AWS client out of distribution's S3 driver: Driver embeds base.Base, whose
// StorageDriver is the unexported *driver with the exported field S3.
func s3Client(d *s3driver.Driver) (*awss3.S3, error) {
	v := reflect.ValueOf(d.Base.StorageDriver)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("S3"); f.IsValid() && f.CanInterface() {
			if c, ok := f.Interface().(*awss3.S3); ok && c != nil {
				return c, nil
			}
		}
	}
	return nil, errors.New("cannot configure the S3 client (distribution's S3 driver changed): caCert and session tokens are unsupported")
}

package imagecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	imgspecv1 "github.com/opencontainers/image-spec/specs-go/v1"
	dockerref "go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/types"
)

// This file is containers/image's public transport interfaces (ImageTransport, ImageReference,
// ImageSource, ImageDestination) implemented directly over a distribution storage layer
// (repositories' blobs, manifests and tags) -- no HTTP anywhere. Layers stream into the storage
// driver (see PutBlob); their digest and size are checked before they are committed.

// storeTransport is the transport of one Store: references parsed by it name images in that
// store. It is not registered globally (copy.Image does not need that).
type storeTransport struct{ store *Store }

func (t storeTransport) Name() string { return "velero-bsl" }

// ParseReference parses "repo:tag", "repo@sha256:..." or "repo" (tag latest).
func (t storeTransport) ParseReference(s string) (types.ImageReference, error) {
	return t.store.parseRef(s)
}

func (t storeTransport) ValidatePolicyConfigurationScope(string) error { return nil }

// storeRef names one image in a Store: a repository and a tag and/or a digest.
type storeRef struct {
	store  *Store
	named  reference.Named // repository name only, as distribution stores it
	tag    string          // "" if none
	digest digest.Digest   // "" if none
}

func (s *Store) parseRef(str string) (storeRef, error) {
	ref, err := reference.Parse(str)
	if err != nil {
		return storeRef{}, fmt.Errorf("image reference %q: %w", str, err)
	}
	named, ok := ref.(reference.Named)
	if !ok {
		return storeRef{}, fmt.Errorf("image reference %q: no repository name", str)
	}
	r := storeRef{store: s, named: reference.TrimNamed(named)}
	if t, ok := ref.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := ref.(reference.Digested); ok {
		r.digest = d.Digest()
	}
	if r.tag == "" && r.digest == "" {
		r.tag = "latest"
	}
	return r, nil
}

func (r storeRef) Transport() types.ImageTransport { return storeTransport{r.store} }

func (r storeRef) StringWithinTransport() string {
	s := r.named.Name()
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest.String()
	}
	return s
}

// DockerReference is nil: a store image has no registry host, and inventing one would mislead
// signature identity checks.
func (r storeRef) DockerReference() dockerref.Named { return nil }

func (r storeRef) PolicyConfigurationIdentity() string { return r.StringWithinTransport() }

func (r storeRef) PolicyConfigurationNamespaces() []string {
	var out []string
	name := r.named.Name()
	for {
		out = append(out, name)
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return out
		}
		name = name[:i]
	}
}

func (r storeRef) NewImage(ctx context.Context, sys *types.SystemContext) (_ types.ImageCloser, err error) {
	defer catch(&err)
	src, err := r.NewImageSource(ctx, sys)
	if err != nil {
		return nil, err
	}
	return image.FromSource(ctx, sys, src)
}

func (r storeRef) repository(ctx context.Context) (distribution.Repository, error) {
	return r.store.ns.Repository(ctx, r.named)
}

func (r storeRef) NewImageSource(ctx context.Context, _ *types.SystemContext) (_ types.ImageSource, err error) {
	defer catch(&err)
	repo, err := r.repository(ctx)
	if err != nil {
		return nil, err
	}
	return &storeSource{ref: r, repo: repo}, nil
}

func (r storeRef) NewImageDestination(ctx context.Context, _ *types.SystemContext) (_ types.ImageDestination, err error) {
	defer catch(&err)
	repo, err := r.repository(ctx)
	if err != nil {
		return nil, err
	}
	return &storeDestination{ref: r, repo: repo}, nil
}

func (r storeRef) DeleteImage(context.Context, *types.SystemContext) error {
	return errors.New("deleting images from a backup storage location is not supported")
}

// resolve returns the digest of the manifest the reference names: its digest, else its tag's.
func (r storeRef) resolve(ctx context.Context, repo distribution.Repository) (digest.Digest, error) {
	if r.digest != "" {
		return r.digest, nil
	}
	desc, err := repo.Tags(ctx).Get(ctx, r.tag)
	if err != nil {
		return "", fmt.Errorf("tag %s:%s: %w", r.named.Name(), r.tag, err)
	}
	return desc.Digest, nil
}

// ---------------------------------------------------------------- source

type storeSource struct {
	ref  storeRef
	repo distribution.Repository
}

func (s *storeSource) Reference() types.ImageReference { return s.ref }
func (s *storeSource) Close() error                    { return nil }

func (s *storeSource) GetManifest(ctx context.Context, instanceDigest *digest.Digest) (_ []byte, _ string, err error) {
	defer catch(&err)
	var dgst digest.Digest
	if instanceDigest != nil {
		dgst = *instanceDigest
	} else {
		var err error
		if dgst, err = s.ref.resolve(ctx, s.repo); err != nil {
			return nil, "", err
		}
	}
	ms, err := s.repo.Manifests(ctx)
	if err != nil {
		return nil, "", err
	}
	m, err := ms.Get(ctx, dgst)
	if err != nil {
		return nil, "", fmt.Errorf("manifest %s@%s: %w", s.ref.named.Name(), dgst, err)
	}
	mt, payload, err := m.Payload()
	if err != nil {
		return nil, "", err
	}
	return payload, mt, nil
}

// GetBlob opens the blob for streaming; nothing is read into memory. containers/image reads it in
// goroutines of its own: a panic in the storage driver's reads is a read error (safeReader).
func (s *storeSource) GetBlob(ctx context.Context, info types.BlobInfo, _ types.BlobInfoCache) (_ io.ReadCloser, _ int64, err error) {
	defer catch(&err)
	blobs := s.repo.Blobs(ctx)
	desc, err := blobs.Stat(ctx, info.Digest)
	if err != nil {
		return nil, -1, fmt.Errorf("blob %s in %s: %w", info.Digest, s.ref.named.Name(), err)
	}
	rc, err := blobs.Open(ctx, info.Digest)
	if err != nil {
		return nil, -1, fmt.Errorf("blob %s in %s: %w", info.Digest, s.ref.named.Name(), err)
	}
	return safeReader{rc}, desc.Size, nil
}

// safeReader turns a panic while reading or closing into an error.
type safeReader struct{ io.ReadCloser }

func (r safeReader) Read(p []byte) (n int, err error) {
	defer catch(&err)
	return r.ReadCloser.Read(p)
}

func (r safeReader) Close() (err error) {
	defer catch(&err)
	return r.ReadCloser.Close()
}

func (s *storeSource) HasThreadSafeGetBlob() bool { return true }

func (s *storeSource) GetSignatures(context.Context, *digest.Digest) ([][]byte, error) {
	return nil, nil
}

func (s *storeSource) LayerInfosForCopy(context.Context, *digest.Digest) ([]types.BlobInfo, error) {
	return nil, nil
}

// ---------------------------------------------------------------- destination

type storeDestination struct {
	ref  storeRef
	repo distribution.Repository
	// top is the digest of the last manifest written without an instance digest: the image
	// (or manifest list) the reference's tag points to after Commit.
	top digest.Digest
}

func (d *storeDestination) Reference() types.ImageReference { return d.ref }
func (d *storeDestination) Close() error                    { return nil }

func (d *storeDestination) SupportedManifestMIMETypes() []string {
	return []string{
		imgspecv1.MediaTypeImageManifest,
		imgspecv1.MediaTypeImageIndex,
		manifest.DockerV2Schema2MediaType,
		manifest.DockerV2ListMediaType,
	}
}

func (d *storeDestination) SupportsSignatures(context.Context) error {
	return errors.New("a backup storage location image store does not keep signatures")
}

func (d *storeDestination) DesiredLayerCompression() types.LayerCompression {
	return types.PreserveOriginal
}

func (d *storeDestination) AcceptsForeignLayerURLs() bool        { return false }
func (d *storeDestination) MustMatchRuntimeOS() bool             { return false }
func (d *storeDestination) IgnoresEmbeddedDockerReference() bool { return true }
func (d *storeDestination) HasThreadSafePutBlob() bool           { return true }

// PutBlob streams the blob into the store. With its digest known (always, when copy.Image
// preserves digests) and a store that allows it, the bytes go straight to the blob's final path
// (Store.putBlobDirect); otherwise through distribution's blob writer (putBlobUpload). Either
// way digest and size are checked before the blob becomes visible and before it is linked into
// the repository, and a failed upload is cancelled with a context that is not cancelled, so a
// cancelled copy still cleans up.
func (d *storeDestination) PutBlob(ctx context.Context, stream io.Reader, info types.BlobInfo, _ types.BlobInfoCache, isConfig bool) (_ types.BlobInfo, err error) {
	defer catch(&err)
	if isConfig && info.Digest != "" {
		// copy.Image never asks TryReusingBlob about the config; do not upload it again.
		if ok, reused, err := d.TryReusingBlob(ctx, info, nil, false); err == nil && ok {
			if _, err := io.Copy(io.Discard, stream); err != nil {
				return types.BlobInfo{}, err
			}
			return reused, nil
		}
	}
	store := d.ref.store
	var desc imgspecv1.Descriptor
	if info.Digest != "" && store.direct {
		desc, err = store.putBlobDirect(ctx, d.repo, stream, info.Digest, info.Size)
	} else {
		desc, err = d.putBlobUpload(ctx, stream, info)
	}
	if err != nil {
		return types.BlobInfo{}, err
	}
	store.noteBlob(desc.Digest, d.ref.named)
	store.addWritten(desc.Size)
	return types.BlobInfo{Digest: desc.Digest, Size: desc.Size, MediaType: info.MediaType}, nil
}

// putBlobUpload stores a blob through distribution's blob writer: it tees the bytes into the
// storage driver (at _uploads/<id>/data of the repository) and a digester; Commit checks digest
// and size, moves the data to the blob's final path and links it into the repository.
func (d *storeDestination) putBlobUpload(ctx context.Context, stream io.Reader, info types.BlobInfo) (imgspecv1.Descriptor, error) {
	bw, err := d.repo.Blobs(ctx).Create(ctx)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("starting upload of blob %s: %w", info.Digest, err)
	}
	committed := false
	defer func() {
		if !committed {
			if cerr := bw.Cancel(context.WithoutCancel(ctx)); cerr != nil {
				d.ref.store.log.WithError(cerr).WithField("blob", info.Digest).Debug("cancelling blob upload")
			}
		}
	}()

	var digester digest.Digester
	if info.Digest == "" {
		digester = digest.Canonical.Digester()
		stream = io.TeeReader(stream, digester.Hash())
	}
	n, err := bw.ReadFrom(stream)
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("storing blob %s: %w", info.Digest, err)
	}
	if info.Size >= 0 && n != info.Size {
		return imgspecv1.Descriptor{}, fmt.Errorf("writing blob %s: read %d bytes, expected %d", info.Digest, n, info.Size)
	}
	want := info.Digest
	if digester != nil {
		want = digester.Digest()
	}
	desc, err := bw.Commit(ctx, imgspecv1.Descriptor{Digest: want, Size: n, MediaType: info.MediaType})
	if err != nil {
		return imgspecv1.Descriptor{}, fmt.Errorf("committing blob %s: %w", want, err)
	}
	committed = true
	return desc, nil
}

// TryReusingBlob answers from the store: a blob already linked into the repository is reused; a
// blob the store holds for another repository is linked into this one, so it is never uploaded
// twice.
func (d *storeDestination) TryReusingBlob(ctx context.Context, info types.BlobInfo, _ types.BlobInfoCache, _ bool) (_ bool, _ types.BlobInfo, err error) {
	defer catch(&err)
	if info.Digest == "" {
		return false, types.BlobInfo{}, nil
	}
	blobs := d.repo.Blobs(ctx)
	desc, err := blobs.Stat(ctx, info.Digest)
	switch {
	case err == nil:
		return true, types.BlobInfo{Digest: desc.Digest, Size: desc.Size, MediaType: info.MediaType}, nil
	case !errors.Is(err, distribution.ErrBlobUnknown):
		return false, types.BlobInfo{}, fmt.Errorf("checking blob %s: %w", info.Digest, err)
	}
	desc, ok, err := d.ref.store.linkExisting(ctx, d.repo, info.Digest)
	if err != nil || !ok {
		return false, types.BlobInfo{}, err
	}
	return true, types.BlobInfo{Digest: desc.Digest, Size: desc.Size, MediaType: info.MediaType}, nil
}

// PutManifest stores the manifest bytes unchanged (so the digest is preserved). distribution
// refuses a manifest whose blobs (or, for an index, whose instances) are not in the
// repository, so a stored manifest never points at missing data.
func (d *storeDestination) PutManifest(ctx context.Context, raw []byte, instanceDigest *digest.Digest) (err error) {
	defer catch(&err)
	mt := manifest.GuessMIMEType(raw)
	m, _, err := distribution.UnmarshalManifest(mt, raw)
	if err != nil {
		return types.ManifestTypeRejectedError{Err: fmt.Errorf("manifest type %q: %w", mt, err)}
	}
	ms, err := d.repo.Manifests(ctx)
	if err != nil {
		return err
	}
	dgst, err := ms.Put(ctx, m)
	if err != nil {
		return fmt.Errorf("storing manifest %s: %w", digest.FromBytes(raw), err)
	}
	if instanceDigest == nil {
		d.top = dgst
	}
	return nil
}

func (d *storeDestination) PutSignatures(_ context.Context, sigs [][]byte, _ *digest.Digest) error {
	if len(sigs) > 0 {
		return errors.New("a backup storage location image store does not keep signatures")
	}
	return nil
}

// Commit points the tag (if the reference has one) at the top-level manifest.
func (d *storeDestination) Commit(ctx context.Context, toplevel types.UnparsedImage) (err error) {
	defer catch(&err)
	if d.top == "" {
		// Nothing was written: copy found the image already stored (or the manifest list's
		// instances were all skipped). The tag goes to the source's top-level manifest, which
		// must be in the repository.
		raw, _, err := toplevel.Manifest(ctx)
		if err != nil {
			return err
		}
		if d.top, err = manifest.Digest(raw); err != nil {
			return err
		}
		ms, err := d.repo.Manifests(ctx)
		if err != nil {
			return err
		}
		ok, err := ms.Exists(ctx, d.top)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("manifest %s was neither written nor already stored", d.top)
		}
	}
	if d.ref.digest != "" && d.top != d.ref.digest {
		return fmt.Errorf("stored manifest %s does not match the requested digest %s", d.top, d.ref.digest)
	}
	if d.ref.tag == "" {
		return nil
	}
	return d.repo.Tags(ctx).Tag(ctx, d.ref.tag, imgspecv1.Descriptor{Digest: d.top})
}

package imagecopy

// Reference records: which manifests of which repositories each backup needs, written into the
// image store (through the same storage driver, inside the store root, never as a new top-level
// folder of the location) so that deleting a backup can free exactly what no remaining backup
// needs. The store itself cannot tell: it is content-addressed and shared by every backup.
//
//	/backups/<backup>/<namespace>/<stream>.json   written by the backup, one per image stream
//	/backups/<backup>/derived.json                derived from the backup's contents (legacy backups)
//	/deleted/<backup>/...                         the same records once the backup is deleted
//	                                              (tombstones), until a sweep has freed their images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

const (
	recordsDir    = "/backups"
	tombstonesDir = "/deleted"
	derivedRecord = "derived.json"
	recordVersion = 1
)

// ImageRefs are the manifests of one repository of the store a backup needs (the top-level
// digests: an index's instances and every manifest's blobs follow from the stored manifests).
type ImageRefs struct {
	Repository string          `json:"repository"`
	Manifests  []digest.Digest `json:"manifests"`
}

type recordFile struct {
	Version int         `json:"version"`
	Backup  string      `json:"backup"`
	Images  []ImageRefs `json:"images"`
}

// validName refuses names that could escape their folder of the store.
func validName(kind, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\") {
		return fmt.Errorf("%s name %q is not usable in the image store", kind, s)
	}
	return nil
}

// WriteRecord records that backup needs the manifests of repo ("namespace/name"), replacing the
// record a previous attempt of the same stream wrote.
func (s *Store) WriteRecord(ctx context.Context, backup, repo string, manifests []digest.Digest) error {
	if err := validName("backup", backup); err != nil {
		return err
	}
	ns, name, ok := strings.Cut(repo, "/")
	if !ok {
		return fmt.Errorf("repository %q is not namespace/name", repo)
	}
	for _, part := range []string{ns, name} {
		if err := validName("repository", part); err != nil {
			return err
		}
	}
	p := path.Join(recordsDir, backup, ns, name+".json")
	return s.putRecord(ctx, p, backup, []ImageRefs{{Repository: repo, Manifests: manifests}})
}

func (s *Store) putRecord(ctx context.Context, p, backup string, images []ImageRefs) error {
	for i := range images {
		sort.Slice(images[i].Manifests, func(a, b int) bool { return images[i].Manifests[a] < images[i].Manifests[b] })
	}
	data, err := json.Marshal(recordFile{Version: recordVersion, Backup: backup, Images: images})
	if err != nil {
		return err
	}
	if err := s.driver.PutContent(ctx, p, data); err != nil {
		return fmt.Errorf("%s: writing image reference record %s: %w", s.desc, p, err)
	}
	return nil
}

// HasRecords reports whether backup has reference records (written at backup, or derived).
func (s *Store) HasRecords(ctx context.Context, backup string) (bool, error) {
	files, err := s.recordFiles(ctx, path.Join(recordsDir, backup))
	return len(files) > 0, err
}

// records reads every record file under dir (/backups or /deleted, or one backup's folder),
// by backup.
func (s *Store) records(ctx context.Context, dir string) (map[string][]ImageRefs, map[string][]string, error) {
	files, err := s.recordFiles(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	refs, paths := map[string][]ImageRefs{}, map[string][]string{}
	for _, p := range files {
		data, err := s.driver.GetContent(ctx, p)
		if err != nil {
			if isNotFound(err) {
				continue // deleted since the listing
			}
			return nil, nil, fmt.Errorf("%s: reading image reference record %s: %w", s.desc, p, err)
		}
		var rf recordFile
		if err := json.Unmarshal(data, &rf); err != nil || rf.Version != recordVersion {
			// An unreadable record could be protecting anything: stop rather than free too much.
			return nil, nil, fmt.Errorf("%s: image reference record %s is not readable (version %d): %v", s.desc, p, rf.Version, err)
		}
		b := backupOf(p)
		refs[b] = append(refs[b], rf.Images...)
		paths[b] = append(paths[b], p)
	}
	return refs, paths, nil
}

// backupOf is the backup folder a record path is in: /backups/<backup>/... -> <backup>.
func backupOf(p string) string {
	top := recordsDir
	if strings.HasPrefix(p, tombstonesDir+"/") {
		top = tombstonesDir
	}
	rest := strings.TrimPrefix(p, top+"/")
	b, _, _ := strings.Cut(rest, "/")
	return b
}

// recordFiles lists the .json files under dir; a missing dir is none.
func (s *Store) recordFiles(ctx context.Context, dir string) ([]string, error) {
	var files []string
	err := s.driver.Walk(ctx, dir, func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() && strings.HasSuffix(fi.Path(), ".json") {
			files = append(files, fi.Path())
		}
		return nil
	})
	if ignoreNotFound(err) != nil {
		return nil, fmt.Errorf("%s: listing image reference records under %s: %w", s.desc, dir, err)
	}
	sort.Strings(files)
	return files, nil
}

// RetireBackup turns the records of a deleted backup into tombstones (/deleted/<backup>/...),
// which the next sweep frees. A backup without records (taken before records existed) gets one
// tombstone of what derive says it referenced; derive may be nil (nothing is then known). It
// reports how many records it retired; 0 when there was nothing (already retired).
func (s *Store) RetireBackup(ctx context.Context, backup string, derive func(context.Context) ([]ImageRefs, error)) (int, error) {
	if err := validName("backup", backup); err != nil {
		return 0, err
	}
	dir := path.Join(recordsDir, backup)
	_, paths, err := s.records(ctx, dir)
	if err != nil {
		return 0, err
	}
	files := paths[backup]
	if len(files) == 0 {
		// Legacy backup, or already retired.
		done, err := s.recordFiles(ctx, path.Join(tombstonesDir, backup))
		if err != nil || len(done) > 0 || derive == nil {
			return 0, err
		}
		refs, err := derive(ctx)
		if err != nil {
			return 0, err
		}
		if len(refs) == 0 {
			return 0, nil
		}
		return 1, s.putRecord(ctx, path.Join(tombstonesDir, backup, derivedRecord), backup, refs)
	}
	// Copy every record first, then delete the folder: interrupted, both exist, and the sweep
	// treats the records of the backup being deleted as tombstones anyway.
	for _, p := range files {
		data, err := s.driver.GetContent(ctx, p)
		if err != nil {
			return 0, fmt.Errorf("%s: reading image reference record %s: %w", s.desc, p, err)
		}
		to := path.Join(tombstonesDir, strings.TrimPrefix(p, recordsDir+"/"))
		if err := s.driver.PutContent(ctx, to, data); err != nil {
			return 0, fmt.Errorf("%s: writing %s: %w", s.desc, to, err)
		}
	}
	if err := ignoreNotFound(s.driver.Delete(ctx, dir)); err != nil {
		return 0, fmt.Errorf("%s: deleting %s: %w", s.desc, dir, err)
	}
	return len(files), nil
}

// ErrNoContents: the location holds no contents (tarball) for a backup.
var ErrNoContents = errors.New("the backup has no contents in the location")

// LocationBackups lists the backups whose folder (backups/<name>/) exists in the location,
// whether or not this cluster has synced them.
func (s *Store) LocationBackups(ctx context.Context) (map[string]bool, error) {
	if s.location == nil {
		return nil, fmt.Errorf("%s: the location's backups cannot be listed (store not opened from a location)", s.desc)
	}
	entries, err := s.location.List(ctx, "/backups")
	if isNotFound(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: listing backups/: %w", s.desc, err)
	}
	out := make(map[string]bool, len(entries))
	for _, e := range entries {
		out[path.Base(e)] = true
	}
	return out, nil
}

// BackupContents opens a backup's tarball (backups/<name>/<name>.tar.gz) in the location;
// ErrNoContents when there is none.
func (s *Store) BackupContents(ctx context.Context, backup string) (io.ReadCloser, error) {
	if err := validName("backup", backup); err != nil {
		return nil, err
	}
	if s.location == nil {
		return nil, fmt.Errorf("%s: backup %s cannot be read (store not opened from a location)", s.desc, backup)
	}
	rc, err := s.location.Reader(ctx, path.Join("/backups", backup, backup+".tar.gz"), 0)
	if isNotFound(err) {
		return nil, ErrNoContents
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading backup %s: %w", s.desc, backup, err)
	}
	return rc, nil
}

package imagecopy

// The sweep frees manifests and blobs no remaining backup needs. distribution's MarkAndSweep
// does not fit as a whole: it keeps every manifest a repository links (or deletes every
// untagged one, and this store tags nothing), knows no backups, no grace period and no
// concurrent writer, and prints to stdout. Its pieces do fit and are used: Vacuum deletes
// manifest revisions, layer links and blob data at distribution's own paths, and PurgeUploads
// removes old upload folders. What is added here: the references come from the backups'
// records; candidates are only what deleted backups referenced (or, for a full sweep, every
// stored manifest); a grace period by modification time; no sweep while a backup to the
// location is in progress, checked again, with the repository links listed again, right before
// blob data is deleted (a backup may link an old blob into a repository instead of uploading it).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	awss3 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	s3driver "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
	"github.com/opencontainers/go-digest"
)

// Sweep defaults.
const (
	// DefaultSweepGrace: a manifest or blob, or a repository link to it, modified this recently
	// is kept (longer than any image copy is allowed to run by default).
	DefaultSweepGrace = 2 * time.Hour
	// DefaultUploadAge: upload folders and unfinished multipart uploads older than this are
	// leftovers of failed copies.
	DefaultUploadAge = 24 * time.Hour
)

const (
	repositoriesRoot = "/docker/registry/v2/repositories"
	blobsRoot        = "/docker/registry/v2/blobs"
)

// Backups is what a sweep needs to know about the backups of the store's location.
type Backups interface {
	// InProgress names a backup to this location that is not finished (new, in progress, waiting
	// for plugin operations, finalizing), or "" when there is none.
	InProgress(ctx context.Context) (string, error)
	// Existing returns every backup that still exists: a Backup object in Velero's namespace, or
	// its folder in the location (a backup not synced to this cluster counts).
	Existing(ctx context.Context) (map[string]bool, error)
	// Derive returns the images an existing backup without records needs, from its contents
	// (backups taken before records existed). final is false when the answer must not be
	// remembered (e.g. the backup has no contents yet). An error stops the sweep.
	Derive(ctx context.Context, backup string) (refs []ImageRefs, final bool, err error)
}

// SweepOptions select what a sweep may free.
type SweepOptions struct {
	Backups Backups
	// Deleting is the backup being deleted: it no longer counts as existing (its metadata is
	// still in the location while Velero runs the delete actions), its records are freed.
	Deleting string
	// Full makes every stored manifest and blob a candidate (reclaiming the images of backups
	// deleted without this plugin); otherwise only what deleted backups' records name.
	Full bool
	// DryRun reports what would be freed and changes nothing.
	DryRun bool
	// Grace and UploadAge default to DefaultSweepGrace and DefaultUploadAge.
	Grace, UploadAge time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// SweepReport says what a sweep freed (or, dry, would free).
type SweepReport struct {
	// Skipped is why nothing was swept (a backup in progress); the tombstones stay for the next
	// sweep.
	Skipped string
	// Manifests are manifest revisions (repository, digest) deleted, Blobs blob data objects,
	// Bytes their size; Objects counts every object deleted (blob data, manifest and layer
	// links, tag entries, records).
	Manifests, Blobs, Objects int
	Bytes                     int64
	// Kept counts candidates kept because they, or a link to them, were written within the grace
	// period or linked again during the sweep.
	Kept int
	// Uploads are upload folders and MultipartUploads unfinished S3 multipart uploads removed.
	Uploads, MultipartUploads int
	// Derived lists the backups whose references were derived from their contents.
	Derived []string
	// Warnings are cleanups that could not be done (e.g. no permission to list multipart
	// uploads); they do not fail the sweep.
	Warnings []string
}

func (r SweepReport) String() string {
	if r.Skipped != "" {
		return "skipped: " + r.Skipped
	}
	return fmt.Sprintf("%d manifests, %d blobs (%d bytes), %d objects; %d kept (recent); %d upload folders, %d multipart uploads",
		r.Manifests, r.Blobs, r.Bytes, r.Objects, r.Kept, r.Uploads, r.MultipartUploads)
}

type repoDigest struct {
	repo string
	d    digest.Digest
}

func sortedRefs(set map[repoDigest]bool) []repoDigest {
	out := make([]repoDigest, 0, len(set))
	for rd := range set {
		out = append(out, rd)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].repo != out[j].repo {
			return out[i].repo < out[j].repo
		}
		return out[i].d < out[j].d
	})
	return out
}

type linkInfo struct {
	repo string
	mod  time.Time
}

// storeScan is one listing of the repositories: manifest revisions, layer links, tags.
type storeScan struct {
	revisions map[repoDigest]time.Time
	layers    map[digest.Digest][]linkInfo
	tags      map[string][]string
}

// Sweep frees what no remaining backup needs. Safety: nothing an existing backup's record (or
// derived references) names is a candidate, nor any manifest or blob it references; with
// Full unset, only what the records of deleted backups name is a candidate at all; a candidate
// written (or linked) within the grace period is kept; nothing is swept while a backup to the
// location is in progress. Deletions go manifests first, then layer links, then blob data
// (layers before the manifests that list them): a sweep stopped anywhere leaves every kept
// manifest whole, and the tombstones, removed last, make the next sweep finish the job.
func (s *Store) Sweep(ctx context.Context, o SweepOptions) (SweepReport, error) {
	var rep SweepReport
	if o.Backups == nil {
		return rep, errors.New("sweep: no view of the location's backups")
	}
	if o.Grace <= 0 {
		o.Grace = DefaultSweepGrace
	}
	if o.UploadAge <= 0 {
		o.UploadAge = DefaultUploadAge
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	recent := o.Now().Add(-o.Grace)
	if b, err := o.Backups.InProgress(ctx); err != nil {
		return rep, fmt.Errorf("sweep of %s: checking for backups in progress: %w", s.desc, err)
	} else if b != "" {
		rep.Skipped = fmt.Sprintf("backup %s to this location is in progress", b)
		return rep, nil
	}
	existing, err := o.Backups.Existing(ctx)
	if err != nil {
		return rep, fmt.Errorf("sweep of %s: listing the existing backups: %w", s.desc, err)
	}
	delete(existing, o.Deleting)
	recs, recPaths, err := s.records(ctx, recordsDir)
	if err != nil {
		return rep, err
	}
	tombs, tombPaths, err := s.records(ctx, tombstonesDir)
	if err != nil {
		return rep, err
	}

	keep, cand := map[repoDigest]bool{}, map[repoDigest]bool{}
	add := func(set map[repoDigest]bool, refs []ImageRefs) {
		for _, r := range refs {
			for _, d := range r.Manifests {
				set[repoDigest{r.Repository, d}] = true
			}
		}
	}
	var retire []string // records and tombstones to remove once their images are freed
	for b, refs := range recs {
		switch {
		case existing[b]:
			add(keep, refs)
		case b == o.Deleting || o.Full:
			add(cand, refs)
			retire = append(retire, recPaths[b]...)
		default:
			// Another backup's record, of a backup not seen: a per-deletion sweep keeps it (the
			// reclaim command frees it).
			add(keep, refs)
		}
	}
	for b, refs := range tombs {
		if existing[b] {
			add(keep, refs) // its deletion did not go through
			continue
		}
		add(cand, refs)
		retire = append(retire, tombPaths[b]...)
	}
	names := make([]string, 0, len(existing))
	for b := range existing {
		if _, ok := recs[b]; !ok {
			if _, ok := tombs[b]; !ok {
				names = append(names, b)
			}
		}
	}
	sort.Strings(names)
	for _, b := range names {
		refs, final, err := o.Backups.Derive(ctx, b)
		if err != nil {
			return rep, fmt.Errorf("sweep of %s: the images backup %s (taken without reference records) needs cannot be determined, nothing freed: %w", s.desc, b, err)
		}
		add(keep, refs)
		rep.Derived = append(rep.Derived, b)
		if final && !o.DryRun && validName("backup", b) == nil {
			if err := s.putRecord(ctx, path.Join(recordsDir, b, derivedRecord), b, refs); err != nil {
				return rep, err
			}
		}
	}

	scan, err := s.scan(ctx)
	if err != nil {
		return rep, err
	}
	if o.Full {
		for rd := range scan.revisions {
			cand[rd] = true
		}
	}
	keptBlobs := map[digest.Digest]bool{}
	keptLinks := map[repoDigest]bool{}
	keepMarker := s.newMarker()
	keepMarker.links = keptLinks
	for _, rd := range sortedRefs(keep) {
		if err := keepMarker.mark(ctx, rd, keep, keptBlobs, nil, 0); err != nil {
			return rep, err
		}
	}
	// Candidates written within the grace period are kept, with all they reference.
	for rd := range cand {
		if keep[rd] {
			continue
		}
		if mod, ok := scan.revisions[rd]; ok && mod.After(recent) {
			rep.Kept++
			if err := keepMarker.mark(ctx, rd, keep, keptBlobs, nil, 0); err != nil {
				return rep, err
			}
		}
	}
	// What the remaining candidates reference, by level (blobs 0, manifests above their
	// children) so blobs go before the manifests naming them.
	level := map[digest.Digest]int{}
	var manifests []repoDigest
	candManifests := map[repoDigest]bool{}
	candMarker := s.newMarker()
	for _, rd := range sortedRefs(cand) {
		if keep[rd] {
			continue
		}
		if err := candMarker.mark(ctx, rd, candManifests, nil, level, 0); err != nil {
			return rep, err
		}
	}
	for _, rd := range sortedRefs(candManifests) {
		if !keep[rd] {
			manifests = append(manifests, rd)
		}
	}
	if o.Full {
		if err := s.walkBlobs(ctx, func(d digest.Digest) {
			if _, ok := level[d]; !ok {
				level[d] = 0
			}
		}); err != nil {
			return rep, err
		}
	}
	var blobs []digest.Digest
	for d := range level {
		if !keptBlobs[d] {
			blobs = append(blobs, d)
		}
	}
	sort.Slice(blobs, func(i, j int) bool {
		if level[blobs[i]] != level[blobs[j]] {
			return level[blobs[i]] < level[blobs[j]]
		}
		return blobs[i] < blobs[j]
	})

	// The fate of each blob: data or a link written within the grace period keeps it; the
	// others lose their links and data. Links of kept blobs go from repositories where no kept
	// manifest needs them.
	type victim struct {
		d    digest.Digest
		size int64
	}
	var victims []victim
	var links []repoDigest
	keptAny := rep.Kept > 0
	for _, d := range blobs {
		p, err := blobDataPath(d)
		if err != nil {
			continue
		}
		fi, err := s.driver.Stat(ctx, p)
		var size int64 = -1
		switch {
		case isNotFound(err):
		case err != nil:
			return rep, fmt.Errorf("sweep of %s: blob %s: %w", s.desc, d, err)
		case fi.ModTime().After(recent):
			rep.Kept++
			keptAny = true
			continue
		default:
			size = fi.Size()
		}
		recentLink := false
		for _, l := range scan.layers[d] {
			recentLink = recentLink || l.mod.After(recent)
		}
		if recentLink {
			rep.Kept++
			keptAny = true
			continue
		}
		if size >= 0 {
			victims = append(victims, victim{d, size})
		}
	}
	for d := range level {
		for _, l := range scan.layers[d] {
			if !keptLinks[repoDigest{l.repo, d}] && !l.mod.After(recent) {
				links = append(links, repoDigest{l.repo, d})
			}
		}
	}
	sort.Slice(links, func(i, j int) bool {
		if links[i].d != links[j].d {
			return links[i].d < links[j].d
		}
		return links[i].repo < links[j].repo
	})
	for _, rd := range manifests {
		if _, ok := scan.revisions[rd]; ok {
			rep.Manifests++
		}
	}
	rep.Objects += rep.Manifests + len(links)

	// Right before deleting: no backup to the location started meanwhile, and nothing the sweep
	// is about to delete was written or linked since the store was listed (a backup links a
	// stored blob instead of uploading it); else the sweep stops and the next one retries.
	if !o.DryRun && (len(manifests) > 0 || len(links) > 0 || len(victims) > 0) {
		if b, err := o.Backups.InProgress(ctx); err != nil {
			return rep, fmt.Errorf("sweep of %s: checking for backups in progress: %w", s.desc, err)
		} else if b != "" {
			return SweepReport{Skipped: fmt.Sprintf("backup %s to this location started during the sweep", b)}, nil
		}
		again, err := s.scan(ctx)
		if err != nil {
			return rep, err
		}
		vd := make([]digest.Digest, len(victims))
		for i, v := range victims {
			vd[i] = v.d
		}
		if what := changed(scan, again, manifests, links, vd); what != "" {
			return SweepReport{Skipped: "the store changed during the sweep (" + what + ")"}, nil
		}
		// A backup that found an image stored writes nothing but its record.
		recs2, _, err := s.records(ctx, recordsDir)
		if err != nil {
			return rep, err
		}
		if what := newReferences(recs, recs2, o.Deleting, manifests, vd); what != "" {
			return SweepReport{Skipped: "the store changed during the sweep (" + what + ")"}, nil
		}
	}
	vacuum := storage.NewVacuum(ctx, s.driver)
	if !o.DryRun {
		for _, rd := range manifests {
			if _, ok := scan.revisions[rd]; !ok {
				continue // not stored, or deleted by an earlier sweep
			}
			if err := ignoreNotFound(vacuum.RemoveManifest(rd.repo, rd.d, scan.tags[rd.repo])); err != nil {
				return rep, fmt.Errorf("sweep of %s: deleting manifest %s@%s: %w", s.desc, rd.repo, rd.d, err)
			}
		}
		for _, l := range links {
			if err := ignoreNotFound(vacuum.RemoveLayer(l.repo, l.d)); err != nil {
				return rep, fmt.Errorf("sweep of %s: deleting the link of blob %s in %s: %w", s.desc, l.d, l.repo, err)
			}
		}
	}
	// Blob data last, and only of blobs no repository links or lists as a manifest now: listed
	// once more right before.
	final := scan
	if !o.DryRun && len(victims) > 0 {
		if final, err = s.scan(ctx); err != nil {
			return rep, err
		}
	}
	deleted := map[repoDigest]bool{}
	for _, rd := range manifests {
		deleted[rd] = true
	}
	revised := map[digest.Digest]bool{}
	for rd := range final.revisions {
		if !o.DryRun || !deleted[rd] {
			revised[rd.d] = true
		}
	}
	linked := map[digest.Digest]bool{}
	if o.DryRun {
		removing := map[repoDigest]bool{}
		for _, l := range links {
			removing[l] = true
		}
		for d, ls := range final.layers {
			for _, l := range ls {
				if !removing[repoDigest{l.repo, d}] {
					linked[d] = true
				}
			}
		}
	} else {
		for d, ls := range final.layers {
			linked[d] = len(ls) > 0
		}
	}
	orphan := map[digest.Digest]bool{} // listed as a manifest by a repository no backup names
	for rd := range scan.revisions {
		if !deleted[rd] {
			orphan[rd.d] = true
		}
	}
	for _, v := range victims {
		if orphan[v.d] {
			continue
		}
		if linked[v.d] || revised[v.d] {
			rep.Kept++
			keptAny = true
			continue
		}
		rep.Blobs++
		rep.Objects++
		rep.Bytes += v.size
		if o.DryRun {
			continue
		}
		s.mu.Lock()
		delete(s.known, v.d)
		s.mu.Unlock()
		if err := ignoreNotFound(vacuum.RemoveBlob(v.d.String())); err != nil {
			return rep, fmt.Errorf("sweep of %s: deleting blob %s: %w", s.desc, v.d, err)
		}
	}
	// Tombstones (and, for a full sweep, the records of backups that no longer exist) go last,
	// and only when nothing they name was kept for the grace period: the next sweep retries.
	if !keptAny {
		sort.Strings(retire)
		for _, p := range retire {
			rep.Objects++
			if o.DryRun {
				continue
			}
			if err := ignoreNotFound(s.driver.Delete(ctx, p)); err != nil {
				return rep, fmt.Errorf("sweep of %s: deleting record %s: %w", s.desc, p, err)
			}
		}
	}
	s.cleanUploads(ctx, o, &rep)
	return rep, nil
}

// marker follows manifests: each (repository, manifest) once, each manifest's content read once.
type marker struct {
	s       *Store
	links   map[repoDigest]bool // if set: (repository, blob) of every blob a marked manifest lists
	visited map[repoDigest]bool
	refs    map[digest.Digest][2][]digest.Digest // children, blobs; nil entry: content not stored
}

func (s *Store) newMarker() *marker {
	return &marker{s: s, visited: map[repoDigest]bool{}, refs: map[digest.Digest][2][]digest.Digest{}}
}

// mark adds rd to set and every child manifest (same repository) it lists; blobs (if not nil)
// gets the manifest contents and blobs referenced; level (if not nil) their level: blobs 0, a
// manifest one above its highest child. The manifest is read from the global blob store, so a
// manifest whose revision link is gone (an interrupted sweep) is still followed.
func (m *marker) mark(ctx context.Context, rd repoDigest, set map[repoDigest]bool, blobs map[digest.Digest]bool, level map[digest.Digest]int, depth int) error {
	set[rd] = true
	if blobs != nil {
		blobs[rd.d] = true
	}
	if m.visited[rd] {
		return nil
	}
	m.visited[rd] = true
	if depth > 8 {
		return fmt.Errorf("manifest %s@%s: nested too deep", rd.repo, rd.d)
	}
	r, ok := m.refs[rd.d]
	if !ok {
		p, err := blobDataPath(rd.d)
		if err != nil {
			return nil // not a digest this store can hold
		}
		data, err := m.s.driver.GetContent(ctx, p)
		switch {
		case isNotFound(err):
		case err != nil:
			return fmt.Errorf("sweep of %s: reading manifest %s@%s: %w", m.s.desc, rd.repo, rd.d, err)
		default:
			r[0], r[1] = manifestReferences(data)
		}
		m.refs[rd.d] = r
	}
	top := 1
	for _, c := range r[0] {
		if err := m.mark(ctx, repoDigest{rd.repo, c}, set, blobs, level, depth+1); err != nil {
			return err
		}
		if level != nil && level[c]+1 > top {
			top = level[c] + 1
		}
	}
	for _, l := range r[1] {
		if blobs != nil {
			blobs[l] = true
		}
		if m.links != nil {
			m.links[repoDigest{rd.repo, l}] = true
		}
		if level != nil {
			if _, ok := level[l]; !ok {
				level[l] = 0
			}
		}
	}
	if level != nil && level[rd.d] < top {
		level[rd.d] = top
	}
	return nil
}

// newReferences names a record written since the first reading that names something the sweep
// is about to delete ("" if none).
func newReferences(before, after map[string][]ImageRefs, deleting string, manifests []repoDigest, victims []digest.Digest) string {
	doomed := map[repoDigest]bool{}
	for _, rd := range manifests {
		doomed[rd] = true
	}
	blobs := map[digest.Digest]bool{}
	for _, d := range victims {
		blobs[d] = true
	}
	for b, refs := range after {
		if b == deleting || reflect.DeepEqual(refs, before[b]) {
			continue
		}
		for _, r := range refs {
			for _, d := range r.Manifests {
				if doomed[repoDigest{r.Repository, d}] || blobs[d] {
					return fmt.Sprintf("backup %s now references %s@%s", b, r.Repository, d)
				}
			}
		}
	}
	return ""
}

// changed says what of the planned deletions was written since the first listing ("" if
// nothing): a revision or link rewritten, a victim blob linked or listed as a manifest anew.
func changed(before, after storeScan, manifests, links []repoDigest, victims []digest.Digest) string {
	for _, rd := range manifests {
		if a, ok := after.revisions[rd]; ok && !a.Equal(before.revisions[rd]) {
			return fmt.Sprintf("manifest %s@%s written", rd.repo, rd.d)
		}
	}
	old := map[repoDigest]time.Time{}
	for d, ls := range before.layers {
		for _, l := range ls {
			old[repoDigest{l.repo, d}] = l.mod
		}
	}
	for _, l := range links {
		for _, x := range after.layers[l.d] {
			if x.repo == l.repo && !x.mod.Equal(old[l]) {
				return fmt.Sprintf("blob %s linked into %s", l.d, l.repo)
			}
		}
	}
	revisionsOf := map[digest.Digest][]repoDigest{}
	for rd := range after.revisions {
		revisionsOf[rd.d] = append(revisionsOf[rd.d], rd)
	}
	for _, d := range victims {
		for _, x := range after.layers[d] {
			if t, ok := old[repoDigest{x.repo, d}]; !ok || !t.Equal(x.mod) {
				return fmt.Sprintf("blob %s linked into %s", d, x.repo)
			}
		}
		for _, rd := range revisionsOf[d] {
			if t, ok := before.revisions[rd]; !ok || !t.Equal(after.revisions[rd]) {
				return fmt.Sprintf("manifest %s@%s written", rd.repo, rd.d)
			}
		}
	}
	return ""
}

// manifestReferences reads what a manifest references: child manifests (an index or manifest
// list) and blobs (config, layers; schema 1 fsLayers). Content that is not a manifest references
// nothing.
func manifestReferences(data []byte) (children, blobs []digest.Digest) {
	var m struct {
		Config *struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"layers"`
		Manifests []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"manifests"`
		FSLayers []struct {
			BlobSum digest.Digest `json:"blobSum"`
		} `json:"fsLayers"`
	}
	if json.Unmarshal(data, &m) != nil {
		return nil, nil
	}
	for _, c := range m.Manifests {
		children = append(children, c.Digest)
	}
	if m.Config != nil && m.Config.Digest != "" {
		blobs = append(blobs, m.Config.Digest)
	}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, l := range m.FSLayers {
		blobs = append(blobs, l.BlobSum)
	}
	return children, blobs
}

// scan lists the repositories once: manifest revisions, layer links and tags with their times.
func (s *Store) scan(ctx context.Context) (storeScan, error) {
	sc := storeScan{revisions: map[repoDigest]time.Time{}, layers: map[digest.Digest][]linkInfo{}, tags: map[string][]string{}}
	err := s.driver.Walk(ctx, repositoriesRoot, func(fi storagedriver.FileInfo) error {
		if fi.IsDir() {
			if strings.HasSuffix(fi.Path(), "/_uploads") {
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		rel := strings.TrimPrefix(fi.Path(), repositoriesRoot+"/")
		if repo, rest, ok := strings.Cut(rel, "/_manifests/revisions/"); ok {
			if d, ok := linkDigest(rest); ok {
				sc.revisions[repoDigest{repo, d}] = fi.ModTime()
			}
		} else if repo, rest, ok := strings.Cut(rel, "/_layers/"); ok {
			if d, ok := linkDigest(rest); ok {
				sc.layers[d] = append(sc.layers[d], linkInfo{repo, fi.ModTime()})
			}
		} else if repo, rest, ok := strings.Cut(rel, "/_manifests/tags/"); ok {
			if tag, tail, ok := strings.Cut(rest, "/"); ok && tail == "current/link" {
				sc.tags[repo] = append(sc.tags[repo], tag)
			}
		}
		return nil
	})
	if ignoreNotFound(err) != nil {
		return sc, fmt.Errorf("sweep of %s: listing the repositories: %w", s.desc, err)
	}
	return sc, nil
}

// linkDigest parses "<algorithm>/<hex>/link".
func linkDigest(rest string) (digest.Digest, bool) {
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "link" {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[1])
	return d, d.Validate() == nil
}

// walkBlobs calls fn for every blob with data in the store.
func (s *Store) walkBlobs(ctx context.Context, fn func(digest.Digest)) error {
	err := s.driver.Walk(ctx, blobsRoot, func(fi storagedriver.FileInfo) error {
		if fi.IsDir() || path.Base(fi.Path()) != "data" {
			return nil
		}
		parts := strings.Split(strings.TrimPrefix(fi.Path(), blobsRoot+"/"), "/")
		if len(parts) == 4 {
			if d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2]); d.Validate() == nil {
				fn(d)
			}
		}
		return nil
	})
	if ignoreNotFound(err) != nil {
		return fmt.Errorf("sweep of %s: listing the blobs: %w", s.desc, err)
	}
	return nil
}

// isNotFound: the storage driver found no object at the path.
func isNotFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}

// ignoreNotFound is err, except that a missing path is no error.
func ignoreNotFound(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}

// cleanUploads removes leftovers of failed copies older than UploadAge: distribution's upload
// folders (PurgeUploads) and, on S3, unfinished multipart uploads under the store. What the
// credentials do not allow is a warning.
func (s *Store) cleanUploads(ctx context.Context, o SweepOptions, rep *SweepReport) {
	before := o.Now().Add(-o.UploadAge)
	deleted, errs := storage.PurgeUploads(ctx, s.driver, before, !o.DryRun)
	rep.Uploads = len(deleted)
	rep.Objects += len(deleted)
	for _, err := range errs {
		if ignoreNotFound(err) != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("upload folders: %v", err))
		}
	}
	d, ok := s.driver.(*s3driver.Driver)
	if !ok || s.s3Root == "" {
		return
	}
	client, err := s3Client(d)
	if err != nil {
		rep.Warnings = append(rep.Warnings, err.Error())
		return
	}
	in := &awss3.ListMultipartUploadsInput{Bucket: &s.s3Bucket, Prefix: &s.s3Root}
	for {
		out, err := client.ListMultipartUploadsWithContext(ctx, in)
		if err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("unfinished multipart uploads not cleaned (needs s3:ListBucketMultipartUploads and s3:AbortMultipartUpload): %v", err))
			return
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(before) {
				continue
			}
			rep.MultipartUploads++
			if o.DryRun {
				continue
			}
			if _, err := client.AbortMultipartUploadWithContext(ctx, &awss3.AbortMultipartUploadInput{Bucket: &s.s3Bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("unfinished multipart upload of %s not aborted (needs s3:AbortMultipartUpload): %v", *u.Key, err))
			}
		}
		if out.IsTruncated == nil || !*out.IsTruncated {
			return
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

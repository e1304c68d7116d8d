// Package archive keeps events that left the live store: gzip-compressed
// NDJSON segments in a directory or any bucket that gocloud.dev/blob opens
// (file://, s3://, gs://, azblob://), each with a manifest that makes it
// verifiable offline against a signed checkpoint of the tenant's ledger.
//
// # Layout
//
// A segment holds events of one tenant whose occurred_at falls on one UTC
// day, in seq order, one auditkeep.Event JSON object per line:
//
//	<tenant>/<yyyy>/<mm>/<dd>/<first-seq>-<last-seq>.ndjson.gz
//	<tenant>/<yyyy>/<mm>/<dd>/<first-seq>-<last-seq>.manifest.json
//
// The segment is written first and read back (size and SHA-256 compared);
// the manifest is written last and marks the segment complete: a segment
// without its manifest is an interrupted write and is ignored (and
// overwritten by the next attempt). A segment's name, as the API and the CLI
// show it, is "<yyyy>-<mm>-<dd>_<first-seq>-<last-seq>".
//
// # Verification
//
// When the tenant's ledger had integrated the segment's events, the
// manifest carries a Proof: the signed checkpoint of the tree at the time,
// the leaf hashes of every seq from first to last (32 bytes each, also for
// seqs that are not in this segment), and the perfect-subtree hashes that
// cover the tree left of first and right of last (compact ranges, at most 2
// log2(size) hashes). Verify recomputes every event's leaf hash, checks it
// against the leaf of its seq, and checks that left nodes + leaves + right
// nodes build the checkpoint's signed root.
package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	// The local drivers. The cloud buckets' drivers (s3://, gs://,
	// azblob://) are registered by the program that links them
	// (cmd/auditkeep), so that importing this package does not pull in
	// their SDKs.
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
)

// Object name suffixes.
const (
	segmentSuffix  = ".ndjson.gz"
	manifestSuffix = ".manifest.json"
)

// Manifest describes one segment. It is stored next to the segment as JSON.
type Manifest struct {
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`       // "2026-11-02_1-500"
	Day       string    `json:"day"`        // the UTC day of the events' occurred_at, "2026-11-02"
	FirstSeq  int64     `json:"first_seq"`  // seq of the first event
	LastSeq   int64     `json:"last_seq"`   // seq of the last event
	Count     int       `json:"count"`      // events in the segment (seqs between first and last may be elsewhere)
	Bytes     int64     `json:"bytes"`      // size of the compressed segment
	SHA256    string    `json:"sha256"`     // hex SHA-256 of the compressed segment
	CreatedAt time.Time `json:"created_at"` // when it was written
	Proof     *Proof    `json:"proof,omitempty"`
}

// Proof ties a segment to a signed checkpoint of the tenant's ledger.
type Proof struct {
	Checkpoint string   `json:"checkpoint"` // signed note (C2SP tlog-checkpoint)
	TreeSize   uint64   `json:"tree_size"`  // the checkpoint's size
	Leaves     []string `json:"leaves"`     // hex leaf hashes of seqs FirstSeq..LastSeq
	Left       []string `json:"left"`       // hex hashes of compact.RangeNodes(0, FirstSeq-1)
	Right      []string `json:"right"`      // hex hashes of compact.RangeNodes(LastSeq, TreeSize)
}

// Key returns the object key of the segment.
func (m *Manifest) Key() string { return segmentKey(m.Tenant, m.Day, m.FirstSeq, m.LastSeq) }

var nameRe = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})_(\d{1,19})-(\d{1,19})$`)

// SegmentName returns the name of a segment of day (UTC) and seq range.
func SegmentName(day time.Time, first, last int64) string {
	return fmt.Sprintf("%s_%d-%d", day.UTC().Format(time.DateOnly), first, last)
}

// ParseName splits a segment name into its day ("2026-11-02") and seq
// range. Returns EINVALID naming "segment" for anything else.
func ParseName(name string) (day string, first, last int64, err error) {
	m := nameRe.FindStringSubmatch(name)
	if m == nil {
		return "", 0, 0, auditkeep.FieldErrorf("segment", "segment %q is not a segment name such as 2026-11-02_1-500", name)
	}
	day = m[1] + "-" + m[2] + "-" + m[3]
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return "", 0, 0, auditkeep.FieldErrorf("segment", "segment %q does not start with a date", name)
	}
	first, err1 := strconv.ParseInt(m[4], 10, 64)
	last, err2 := strconv.ParseInt(m[5], 10, 64)
	if err1 != nil || err2 != nil || first < 1 || last < first {
		return "", 0, 0, auditkeep.FieldErrorf("segment", "segment %q has no valid seq range", name)
	}
	return day, first, last, nil
}

func segmentKey(tenant, day string, first, last int64) string {
	return fmt.Sprintf("%s/%s/%d-%d%s", tenant, strings.ReplaceAll(day, "-", "/"), first, last, segmentSuffix)
}

func manifestKey(segKey string) string {
	return strings.TrimSuffix(segKey, segmentSuffix) + manifestSuffix
}

// Archive is a place where segments are written and read. It is safe for
// concurrent use.
type Archive struct {
	bucket *blob.Bucket
	url    string // for messages; without credentials
	log    *slog.Logger
	now    func() time.Time
}

// Open opens the archive at url: a file:///dir, s3://bucket, gs://bucket or
// azblob://container URL as gocloud.dev/blob understands it (credentials
// come from the usual environment of each cloud), or mem:// for tests.
// Returns EINVALID for a URL that names no known kind of bucket, and
// EUNAVAILABLE when the bucket cannot be opened.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*Archive, error) {
	b, err := OpenBucket(ctx, rawURL, "archive-url")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	shown, _ := url.Parse(rawURL)
	return &Archive{bucket: b, url: shown.Redacted(), log: log, now: time.Now}, nil
}

// OpenBucket opens the bucket at rawURL as Open does (a file:// directory
// is created when missing and gets no sidecar files). Its errors name field.
func OpenBucket(ctx context.Context, rawURL, field string) (*blob.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, auditkeep.FieldErrorf(field, "%s %q is not a URL such as file:///var/lib/auditkeep/archive or s3://bucket", field, rawURL)
	}
	if u.Scheme == "file" {
		// A local directory: created if missing, no metadata sidecar files,
		// temporary files next to their final place (so the rename stays on
		// one file system).
		q := u.Query()
		for k, v := range map[string]string{"create_dir": "1", "metadata": "skip", "no_tmp_dir": "1"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		if strings.Contains(err.Error(), "no driver registered") {
			return nil, auditkeep.FieldErrorf(field, "%s %q: unknown scheme %q (use file, s3, gs or azblob)", field, rawURL, u.Scheme)
		}
		return nil, auditkeep.Unavailable(fmt.Errorf("open bucket %s: %w", u.Redacted(), err))
	}
	return b, nil
}

// DirURL returns the file:// URL of a local directory.
func DirURL(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// NewWithBucket returns an archive over an open bucket (tests use it with
// a bucket that fails on purpose).
func NewWithBucket(b *blob.Bucket, log *slog.Logger) *Archive {
	if log == nil {
		log = slog.Default()
	}
	return &Archive{bucket: b, url: "bucket", log: log, now: time.Now}
}

// URL returns the archive's URL without credentials.
func (a *Archive) URL() string { return a.url }

// Close closes the bucket.
func (a *Archive) Close() error { return a.bucket.Close() }

// Write stores events (all of one tenant, in seq order, whose occurred_at
// falls on one UTC day) as one segment and its manifest, with proof when
// not nil. It returns once the segment has been read back and its size and
// SHA-256 match, and the manifest is stored. Returns EINVALID for events
// that do not make one segment, EUNAVAILABLE when the bucket fails (nothing
// is then promised: the caller keeps the events and tries again).
func (a *Archive) Write(ctx context.Context, events []*auditkeep.Event, proof *Proof) (*Manifest, error) {
	if len(events) == 0 {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "archive: no events to write")
	}
	tenant := events[0].Tenant
	day := events[0].OccurredAt.UTC().Format(time.DateOnly)
	for i, e := range events {
		if e.Tenant != tenant || e.OccurredAt.UTC().Format(time.DateOnly) != day {
			return nil, auditkeep.Errorf(auditkeep.EINVALID, "archive: event %d is of another tenant or day", i)
		}
		if i > 0 && e.Seq <= events[i-1].Seq {
			return nil, auditkeep.Errorf(auditkeep.EINVALID, "archive: events are not in seq order at %d", i)
		}
	}
	first, last := events[0].Seq, events[len(events)-1].Seq
	if proof != nil && len(proof.Leaves) != int(last-first+1) {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "archive: proof has %d leaves for seqs %d..%d", len(proof.Leaves), first, last)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return nil, fmt.Errorf("archive: encode event %d: %w", e.Seq, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	m := &Manifest{
		Tenant: tenant, Day: day, FirstSeq: first, LastSeq: last, Count: len(events),
		Bytes: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:]), CreatedAt: a.now().UTC(), Proof: proof,
	}
	m.Name = strings.ReplaceAll(day, "/", "-") + fmt.Sprintf("_%d-%d", first, last)
	key := m.Key()
	if err := a.put(ctx, key, buf.Bytes(), "application/gzip"); err != nil {
		return nil, err
	}
	if err := a.check(ctx, key, m.Bytes, m.SHA256); err != nil {
		return nil, err
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := a.put(ctx, manifestKey(key), mb, "application/json"); err != nil {
		return nil, err
	}
	if err := a.check(ctx, manifestKey(key), int64(len(mb)), hexSum(mb)); err != nil {
		return nil, err
	}
	a.log.Debug("archive: segment written", "tenant", tenant, "segment", m.Name, "events", m.Count, "bytes", m.Bytes)
	return m, nil
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (a *Archive) put(ctx context.Context, key string, data []byte, contentType string) error {
	w, err := a.bucket.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return a.unavailable("write", key, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return a.unavailable("write", key, err)
	}
	if err := w.Close(); err != nil {
		return a.unavailable("write", key, err)
	}
	return nil
}

// check reads key back and compares its size and SHA-256.
func (a *Archive) check(ctx context.Context, key string, size int64, sum string) error {
	r, err := a.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return a.unavailable("read back", key, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return a.unavailable("read back", key, err)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		return auditkeep.Unavailable(fmt.Errorf("archive %s: %s read back as %d bytes with another hash than the %d written", a.url, key, n, size))
	}
	return nil
}

func (a *Archive) unavailable(op, key string, err error) error {
	return auditkeep.Unavailable(fmt.Errorf("archive %s: %s %s: %w", a.url, op, key, err))
}

// List returns the manifests of the tenant's complete segments, by day and
// first seq. Returns EUNAVAILABLE when the bucket cannot be listed.
func (a *Archive) List(ctx context.Context, tenant string) ([]*Manifest, error) {
	if !auditkeep.ValidTenantID(tenant) {
		return nil, auditkeep.FieldErrorf("tenant", "tenant %q is not a tenant name", tenant)
	}
	var out []*Manifest
	it := a.bucket.List(&blob.ListOptions{Prefix: tenant + "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, a.unavailable("list", tenant+"/", err)
		}
		if !strings.HasSuffix(obj.Key, manifestSuffix) {
			continue
		}
		m, err := a.readManifest(ctx, obj.Key)
		if err != nil {
			return nil, err
		}
		if m.Tenant != tenant {
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y *Manifest) int {
		if c := strings.Compare(x.Day, y.Day); c != 0 {
			return c
		}
		return int(x.FirstSeq - y.FirstSeq)
	})
	return out, nil
}

// Manifest returns the manifest of the tenant's segment name. Returns
// EINVALID for a bad name, ENOTFOUND when there is no such complete
// segment, EUNAVAILABLE when the bucket fails.
func (a *Archive) Manifest(ctx context.Context, tenant, name string) (*Manifest, error) {
	day, first, last, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	if !auditkeep.ValidTenantID(tenant) {
		return nil, auditkeep.FieldErrorf("tenant", "tenant %q is not a tenant name", tenant)
	}
	return a.readManifest(ctx, manifestKey(segmentKey(tenant, day, first, last)))
}

func (a *Archive) readManifest(ctx context.Context, key string) (*Manifest, error) {
	b, err := a.bucket.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no archived segment %s", strings.TrimSuffix(key, manifestSuffix))
	}
	if err != nil {
		return nil, a.unavailable("read", key, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINTERNAL, Message: "archive: manifest " + key + " is not valid JSON", Err: err}
	}
	return &m, nil
}

// OpenSegment returns the compressed segment of m, as stored. The caller
// closes it. Returns ENOTFOUND, EUNAVAILABLE.
func (a *Archive) OpenSegment(ctx context.Context, m *Manifest) (io.ReadCloser, error) {
	r, err := a.bucket.NewReader(ctx, m.Key(), nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "segment %s of %s is missing from the archive", m.Name, m.Tenant)
	}
	if err != nil {
		return nil, a.unavailable("read", m.Key(), err)
	}
	return r, nil
}

// ReadEvents calls fn for every event of the segment of m, in order, after
// checking the segment's SHA-256 against the manifest (the segment is read
// twice: once to check, once to decode). Returns EINVALID when the segment
// does not match its manifest, fn's first error, ENOTFOUND, EUNAVAILABLE.
func (a *Archive) ReadEvents(ctx context.Context, m *Manifest, fn func(*auditkeep.Event) error) error {
	r, err := a.OpenSegment(ctx, m)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	r.Close()
	if err != nil {
		return a.unavailable("read", m.Key(), err)
	}
	if n != m.Bytes || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return auditkeep.Errorf(auditkeep.EINVALID, "segment %s of %s does not match its manifest (size or SHA-256)", m.Name, m.Tenant)
	}
	if r, err = a.OpenSegment(ctx, m); err != nil {
		return err
	}
	defer r.Close()
	return DecodeSegment(r, fn)
}

// DecodeSegment reads a compressed segment and calls fn for each event.
// Returns EINVALID for data that is not a segment, and fn's first error.
func DecodeSegment(r io.Reader, fn func(*auditkeep.Event) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return &auditkeep.Error{Code: auditkeep.EINVALID, Message: "segment is not gzip data", Err: err}
	}
	defer zr.Close()
	dec := json.NewDecoder(zr)
	for {
		var e auditkeep.Event
		if err := dec.Decode(&e); err == io.EOF {
			return nil
		} else if err != nil {
			return &auditkeep.Error{Code: auditkeep.EINVALID, Message: "segment holds a line that is not an event", Err: err}
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
}

// WriteLocal copies the compressed segment of m to a file, for `archive
// restore -o`. It is a convenience over OpenSegment.
func (a *Archive) WriteLocal(ctx context.Context, m *Manifest, path string) error {
	r, err := a.OpenSegment(ctx, m)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

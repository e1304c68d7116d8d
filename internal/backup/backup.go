// Package backup writes and reads auditkeep's backup files: a gzip-compressed
// tar of manifest.json, a snapshot of the embedded store's database and,
// only when asked, the ledger's checkpoint signer key.
//
// The database is one SQLite file, copied consistent to one commit (see
// sqlite.Store.Snapshot); the manifest gives its size and SHA-256, which
// Check and Restore compare before anything is used.
package backup

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Names of the members of a backup, in the order they are written.
const (
	ManifestName  = "manifest.json"
	DatabaseName  = "auditkeep.db" // the embedded store's file name (sqlite.FileName)
	LedgerKeyName = "ledger.key"   // the default name of the signer key file in the data directory
)

// Format names the layout of backups this package writes and reads.
const Format = "auditkeep-backup-1"

// Manifest describes a backup; it is the backup's first member.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Database  File      `json:"database"`
	// LedgerKey reports whether the backup holds the signer key.
	LedgerKey bool `json:"ledger_key"`
}

// File is one member's size and SHA-256 (hex).
type File struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Write writes the backup of the database snapshot at dbPath to w, with
// ledgerKey (the signer key text) when it is not empty. It reads the
// snapshot twice: once for its SHA-256, once to copy it.
func Write(w io.Writer, dbPath, ledgerKey string, now time.Time) (*Manifest, error) {
	db, err := hashFile(dbPath)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: Format, CreatedAt: now.UTC(), Database: db, LedgerKey: ledgerKey != ""}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	header := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: m.CreatedAt, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	if err := header(ManifestName, int64(len(mb))); err != nil {
		return nil, err
	}
	if _, err := tw.Write(mb); err != nil {
		return nil, err
	}
	f, err := os.Open(dbPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := header(DatabaseName, db.Bytes); err != nil {
		return nil, err
	}
	if n, err := io.Copy(tw, f); err != nil || n != db.Bytes {
		return nil, fmt.Errorf("backup: copy %s: %d of %d bytes: %v", dbPath, n, db.Bytes, err)
	}
	if ledgerKey != "" {
		key := []byte(ledgerKey + "\n")
		if err := header(LedgerKeyName, int64(len(key))); err != nil {
			return nil, err
		}
		if _, err := tw.Write(key); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return m, zw.Close()
}

func hashFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Name: DatabaseName, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Check reads a whole backup and checks it: the manifest first, then the
// database's size and SHA-256, the ledger key when the manifest says it is
// there, and nothing else. Returns EINVALID naming what is wrong.
func Check(r io.Reader) (*Manifest, error) {
	return read(r, func(string) (io.Writer, func(ok bool) error, error) {
		return io.Discard, func(bool) error { return nil }, nil
	})
}

// Restore reads a backup into dir, which must hold no database: the
// database as dir/auditkeep.db and, when the backup holds it, the ledger
// key as dir/ledger.key (mode 0600), each written under a temporary name,
// fsynced and renamed once checked. On an error nothing is left in dir.
// Returns EINVALID for a file that is not a sound backup and ECONFLICT
// when dir already holds a database or a ledger key.
func Restore(r io.Reader, dir string) (*Manifest, error) {
	for _, name := range []string{DatabaseName, LedgerKeyName} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return nil, auditkeep.Errorf(auditkeep.ECONFLICT, "%s already holds %s: restore into a new directory", dir, name)
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var written []string
	m, err := read(r, func(name string) (io.Writer, func(ok bool) error, error) {
		final := filepath.Join(dir, name)
		f, err := os.OpenFile(final+".restoring", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return f, func(ok bool) error {
			err := f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if !ok || err != nil {
				os.Remove(f.Name())
				return err
			}
			written = append(written, final)
			return nil
		}, nil
	})
	if err != nil {
		for _, p := range written {
			os.Remove(p + ".restoring")
		}
		return nil, err
	}
	for _, p := range written {
		if err := os.Rename(p+".restoring", p); err != nil {
			return nil, err
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return m, nil
}

// read walks a backup, handing each member but the manifest to open's
// writer, and calls its done with whether the member checked out.
func read(r io.Reader, open func(name string) (io.Writer, func(ok bool) error, error)) (*Manifest, error) {
	invalid := func(format string, args ...any) error {
		return auditkeep.Errorf(auditkeep.EINVALID, "not a sound auditkeep backup: "+format, args...)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("%v", err)
	}
	tr := tar.NewReader(zr)
	next := func() (*tar.Header, error) {
		h, err := tr.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, invalid("%v", err)
		}
		return h, err
	}
	h, err := next()
	if err != nil || h.Name != ManifestName || h.Size > 1<<20 {
		return nil, invalid("it does not start with %s", ManifestName)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
		return nil, invalid("%s: %v", ManifestName, err)
	}
	if m.Format != Format {
		return nil, invalid("format %q; this version reads %q", m.Format, Format)
	}
	seen := map[string]bool{}
	for {
		h, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if seen[h.Name] || (h.Name != DatabaseName && (h.Name != LedgerKeyName || !m.LedgerKey)) {
			return nil, invalid("unexpected member %q", h.Name)
		}
		seen[h.Name] = true
		w, done, err := open(h.Name)
		if err != nil {
			return nil, err
		}
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, sum), tr)
		ok := err == nil
		if h.Name == DatabaseName {
			ok = ok && n == m.Database.Bytes && hex.EncodeToString(sum.Sum(nil)) == m.Database.SHA256
		}
		if derr := done(ok); err == nil {
			err = derr
		}
		if err != nil {
			return nil, invalid("%s: %v", h.Name, err)
		}
		if !ok {
			return nil, invalid("%s: %d bytes with another SHA-256 than the manifest's (%d bytes, %s)", h.Name, n, m.Database.Bytes, m.Database.SHA256)
		}
	}
	// The gzip stream must end where the tar does: a cut file fails here.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, invalid("%v", err)
	}
	if !seen[DatabaseName] {
		return nil, invalid("no %s", DatabaseName)
	}
	if m.LedgerKey && !seen[LedgerKeyName] {
		return nil, invalid("the manifest lists %s, the file lacks it", LedgerKeyName)
	}
	return &m, nil
}

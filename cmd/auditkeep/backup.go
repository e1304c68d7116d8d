package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/backup"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

const backupSynopsis = `backup -o FILE|URL [--with-ledger-key] [--server URL --key ROOT_KEY]

Makes a backup of a running server's embedded store, while it goes on
serving: a snapshot of its database consistent to one commit (SQLite's
VACUUM INTO), as a gzip tar with a manifest (size and SHA-256 of the
database). The ledger's checkpoint signer key is left out unless
--with-ledger-key: keep it apart from the backups, as 'ledger.key' in the
data directory it is restored into, or with AUDITKEEP_LEDGER_KEY or
--ledger-key-file. -o takes a file, or a bucket URL as --archive-url does,
with the object's name as its path: s3://bucket/auditkeep/2026-12-04.tar.gz?region=eu-west-1,
gs://bucket/name.tar.gz, azblob://container/name.tar.gz, file:///dir/name.tar.gz.
The file is checked as it is written and left only when whole. Needs the
root key (--key, or AUDITKEEP_ROOT_KEY). A PostgreSQL store is backed up with
pg_dump or a physical backup tool instead (see the README).`

const restoreSynopsis = `restore FILE|URL --data DIR

Restores a backup made by 'auditkeep backup' into DIR, a new data
directory (it must hold no database): the database, checked against the
manifest, and the ledger key when the backup holds it. Then start the
server there: auditkeep serve --data DIR. Without the ledger key in the
backup, put the original key in DIR/ledger.key (or give AUDITKEEP_LEDGER_KEY
or --ledger-key-file) before starting: with another key the server refuses to
sign over the restored checkpoints.`

func runBackup(ctx context.Context, e *env, args []string) int {
	const name = "backup"
	fs := newFlagSet(e, name, backupSynopsis)
	cf := addClientFlags(fs, e, true)
	out := fs.String("o", "", "the backup file, or a bucket URL with the object's name (s3://bucket/name.tar.gz)")
	withKey := fs.Bool("with-ledger-key", false, "include the ledger's checkpoint signer key (keep such a backup as safe as the key)")
	pos, err := parse(fs, args)
	switch {
	case err != nil:
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q (the backup goes in -o)", pos[0])
	case *out == "":
		err = errors.New("-o FILE|URL is required")
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "auditkeep backup: %v\n", err)
		return exitNegative
	}
	dst, err := createBackup(ctx, *out)
	if err != nil {
		return fail(err)
	}
	defer dst.abort()
	q := "/v1/backup"
	if *withKey {
		q += "?with_ledger_key=true"
	}
	res, err := (&serverArchive{base: strings.TrimRight(cf.server, "/"), key: cf.key, hc: http.DefaultClient}).do(ctx, "POST", q, nil, nil)
	if err != nil {
		return fail(err)
	}
	defer res.Body.Close()
	// Written and checked at once: a transfer cut off fails the check.
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	var m *backup.Manifest
	go func() {
		var err error
		m, err = backup.Check(pr)
		pr.CloseWithError(err)
		checked <- err
	}()
	n, err := io.Copy(io.MultiWriter(dst, pw), res.Body)
	pw.CloseWithError(err)
	if cerr := <-checked; err == nil {
		err = cerr
	}
	if err != nil {
		return fail(fmt.Errorf("after %d bytes: %w", n, err))
	}
	if err := dst.commit(); err != nil {
		return fail(err)
	}
	key := "without the ledger key"
	if m.LedgerKey {
		key = "with the ledger key"
	}
	fmt.Fprintf(e.stderr, "backup of %s written to %s: %s, database %s (sha256 %s), %s\n",
		cf.server, *out, byteSize(n), byteSize(m.Database.Bytes), m.Database.SHA256[:16], key)
	return exitOK
}

func runRestore(ctx context.Context, e *env, args []string) int {
	const name = "restore"
	fs := newFlagSet(e, name, restoreSynopsis)
	dir := fs.String("data", "", "the new data directory")
	pos, err := parse(fs, args)
	switch {
	case err != nil:
	case len(pos) != 1:
		err = errors.New("give one backup file or URL")
	case *dir == "":
		err = errors.New("--data DIR is required")
	}
	if err != nil {
		return usageError(e, name, err)
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "auditkeep restore: %s\n", auditkeep.ErrorMessage(err))
		return exitNegative
	}
	src, err := openBackup(ctx, pos[0])
	if err != nil {
		return fail(err)
	}
	defer src.Close()
	m, err := backup.Restore(src, *dir)
	if err != nil {
		return fail(err)
	}
	// The restored store opens, and is migrated to this version.
	st, err := sqlite.Open(ctx, *dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err == nil {
		err = st.Close()
	}
	if err != nil {
		for _, name := range []string{backup.DatabaseName, backup.DatabaseName + "-wal", backup.DatabaseName + "-shm", backup.LedgerKeyName} {
			os.Remove(filepath.Join(*dir, name))
		}
		return fail(fmt.Errorf("the restored database does not open: %w", err))
	}
	fmt.Fprintf(e.stderr, "restored the backup made %s into %s: database %s\n",
		m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), *dir, byteSize(m.Database.Bytes))
	if !m.LedgerKey {
		fmt.Fprintf(e.stderr, "the backup holds no ledger key: put the original one in %s (or set AUDITKEEP_LEDGER_KEY or --ledger-key-file) before 'auditkeep serve --data %s'\n",
			filepath.Join(*dir, backup.LedgerKeyName), *dir)
	}
	return exitOK
}

// backupFile is where a backup is being written: a temporary file renamed
// into place, or a bucket object written under a context that abort cancels
// (so that nothing is left).
type backupFile struct {
	io.Writer
	commit func() error
	abort  func()
}

// createBackup opens target, a file or a bucket URL whose path names the
// object, for writing.
func createBackup(ctx context.Context, target string) (*backupFile, error) {
	if bucketURL, key, ok := splitObjectURL(target); ok {
		b, err := archive.OpenBucket(ctx, bucketURL, "o")
		if err != nil {
			return nil, errors.New(auditkeep.ErrorMessage(err))
		}
		wctx, cancel := context.WithCancel(ctx)
		w, err := b.NewWriter(wctx, key, nil)
		if err != nil {
			cancel()
			b.Close()
			return nil, err
		}
		done := false
		return &backupFile{Writer: w,
			commit: func() error { done = true; err := w.Close(); cancel(); b.Close(); return err },
			abort: func() {
				if !done {
					cancel()
					w.Close()
					b.Close()
				}
			}}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.partial")
	if err != nil {
		return nil, err
	}
	return &backupFile{Writer: f,
		commit: func() error {
			err := f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(f.Name(), target)
			}
			return err
		},
		abort: func() { f.Close(); os.Remove(f.Name()) }}, nil
}

// openBackup opens source, a file or a bucket URL whose path names the
// object, for reading.
func openBackup(ctx context.Context, source string) (io.ReadCloser, error) {
	bucketURL, key, ok := splitObjectURL(source)
	if !ok {
		return os.Open(source)
	}
	b, err := archive.OpenBucket(ctx, bucketURL, "backup")
	if err != nil {
		return nil, errors.New(auditkeep.ErrorMessage(err))
	}
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		b.Close()
		return nil, err
	}
	return readCloser{r, func() error { r.Close(); return b.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// splitObjectURL splits a URL naming an object into its bucket's URL and
// the object's key: s3://bucket/dir/name?region=x → s3://bucket?region=x and
// dir/name; file:///dir/name → file:///dir and name. ok is false for a
// plain file name.
func splitObjectURL(s string) (bucketURL, key string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || len(u.Scheme) < 2 || !strings.Contains(s, "://") {
		return "", "", false // not a URL (C:\ is not one either)
	}
	if u.Scheme == "file" {
		dir, name := path.Split(u.Path)
		u.Path = strings.TrimSuffix(dir, "/")
		return u.String(), name, name != ""
	}
	key = strings.TrimPrefix(u.Path, "/")
	u.Path, u.RawPath = "", ""
	return u.String(), key, key != ""
}

// backupMaker returns what makes POST /v1/backup's backups of the embedded
// store, nil on PostgreSQL. The snapshot is made in a temporary directory
// of the data directory (it needs as much free space as the database), and
// removed once sent; ones a stopped server left are removed here.
func (a *app) backupMaker() httpapi.Backup {
	st, ok := a.store.(*sqlite.Store)
	if !ok {
		return nil
	}
	stale, _ := filepath.Glob(filepath.Join(a.cfg.DataDir, ".backup-*"))
	for _, dir := range stale {
		os.RemoveAll(dir)
	}
	return func(ctx context.Context, w io.Writer, withLedgerKey bool) error {
		var key string
		if withLedgerKey {
			if !a.cfg.Ledger {
				return auditkeep.FieldErrorf("with_ledger_key", "the ledger is off on this server: there is no key to include")
			}
			k, err := a.ledgerSignerKey(ctx)
			if err != nil {
				return err
			}
			key = k
		}
		dir, err := os.MkdirTemp(a.cfg.DataDir, ".backup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		snap := filepath.Join(dir, backup.DatabaseName)
		if err := st.Snapshot(ctx, snap); err != nil {
			return err
		}
		_, err = backup.Write(w, snap, key, time.Now())
		return err
	}
}

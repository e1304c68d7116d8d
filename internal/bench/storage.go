package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/jackc/pgx/v5"
)

// location is one fresh, empty place to keep a store: a directory for the
// embedded store, or a schema of the PostgreSQL database.
type location struct {
	Dir    string // the embedded store; with PostgreSQL, the server's local files (the retention archive)
	URL    string // PostgreSQL, with search_path set to Schema
	Schema string
}

// storage hands out fresh locations and removes them all at the end.
type storage struct {
	databaseURL string // "" for the embedded store
	tempDir     string

	mu      sync.Mutex
	dirs    []string
	schemas []string
}

func (st *storage) name() string {
	if st.databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// fresh returns a new empty location.
func (st *storage) fresh(ctx context.Context) (location, error) {
	dir, err := os.MkdirTemp(st.tempDir, "auditkeep-bench-")
	if err != nil {
		return location{}, err
	}
	st.mu.Lock()
	st.dirs = append(st.dirs, dir)
	st.mu.Unlock()
	if st.databaseURL == "" {
		return location{Dir: dir}, nil
	}
	r := make([]byte, 6)
	rand.Read(r)
	schema := "auditkeep_bench_" + hex.EncodeToString(r)
	conn, err := pgx.Connect(ctx, st.databaseURL)
	if err != nil {
		return location{}, fmt.Errorf("connect to %s: %w", redactURL(st.databaseURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return location{}, fmt.Errorf("create schema: %w", err)
	}
	st.mu.Lock()
	st.schemas = append(st.schemas, schema)
	st.mu.Unlock()
	u, err := url.Parse(st.databaseURL)
	if err != nil {
		return location{}, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return location{Dir: dir, URL: u.String(), Schema: schema}, nil
}

// open opens a store in loc.
func (st *storage) open(ctx context.Context, loc location) (auditkeep.Store, error) {
	quiet := slog.New(slog.DiscardHandler)
	if loc.URL != "" {
		return postgres.Open(ctx, loc.URL, postgres.WithLogger(quiet))
	}
	return sqlite.Open(ctx, loc.Dir, sqlite.WithLogger(quiet))
}

// diskBytes returns the bytes loc takes: every file of the directory, or
// every table of the schema with its indexes and TOAST.
func (st *storage) diskBytes(ctx context.Context, loc location) (int64, error) {
	if loc.URL == "" {
		var n int64
		err := filepath.WalkDir(loc.Dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err == nil {
				n += fi.Size()
			}
			return nil
		})
		return n, err
	}
	conn, err := pgx.Connect(ctx, st.databaseURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = $1 AND c.relkind IN ('r', 'm')`, loc.Schema).Scan(&n)
	return n, err
}

// cleanup removes every location handed out.
func (st *storage) cleanup(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	for _, d := range st.dirs {
		errs = append(errs, os.RemoveAll(d))
	}
	st.dirs = nil
	if len(st.schemas) > 0 {
		conn, err := pgx.Connect(ctx, st.databaseURL)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		defer conn.Close(ctx)
		for _, s := range st.schemas {
			if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{s}.Sanitize()+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
			}
		}
		st.schemas = nil
	}
	return errors.Join(errs...)
}

// redactURL hides the password of a database URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}

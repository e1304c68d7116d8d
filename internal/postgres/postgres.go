// Package postgres implements auditkeep's store on PostgreSQL, for
// deployments where several auditkeep nodes share one database.
//
// Events live in a table range-partitioned by month of received_at. Each
// row keeps the event's JSON as it was encoded (without Tenant and Seq,
// which the row holds), so that events read back exactly as they were
// appended, and the filterable fields in indexed columns; a tsvector built
// here serves full-text search. Per-tenant sequence numbers come from a
// counter row in tenants that Append locks until it commits, so seqs have no
// gaps and grow in commit order however many nodes append at once.
//
// Every method returns EUNAVAILABLE when the database cannot be reached; the
// pool replaces broken connections by itself, so the store works again as
// soon as the database does.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var _ auditkeep.Store = (*Store)(nil)
var _ auditkeep.EventJSONScanner = (*Store)(nil)

//go:embed migration/*.sql
var migrationFS embed.FS

// Advisory lock class ids; the second key is a hash of the schema name, so
// stores in different schemas of one database do not wait for each other.
const (
	lockMigrate   = 0x61756b01 // "auk" 1
	lockPartition = 0x61756b02
)

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	now    func() time.Time

	auditkeep.CommitWatch // tells how long each COMMIT took

	ahead    int           // months of partitions kept ahead of now
	interval time.Duration // between partition maintenance runs

	analyzeAfter int64 // fewest events appended between analyses
	analyzer     analyzer

	facetTallyMax int // most events a filtered facet tallies

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Option configures Open.
type Option func(*Store)

// WithLogger sets the logger of background work (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.logger = l } }

// WithPartitionsAhead sets how many months of partitions beyond the current
// one the store keeps created (default 2).
func WithPartitionsAhead(months int) Option { return func(s *Store) { s.ahead = months } }

// WithMaintenanceInterval sets how often the store checks its partitions
// (default 6h).
func WithMaintenanceInterval(d time.Duration) Option { return func(s *Store) { s.interval = d } }

// Open connects to the database at url (a postgres:// URL or key=value DSN;
// unknown URL parameters such as search_path become session settings),
// migrates the schema, makes sure the event partitions for this month and the
// next ones exist, and starts their maintenance. Returns EUNAVAILABLE when
// the database cannot be reached.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "database url: %v", err)
	}
	// Acknowledged means durable, whatever the server's default.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "auditkeep"
	}
	s := &Store{logger: slog.Default(), now: time.Now, ahead: 2, interval: 6 * time.Hour, analyzeAfter: 10000,
		facetTallyMax: defaultFacetTallyMax}
	for _, o := range opts {
		o(s)
	}
	if s.interval <= 0 {
		s.interval = 6 * time.Hour
	}
	s.ahead = max(s.ahead, 0)
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unavailable(err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	now := s.now().UTC()
	if err := s.EnsurePartitions(ctx, now, now.AddDate(0, s.ahead, 0)); err != nil {
		s.pool.Close()
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.analyzer.ctx = mctx
	s.wg.Add(1)
	go s.maintain(mctx)
	return s, nil
}

// Close stops background work, a running analysis included, and closes
// every connection.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	s.analyzer.wg.Wait()
	s.pool.Close()
	return nil
}

// Ping returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) Ping(ctx context.Context) error {
	err := s.retry(ctx, idempotent, func() error { return s.pool.Ping(ctx) })
	if err != nil {
		return unavailable(err) // whatever the cause, the store cannot serve
	}
	return nil
}

// migrate applies the embedded migrations that the database lacks, in one
// transaction under an advisory lock, so that nodes starting at once migrate
// exactly once.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback(ctx)

	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockMigrate); err != nil {
		return dbError(err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, tableExists, "schema_migrations").Scan(&exists); err != nil {
		return dbError(err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return dbError(err)
		}
	}
	rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return dbError(err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migration/")
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with its number", base)
		}
		if slices.Contains(applied, version) {
			continue
		}
		sql, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("migration %s: %w", base, dbError(err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, version, base); err != nil {
			return dbError(err)
		}
		s.logger.Info("database migrated", "migration", base)
	}
	return dbError(tx.Commit(ctx))
}

// Whether an operation may run again after its connection broke.
const (
	idempotent = true  // running it twice has the effect of once
	once       = false // it must not run twice
)

// retry runs op; when op failed because its connection broke, it resets
// the pool and, if again is set, runs op once more. A connection breaks
// mostly because the server restarted or the network was cut, which breaks
// the idle connections too: the reset makes the next operations dial anew.
// An operation that must run once is not retried even when the driver says
// nothing was sent: pgx reports a read that failed after sending as "conn
// closed", which it calls safe to retry.
func (s *Store) retry(ctx context.Context, again bool, op func() error) error {
	err := op()
	var ce *commitError
	if err != nil && !errors.As(err, &ce) && brokenConn(err) && ctx.Err() == nil {
		s.pool.Reset()
		if again {
			s.logger.Warn("database connection broke; retrying on a new one", "err", err)
			err = op()
		}
	}
	return dbError(err)
}

// brokenConn reports whether err is the failure of a connection rather than
// of a statement.
func brokenConn(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || pgconn.SafeToRetry(err)
}

// commitError is a failed COMMIT: whether the transaction committed is
// unknown, so it is not run again.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// unavailable wraps a failure to reach the database.
func unavailable(err error) error { return auditkeep.Unavailable(err) }

// dbError translates a driver error. Errors the server reports about a
// statement are defects and stay internal, except those that say the server
// cannot serve now (connection exceptions, shutdown, out of resources, I/O,
// read-only after a failover, deadlock): those, broken connections, failed
// commits and the ends of contexts become EUNAVAILABLE. It returns nil for
// nil and leaves an *auditkeep.Error and pgx.ErrNoRows as they are.
func dbError(err error) error {
	var ae *auditkeep.Error
	if err == nil || errors.As(err, &ae) || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources
			strings.HasPrefix(pe.Code, "57P"),      // admin shutdown, cannot connect now
			strings.HasPrefix(pe.Code, "58"),       // system error (I/O)
			pe.Code == "25006",                     // read-only transaction: a standby after failover
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock
			return unavailable(err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	var ce *commitError
	if brokenConn(err) || errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable(err)
	}
	return fmt.Errorf("postgres: %w", err)
}

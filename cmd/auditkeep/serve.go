package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
	"github.com/auditkeep/auditkeep/internal/alert/notify"
	"github.com/auditkeep/auditkeep/internal/catalog"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/postgres"
	rtn "github.com/auditkeep/auditkeep/internal/retention"
	"github.com/auditkeep/auditkeep/internal/sqlite"
	"github.com/auditkeep/auditkeep/internal/stream"
	"github.com/prometheus/client_golang/prometheus"
)

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "serve", "serve [flags]")
	cfg, err := loadConfig(args, e.getenv, fs)
	var fe flagError
	if errors.Is(err, flag.ErrHelp) || errors.As(err, &fe) {
		return usageError(e, "serve", err)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep serve: %v\n", err)
		return exitUsage
	}
	a := newApp(cfg, e.stderr)
	reload := a.reloadSignal()
	if err := a.Open(ctx); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep serve: %v\n", err)
		return exitNegative
	}
	a.awaitStop(ctx, reload)
	if err := a.Close(); err != nil {
		fmt.Fprintf(e.stderr, "auditkeep serve: %v\n", err)
		return exitNegative
	}
	return exitOK
}

// app is a running server: store, committer and HTTP API wired together.
type app struct {
	cfg    Config
	out    io.Writer // where the generated root key is printed
	log    *slog.Logger
	store  serverStore
	commit *ingest.Committer
	api    *httpapi.Server
	ledger *ledgerNode // nil when the ledger is off (ledger.go)
	ln     net.Listener
	served chan error

	retention *rtn.Service     // retention.go
	cert      *certificate     // nil: plain HTTP (tls.go)
	streams   *stream.Engine   // streams.go
	notifier  *notify.Notifier // notify.go
	evaluator *alert.Evaluator // evaluator.go

	closeOnce sync.Once
	closeErr  error
}

// serverStore is what the server needs of its store: both stores provide
// it all.
type serverStore interface {
	auditkeep.Store
	rtn.Store
	rtn.Guarded
}

var (
	_ serverStore = (*sqlite.Store)(nil)
	_ serverStore = (*postgres.Store)(nil)
)

func newApp(cfg Config, out io.Writer) *app {
	return &app{cfg: cfg, out: out}
}

// URL returns the base URL the server listens on.
func (a *app) URL() string {
	if a.cert != nil {
		return "https://" + a.ln.Addr().String()
	}
	return "http://" + a.ln.Addr().String()
}

// Open opens storage and starts serving. When it fails part way, it
// closes what it had opened (Close) before returning the error.
func (a *app) Open(ctx context.Context) error {
	if err := a.open(ctx); err != nil {
		a.Close()
		return err
	}
	return nil
}

func (a *app) open(ctx context.Context) error {
	level, _ := parseLevel(a.cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if a.cfg.LogFormat == "json" {
		a.log = slog.New(slog.NewJSONHandler(a.out, opts))
	} else {
		a.log = slog.New(slog.NewTextHandler(a.out, opts))
	}

	var err error
	if a.cfg.DatabaseURL != "" {
		pg, err := postgres.Open(ctx, a.cfg.DatabaseURL, postgres.WithLogger(a.log))
		if err != nil {
			return fmt.Errorf("open PostgreSQL: %w", err)
		}
		a.store = pg
		a.log.Info("storage: PostgreSQL")
	} else {
		lite, err := sqlite.Open(ctx, a.cfg.DataDir, sqlite.WithLogger(a.log))
		if err != nil {
			return fmt.Errorf("open embedded store in %s: %w", a.cfg.DataDir, err)
		}
		a.store = lite
		abs, _ := filepath.Abs(a.cfg.DataDir)
		a.log.Info("storage: embedded SQLite", "dir", abs)
	}

	rootHash, err := a.rootKeyHash(ctx)
	if err != nil {
		return err
	}

	ledgerAPI, err := a.openLedger(ctx)
	if err != nil {
		return err
	}

	tracker := ingest.NewTracker(a.store)
	counter, _ := a.store.(catalog.ActionCounter) // nil: actions are listed without counts
	actions := catalog.New(a.store, counter)
	a.commit = ingest.NewCommitter(a.store)
	a.commit.MaxGroupEvents = a.cfg.MaxGroupEvents
	a.commit.Prepare = tracker.Prepare
	svc := ingest.NewService(a.commit)
	// Schemas see the metadata as sent: validation runs before redaction.
	svc.Steps = []ingest.Step{actions.Step, tracker.Step}
	// verify trusts a signed retention.purge record to explain a gap: only
	// the retention job may write one; only a rebuild records ledger.rebuild.
	svc.Reserved = []string{auditkeep.PurgeAction, ledger.RebuildAction}
	reg := prometheus.NewRegistry()
	if a.streams, err = a.openStreams(ctx, reg); err != nil {
		return err
	}
	if a.notifier, err = a.openNotifier(ctx, reg); err != nil {
		return err
	}
	if a.evaluator, err = a.openEvaluator(reg); err != nil {
		return err
	}
	if a.retention, err = a.openRetention(ctx, ledgerAPI, svc, reg); err != nil {
		return err
	}
	// Events already past their tenant's retention are refused first.
	svc.Steps = append([]ingest.Step{a.retention.Step}, svc.Steps...)
	guarded := a.retention.Guard(a.store)
	a.api = httpapi.New(guarded, svc, httpapi.Config{RootKeyHash: rootHash, Logger: a.log, Tracker: tracker, Catalog: actions,
		ReadTimeout: a.cfg.ReadTimeout, RateLimit: a.cfg.RateLimit, RateBurst: a.cfg.RateBurst, Ledger: ledgerAPI, Retention: a.retention,
		ClientIP: a.cfg.Network.resolver(), People: a.cfg.People.api(), Backup: a.backupMaker(),
		Registry: reg, Streams: a.streams, Facets: guarded, EventJSON: guarded,
		Alerts: &httpapi.Alerts{Store: a.store.(auditkeep.AlertStore), Engine: a.evaluator, Sealer: a.notifier}})
	if o, ok := a.store.(interface{ SetCommitObserver(func(time.Duration)) }); ok {
		o.SetCommitObserver(a.api.ObserveSync)
	}
	observe := a.api.ObserveCommit
	if a.cfg.DatabaseURL == "" {
		// This process is the embedded store's only writer: the latest
		// snapshot of each recent target can be remembered.
		tracker.CacheSnapshots(20000)
		observe = func(stored []*auditkeep.Event, st ingest.CommitStats) {
			tracker.Committed(stored)
			a.api.ObserveCommit(stored, st)
		}
	}
	a.commit.OnCommit = a.notifyLedger(a.notifyStreams(a.notifyAlerts(observe)))
	a.commit.Open()
	if err := a.startLedger(); err != nil {
		return err
	}

	if a.cfg.Network.TLSCert != "" {
		a.cert, err = loadCertificate(a.cfg.Network.TLSCert, a.cfg.Network.TLSKey)
	}
	if err == nil {
		if a.ln, err = net.Listen("tcp", a.cfg.Addr); err != nil {
			err = fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
		}
	}
	if err != nil {
		return err
	}
	if a.cert != nil {
		a.ln = a.cert.listener(a.ln)
	}
	a.served = make(chan error, 1)
	go func() { a.served <- a.api.Serve(a.ln) }()
	if a.cfg.Retention.Enabled {
		a.retention.Open()
	}
	if a.cfg.Streams.Enabled {
		a.streams.Open()
	}
	a.notifier.Open()
	if a.cfg.Alerts {
		a.evaluator.Open()
	}
	a.log.Info("auditkeep listening", "url", a.URL())
	if a.cfg.AddrFile != "" {
		tmp := a.cfg.AddrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(a.URL()), 0o644); err != nil {
			return fmt.Errorf("addr-file: %w", err)
		}
		if err := os.Rename(tmp, a.cfg.AddrFile); err != nil {
			return fmt.Errorf("addr-file: %w", err)
		}
	}
	return nil
}

// rootKeyHash returns the SHA-256 of the root key: AUDITKEEP_ROOT_KEY, or
// one generated at first start, stored hashed and printed once.
func (a *app) rootKeyHash(ctx context.Context) (string, error) {
	if a.cfg.RootKey != "" {
		return httpapi.HashKey(a.cfg.RootKey), nil
	}
	key := httpapi.NewKey()
	hash := httpapi.HashKey(key)
	stored, err := a.store.InitSetting(ctx, "", "root_key_sha256", []byte(hash))
	if err != nil {
		return "", fmt.Errorf("root key: %w", err)
	}
	if string(stored) == hash {
		fmt.Fprintf(a.out, "\nGenerated the root key. It is shown once; keep it safe (or set AUDITKEEP_ROOT_KEY):\n\n    %s\n\n", key)
	}
	return string(stored), nil
}

// Close stops accepting requests, lets in-flight ones (and their commits)
// finish, then closes storage.
func (a *app) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *app) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	// Each part is closed only if Open got as far as making it.
	var err error
	if a.api != nil {
		err = a.api.Shutdown(ctx)
	}
	if a.ln != nil {
		a.ln.Close() // Serve may not have taken it yet when Open failed just after starting it
	}
	if a.served != nil {
		if serr := <-a.served; err == nil && !errors.Is(serr, net.ErrClosed) {
			err = serr
		}
	}
	if a.retention != nil {
		a.retention.Close()
		if arch := a.retention.Archive(); arch != nil {
			if cerr := arch.Close(); err == nil {
				err = cerr
			}
		}
	}
	if a.streams != nil {
		a.streams.Close()
	}
	if a.evaluator != nil {
		a.evaluator.Close()
	}
	if a.notifier != nil {
		a.notifier.Close()
	}
	if a.commit != nil {
		a.commit.Close()
	}
	a.stopLedger()
	if a.store != nil {
		if cerr := a.store.Close(); err == nil {
			err = cerr
		}
	}
	if a.log != nil {
		a.log.Info("auditkeep stopped", "took", time.Since(start).Round(time.Millisecond))
	}
	return err
}

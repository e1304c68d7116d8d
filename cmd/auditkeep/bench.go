package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep/internal/bench"
)

const benchSynopsis = `bench [--database-url URL] [--events N] [--only PHASES] [--json] [flags]

Measures auditkeep on this machine: servers started in this process on
loopback, each over fresh storage (a temporary directory for the embedded
store, or with --database-url a schema created in that PostgreSQL database
and dropped at the end).

Phases (--only takes a comma-separated list; default all):
  ingest   POST /v1/events in batches of 1,000, 100 and 1, and single events
           from 64 concurrent clients: events/s and acknowledgement latency
  ceiling  the same events through Store.Append and the raw driver into the
           same schema (no HTTP, no validation), and auditkeep / ceiling
  ledger   ingest with the ledger on and off, and the integration lag
  query    first pages of every filter, two-filter combinations, a time
           range, page 50 by cursor and searches over a loaded tenant
  export   CSV and NDJSON export of the loaded tenant
  disk     bytes on disk per loaded event against its NDJSON size
  tail     live stream delivery after acknowledgement
  stream   a stream's delivery to a local webhook: backlog and lag
  alerts   ingest without alert rules, with the defaults and with 100 rules
           (twice, alternating), and notification latency to a local webhook

query, export, disk and tail first load --events events (default 1,000,000)
through HTTP; with --bulk, through the store directly (Store.Append in
batches of 5,000 from 2 writers, the ledger off), before the server starts.
--keep DIR keeps that load (DIR, and with --database-url a schema named in
DIR/bench-load.json) for later runs with the same --events to reuse. Progress goes to stderr; the report to stdout.`

// runBench runs the benchmark and prints its report.
func runBench(ctx context.Context, e *env, args []string) int {
	const name = "bench"
	fs := newFlagSet(e, name, benchSynopsis)
	dbURL := fs.String("database-url", "", "PostgreSQL database to benchmark in (a fresh schema, dropped at the end); default the embedded store")
	events := fs.Int("events", 1_000_000, "events loaded for the query, export, disk and tail phases")
	ingestEvents := fs.Int("ingest-events", 0, "most events of one ingest measurement (default min(200000, events/5))")
	duration := fs.Duration("duration", 10*time.Second, "longest ingest measurement")
	only := fs.String("only", "", "comma-separated phases to run: "+strings.Join(bench.Phases, ","))
	queryReps := fs.Int("query-reps", 200, "requests per query shape")
	streamRate := fs.Int("stream-rate", 5000, "the stream phase's steady ingest, events/s")
	seed := fs.Int64("seed", 1, "demo generator seed")
	bulk := fs.Bool("bulk", false, "load the tenant through the store directly (Store.Append in large batches, ledger off), not through HTTP")
	keep := fs.String("keep", "", "keep the loaded tenant's storage in this directory (with --bulk), and reuse it when it is there")
	tmp := fs.String("tmp", "", "directory for the embedded stores (default the system's temporary directory)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ingest phase's measurements (servers and clients) to this file")
	exportProfile := fs.String("export-cpuprofile", "", "write a CPU profile of the export phase's exports (server and client) to this file")
	progress := fs.Bool("progress", false, "rewrite one progress line on stderr even when it is not a terminal")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	var phases []string
	if *only != "" {
		for _, p := range strings.Split(*only, ",") {
			if p = strings.TrimSpace(p); p != "" {
				phases = append(phases, p)
			}
		}
	}
	switch {
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q", pos[0])
	case *events < 1000:
		err = errors.New("--events must be at least 1000")
	case *ingestEvents < 0:
		err = errors.New("--ingest-events must not be negative")
	case *duration <= 0:
		err = errors.New("--duration must be positive")
	case *streamRate < 1:
		err = errors.New("--stream-rate must be at least 1")
	case *queryReps < 1:
		err = errors.New("--query-reps must be at least 1")
	case *keep != "" && !*bulk:
		err = errors.New("--keep requires --bulk")
	case *dbURL != "" && !strings.HasPrefix(*dbURL, "postgres://") && !strings.HasPrefix(*dbURL, "postgresql://"):
		err = errors.New("--database-url must start with postgres://")
	}
	if err == nil {
		for _, p := range phases {
			if !slices.Contains(bench.Phases, p) {
				err = fmt.Errorf("--only: unknown phase %q (phases: %s)", p, strings.Join(bench.Phases, ", "))
			}
		}
	}
	if err != nil {
		return usageError(e, name, err)
	}

	var profile, exportProf *os.File
	for _, p := range []struct {
		name string
		f    **os.File
	}{{*cpuProfile, &profile}, {*exportProfile, &exportProf}} {
		if p.name == "" {
			continue
		}
		if *p.f, err = os.Create(p.name); err != nil {
			fmt.Fprintf(e.stderr, "auditkeep bench: %v\n", err)
			return exitNegative
		}
		defer (*p.f).Close()
	}

	cfg := bench.Config{
		Start:            startBenchServer(e),
		DatabaseURL:      *dbURL,
		TempDir:          *tmp,
		Phases:           phases,
		Events:           *events,
		IngestEvents:     *ingestEvents,
		Duration:         *duration,
		QueryReps:        *queryReps,
		StreamRate:       *streamRate,
		Seed:             *seed,
		Bulk:             *bulk,
		Keep:             *keep,
		CPUProfile:       writerOrNil(profile),
		ExportCPUProfile: writerOrNil(exportProf),
		Progress:         e.stderr,
		Live:             *progress || isTerminal(e.stderr),
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(e.stderr, "auditkeep bench: %v\n", err)
		if rep == nil {
			return exitNegative
		}
		rep.Notes = append(rep.Notes, "stopped early: "+err.Error())
	}
	if *jsonOut {
		rep.WriteJSON(e.stdout)
	} else {
		rep.WriteTable(e.stdout)
	}
	if err != nil {
		return exitNegative
	}
	return exitOK
}

// startBenchServer returns the function that starts a benchmark server: the
// same app as `auditkeep serve`, on a loopback port, with the retention job
// off and only errors logged.
func startBenchServer(e *env) bench.StartFunc {
	return func(ctx context.Context, sc bench.ServerConfig) (bench.Server, error) {
		cfg := DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.DataDir = sc.DataDir
		cfg.DatabaseURL = sc.DatabaseURL
		cfg.RootKey = sc.RootKey
		cfg.Ledger = sc.Ledger
		cfg.LogLevel = "error"
		cfg.Retention.Enabled = false
		// The phases compare the logs of runs: no alert.open records, but
		// in the alerts phase.
		cfg.Alerts = sc.Alerts
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		a := newApp(cfg, e.stderr)
		if err := a.Open(ctx); err != nil {
			return nil, err
		}
		return a, nil
	}
}

// writerOrNil returns f as an io.Writer, or nil for a nil file.
func writerOrNil(f *os.File) io.Writer {
	if f == nil {
		return nil
	}
	return f
}

// Package bench measures a running auditkeep: ingest over HTTP at several
// batch sizes and concurrencies against the same run's raw-store ceiling,
// queries and searches over a loaded tenant, export, disk per event, live
// tail latency and the ledger's integration lag. It drives real servers on
// loopback, each over fresh storage (a temporary directory, or a schema of a
// PostgreSQL database created and dropped by the run).
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Phases, in the order they run.
const (
	PhaseIngest  = "ingest"  // HTTP ingest: batches of 1, 100 and 1,000; 64 single-event clients
	PhaseCeiling = "ceiling" // the same events through Store.Append and the raw driver
	PhaseQuery   = "query"   // filters, searches and a deep page over the loaded tenant
	PhaseExport  = "export"  // CSV and NDJSON export of the loaded tenant
	PhaseDisk    = "disk"    // bytes on disk per loaded event against its NDJSON
	PhaseTail    = "tail"    // live stream delivery after acknowledgement
	PhaseLedger  = "ledger"  // integration lag; ingest with the ledger on and off
	PhaseStream  = "stream"  // a stream's delivery to a local webhook: backlog rate, lag under steady ingest
	PhaseAlerts  = "alerts"  // ingest without rules, with the defaults and with 100 rules; notification latency
)

// Phases lists every phase.
var Phases = []string{PhaseIngest, PhaseCeiling, PhaseQuery, PhaseExport, PhaseDisk, PhaseTail, PhaseLedger, PhaseStream, PhaseAlerts}

// ServerConfig is what a benchmark server starts with.
type ServerConfig struct {
	DataDir     string // the embedded store's directory, when DatabaseURL is ""
	DatabaseURL string // PostgreSQL, with search_path naming a fresh schema
	RootKey     string
	Ledger      bool // keep the tamper-evident ledger
	Alerts      bool // evaluate the tenants' alert rules (only the alerts phase)
}

// Server is a running auditkeep server.
type Server interface {
	URL() string
	Close() error
}

// StartFunc starts a server listening on loopback.
type StartFunc func(ctx context.Context, cfg ServerConfig) (Server, error)

// Config configures Run. Zero fields take their defaults.
type Config struct {
	Start       StartFunc // required
	DatabaseURL string    // PostgreSQL database to create schemas in; "" for the embedded store
	TempDir     string    // parent of the embedded stores' directories (default os.TempDir())
	Phases      []string  // phases to run (default all)

	Events       int           // events loaded for the query, export, disk and tail phases (1,000,000)
	IngestEvents int           // most events of one ingest measurement (min(200,000, max(1,000, Events/5)))
	Duration     time.Duration // longest ingest measurement (10s)
	QueryReps    int           // requests per query shape (200)
	StreamRate   int           // the stream phase's steady ingest, events/s (5,000)
	QueryTime    time.Duration // longest time per query shape (3s)
	ExportTime   time.Duration // longest time per export (60s)
	Seed         int64         // demo generator seed (1)

	// Bulk loads the tenant through Store.Append, in batches of
	// bulkBatch from several writers, before its server starts (with the
	// ledger off), instead of through HTTP.
	Bulk bool
	// Keep is a directory where the loaded tenant's storage is kept after
	// the run (embedded store: the directory; PostgreSQL: a schema named
	// in its bench-load.json). A later run with the same Keep, Events and
	// Seed reads it instead of loading again. Requires Bulk.
	Keep string

	// CPUProfile receives the CPU profile (pprof) of the ingest phase's
	// measurements, servers and clients, taken after their requests are
	// generated. Nil: no profile.
	CPUProfile io.Writer
	// ExportCPUProfile receives the CPU profile (pprof) of the export
	// phase's exports, server and client. Nil: no profile.
	ExportCPUProfile io.Writer

	Progress io.Writer // where progress goes (nil: nowhere)
	Live     bool      // rewrite one progress line (a terminal) rather than print lines
}

func (c *Config) defaults() error {
	if c.Start == nil {
		return errors.New("bench: Config.Start is required")
	}
	if len(c.Phases) == 0 {
		c.Phases = Phases
	}
	for _, p := range c.Phases {
		if !slices.Contains(Phases, p) {
			return fmt.Errorf("unknown phase %q (phases: %s)", p, strings.Join(Phases, ", "))
		}
	}
	if c.Events <= 0 {
		c.Events = 1_000_000
	}
	if c.IngestEvents <= 0 {
		c.IngestEvents = min(200_000, max(1000, c.Events/5))
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.StreamRate <= 0 {
		c.StreamRate = 5000
	}
	if c.QueryReps <= 0 {
		c.QueryReps = 200
	}
	if c.QueryTime <= 0 {
		c.QueryTime = 3 * time.Second
	}
	if c.ExportTime <= 0 {
		c.ExportTime = 60 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Keep != "" && !c.Bulk {
		return errors.New("bench: Config.Keep requires Bulk")
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

func (c *Config) has(phase string) bool { return slices.Contains(c.Phases, phase) }

// Report is the outcome of a run.
type Report struct {
	Machine Machine       `json:"machine"`
	Config  ReportConfig  `json:"config"`
	Ingest  []IngestRow   `json:"ingest,omitempty"`
	Ceiling *Ceiling      `json:"ceiling,omitempty"`
	Load    *Load         `json:"load,omitempty"`
	Queries []QueryRow    `json:"queries,omitempty"`
	Export  []ExportRow   `json:"export,omitempty"`
	Disk    *Disk         `json:"disk,omitempty"`
	Tail    *Tail         `json:"tail,omitempty"`
	Ledger  *Ledger       `json:"ledger,omitempty"`
	Stream  *Stream       `json:"stream,omitempty"`
	Alerts  *Alerts       `json:"alerts,omitempty"`
	Phases  []PhaseTiming `json:"phases"`
	Notes   []string      `json:"notes,omitempty"`
}

// ReportConfig is the configuration a report was made with.
type ReportConfig struct {
	Phases       []string `json:"phases"`
	Events       int      `json:"events"`
	IngestEvents int      `json:"ingest_events"`
	DurationSec  float64  `json:"duration_s"`
	QueryReps    int      `json:"query_reps"`
	Seed         int64    `json:"seed"`
}

// PhaseTiming is how long a phase took and the machine's load around it.
type PhaseTiming struct {
	Phase      string  `json:"phase"`
	Seconds    float64 `json:"seconds"`
	LoadBefore string  `json:"loadavg_before"`
	LoadAfter  string  `json:"loadavg_after"`
}

// Run runs the configured phases and returns the report. Each phase runs
// against servers over fresh storage, all removed before Run returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st := &storage{databaseURL: cfg.DatabaseURL, tempDir: cfg.TempDir}
	r := &runner{cfg: cfg, st: st, rep: &Report{Machine: machine(st.name())}, pg: newProgress(cfg.Progress, cfg.Live)}
	r.rep.Config = ReportConfig{Phases: cfg.Phases, Events: cfg.Events, IngestEvents: cfg.IngestEvents,
		DurationSec: cfg.Duration.Seconds(), QueryReps: cfg.QueryReps, Seed: cfg.Seed}
	defer r.pg.close()
	err := r.run(ctx)
	for _, s := range r.servers {
		s.close()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := st.cleanup(cctx); cerr != nil && err == nil {
		err = fmt.Errorf("clean up: %w", cerr)
	}
	r.rep.Machine.LoadAfter = loadAvg()
	return r.rep, err
}

// runner holds the state of one run.
type runner struct {
	cfg     Config
	st      *storage
	rep     *Report
	pg      *progress
	servers []*server
	seed    int64 // next generator seed
	// alertsOn starts servers with the alert evaluator (the alerts phase).
	alertsOn bool

	batch1000 *requests // the events of the 1,000-event batches, reused by the ceiling and the ledger phases
	batch100  *requests
	single    *requests

	loaded  *server            // the server of the load, read by the query, export, disk and tail phases
	samples []*auditkeep.Event // every few loaded events, validated, to pick realistic query values
}

func (r *runner) nextSeed() int64 {
	r.seed++
	return r.cfg.Seed*1000 + r.seed
}

func (r *runner) run(ctx context.Context) error {
	steps := []struct {
		phase string
		run   func(context.Context) error
	}{
		{PhaseIngest, r.ingest},
		{PhaseCeiling, r.ceiling},
		{PhaseLedger, r.ledger},
		{"load", r.load},
		{PhaseDisk, r.disk},
		{PhaseQuery, r.query},
		{PhaseExport, r.export},
		{PhaseTail, r.tail},
		{PhaseStream, r.stream},
		{PhaseAlerts, r.alerts},
	}
	needLoad := r.cfg.has(PhaseQuery) || r.cfg.has(PhaseExport) || r.cfg.has(PhaseDisk) || r.cfg.has(PhaseTail)
	for _, s := range steps {
		if s.phase == "load" && !needLoad || s.phase != "load" && !r.cfg.has(s.phase) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t := PhaseTiming{Phase: s.phase, LoadBefore: loadAvg()}
		start := time.Now()
		r.pg.phase(s.phase)
		err := s.run(ctx)
		t.Seconds = time.Since(start).Round(time.Millisecond).Seconds()
		t.LoadAfter = loadAvg()
		r.rep.Phases = append(r.rep.Phases, t)
		r.pg.done(s.phase, time.Since(start))
		if err != nil {
			return fmt.Errorf("%s: %w", s.phase, err)
		}
	}
	return nil
}

// server is a benchmark server with a tenant and a key of every scope.
type server struct {
	srv Server
	loc location
	api *api
}

func (s *server) close() {
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

const benchTenant = "bench"

// startServer starts a server over fresh storage and creates the tenant.
func (r *runner) startServer(ctx context.Context, ledger bool) (*server, error) {
	loc, err := r.st.fresh(ctx)
	if err != nil {
		return nil, err
	}
	s, root, err := r.serveAt(ctx, loc, ledger)
	if err != nil {
		return nil, err
	}
	if _, err := root.call(ctx, "POST", "/v1/tenants", nil, []byte(`{"name":"`+benchTenant+`","retention_days":0}`)); err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	key, err := createKey(ctx, root)
	if err != nil {
		return nil, err
	}
	s.api = newAPI(s.srv.URL(), key)
	return s, nil
}

// serveAt starts a server over the storage of loc and returns it with a
// client holding its root key.
func (r *runner) serveAt(ctx context.Context, loc location, ledger bool) (*server, *api, error) {
	root := make([]byte, 24)
	rand.Read(root)
	rootKey := hex.EncodeToString(root)
	srv, err := r.cfg.Start(ctx, ServerConfig{DataDir: loc.Dir, DatabaseURL: loc.URL, RootKey: rootKey, Ledger: ledger, Alerts: r.alertsOn})
	if err != nil {
		return nil, nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{srv: srv, loc: loc}
	r.servers = append(r.servers, s)
	return s, newAPI(srv.URL(), rootKey), nil
}

// createKey creates a key of every scope for the bench tenant.
func createKey(ctx context.Context, root *api) (string, error) {
	body, err := root.call(ctx, "POST", "/v1/tenants/"+benchTenant+"/keys", nil,
		[]byte(`{"name":"bench","scopes":["ingest","read","export","admin"]}`))
	if err != nil {
		return "", fmt.Errorf("create key: %w", err)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("create key: unexpected answer %.200s", body)
	}
	return k.Key, nil
}

// api is an HTTP client of one server with one key.
type api struct {
	base, key string
	hc        *http.Client
}

func newAPI(base, key string) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &api{base: strings.TrimRight(base, "/"), key: key, hc: &http.Client{Transport: tr}}
}

// statusError is an answer other than 2xx.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %.300s", e.status, e.body) }

// call sends a request and returns the body of a 2xx answer.
func (a *api) call(ctx context.Context, method, path string, q url.Values, body []byte) ([]byte, error) {
	resp, err := a.do(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &statusError{resp.StatusCode, string(b)}
	}
	return b, nil
}

// do sends a request; the caller closes the body.
func (a *api) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return a.hc.Do(req)
}

// progress reports what the run is doing.
type progress struct {
	w    io.Writer
	live bool

	mu     sync.Mutex
	name   string
	n      *atomic.Int64
	total  int64
	start  time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

func newProgress(w io.Writer, live bool) *progress {
	p := &progress{w: w, live: live, stop: make(chan struct{})}
	p.wg.Go(p.loop)
	return p
}

// loop rewrites the progress line four times a second on a terminal, and
// prints one every ten seconds elsewhere.
func (p *progress) loop() {
	every := 10 * time.Second
	if p.live {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		if p.n != nil {
			n := p.n.Load()
			line := fmt.Sprintf("  %s: %d", p.name, n)
			if p.total > 0 {
				line += fmt.Sprintf("/%d", p.total)
			}
			line += fmt.Sprintf("  %.0f/s", rate(n, time.Since(p.start)))
			if p.live {
				fmt.Fprintf(p.w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(p.w, line)
			}
		}
		p.mu.Unlock()
	}
}

// phase announces a phase.
func (p *progress) phase(name string) {
	p.clear()
	fmt.Fprintf(p.w, "%s: running (load average %s)\n", name, loadAvg())
}

// done announces the end of a phase.
func (p *progress) done(name string, d time.Duration) {
	p.clear()
	fmt.Fprintf(p.w, "%s: done in %s\n", name, d.Round(time.Millisecond))
}

// track shows a counter of a step until the next track or untrack.
func (p *progress) track(name string, n *atomic.Int64, total int64) {
	p.mu.Lock()
	p.name, p.n, p.total, p.start = name, n, total, time.Now()
	p.mu.Unlock()
}

// note prints a line about a step.
func (p *progress) note(format string, args ...any) {
	p.clear()
	fmt.Fprintf(p.w, "  "+format+"\n", args...)
}

func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = nil
	if p.live {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progress) close() {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if !closed {
		close(p.stop)
		p.wg.Wait()
		p.clear()
	}
}

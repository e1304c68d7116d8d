package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// IngestRow is one ingest measurement over HTTP: requests of Batch events
// from Clients concurrent clients, each waiting for its acknowledgement.
type IngestRow struct {
	Name         string  `json:"name"`
	Batch        int     `json:"batch"`
	Clients      int     `json:"clients"`
	Ledger       bool    `json:"ledger"`
	Events       int64   `json:"events"`
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	Ack          Summary `json:"ack"` // request latency: sent to acknowledged
}

// ingestPlan is one row of the ingest phase and its most events.
type ingestPlan struct {
	batch, clients, most int
}

func (r *runner) ingestPlans() []ingestPlan {
	n := r.cfg.IngestEvents
	return []ingestPlan{
		{1000, 4, n},
		{1000, 1, n / 2},
		{100, 4, n / 2},
		{1, 1, min(n/10, 5000)},
		{1, 64, n / 4},
	}
}

// requestsFor returns the events of a plan, generated once per run.
func (r *runner) requestsFor(p ingestPlan) *requests {
	var cached **requests
	switch {
	case p.batch == 1000 && p.clients == 4:
		cached = &r.batch1000
	case p.batch == 100:
		cached = &r.batch100
	case p.batch == 1 && p.clients == 64:
		cached = &r.single
	}
	if cached != nil && *cached != nil {
		return *cached
	}
	r.pg.note("generating %d events in batches of %d", p.most, p.batch)
	reqs := makeRequests(newSource(r.nextSeed(), p.most), p.most, p.batch)
	if cached != nil {
		*cached = reqs
	}
	return reqs
}

func (r *runner) ingest(ctx context.Context) error {
	s, err := r.startServer(ctx, true)
	if err != nil {
		return err
	}
	defer s.close()
	plans := r.ingestPlans()
	all := make([]*requests, len(plans))
	for i, p := range plans {
		all[i] = r.requestsFor(p)
	}
	if r.cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(r.cfg.CPUProfile); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for i, p := range plans {
		reqs := all[i]
		row, err := r.measureIngest(ctx, s.api, reqs, p.clients)
		if err != nil {
			return err
		}
		row.Ledger = true
		r.rep.Ingest = append(r.rep.Ingest, row)
		r.pg.note("%-28s %9.0f events/s  ack p50 %.1f ms  p99 %.1f ms", row.Name, row.EventsPerSec, row.Ack.P50, row.Ack.P99)
	}
	return nil
}

// measureIngest sends reqs from clients concurrent clients until every
// request is acknowledged or the configured duration is over.
func (r *runner) measureIngest(ctx context.Context, a *api, reqs *requests, clients int) (IngestRow, error) {
	row := IngestRow{Name: fmt.Sprintf("batch %d × %d clients", reqs.batch, clients), Batch: reqs.batch, Clients: clients}
	if reqs.batch == 1 {
		row.Name = fmt.Sprintf("single events × %d clients", clients)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		events   atomic.Int64
		requests atomic.Int64
		lat      recorder
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	r.pg.track(row.Name, &events, reqs.events())
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= len(reqs.bodies) {
					return
				}
				t0 := time.Now()
				err := postEvents(ctx, a, reqs.bodies[i])
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				lat.add(time.Since(t0))
				requests.Add(1)
				events.Add(int64(min(reqs.batch, len(reqs.lines)-i*reqs.batch)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return row, fmt.Errorf("%s: %w", row.Name, firstErr)
	}
	row.Events, row.Requests = events.Load(), requests.Load()
	row.Seconds = elapsed.Round(time.Millisecond).Seconds()
	row.EventsPerSec = rate(row.Events, elapsed)
	row.Ack = lat.summary()
	return row, nil
}

// postEvents sends one body to POST /v1/events and waits for its 200.
func postEvents(ctx context.Context, a *api, body []byte) error {
	resp, err := a.do(ctx, http.MethodPost, "/v1/events", nil, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode, string(b)}
	}
	return nil
}

// Ceiling compares HTTP ingest with the same events written by the store
// directly (Store.Append, no HTTP, no validation) and by the raw driver into
// the same schema (no idempotency, dictionary or sequence work), each in
// 1,000-event batches into fresh storage. Append runs for at most the
// configured duration; the raw writer writes the events Append wrote.
type Ceiling struct {
	Events        int64   `json:"events"`
	HTTP          float64 `json:"http_events_per_s,omitempty"` // the "batch 1000 × 4 clients" row, when the ingest phase ran
	Append        float64 `json:"append_events_per_s"`
	Raw           float64 `json:"raw_events_per_s"`
	RawWithEncode float64 `json:"raw_with_encode_events_per_s"` // encoding the rows counted too
	HTTPOverRaw   float64 `json:"http_over_raw,omitempty"`
	AppendOverRaw float64 `json:"append_over_raw"`
	RawMethod     string  `json:"raw_method"`
}

func (r *runner) ceiling(ctx context.Context) error {
	reqs := r.requestsFor(r.ingestPlans()[0])
	events, err := normalised(reqs)
	if err != nil {
		return err
	}
	c := &Ceiling{Events: int64(len(events))}
	for _, row := range r.rep.Ingest {
		if row.Batch == 1000 && row.Clients == 4 && row.Ledger {
			c.HTTP = row.EventsPerSec
		}
	}

	// Store.Append.
	s, _, err := r.freshStore(ctx)
	if err != nil {
		return err
	}
	var n atomic.Int64
	r.pg.track("Store.Append", &n, c.Events)
	start := time.Now()
	for b := range batches(events, 1000) {
		if err := s.Append(ctx, clones(b)); err != nil {
			s.Close()
			return fmt.Errorf("append: %w", err)
		}
		n.Add(int64(len(b)))
		if time.Since(start) > r.cfg.Duration {
			break
		}
	}
	c.Append = rate(n.Load(), time.Since(start))
	s.Close()
	// The raw writer gets the same events.
	events = events[:n.Load()]
	c.Events = n.Load()

	// The raw driver into the same schema.
	s, _, err = r.freshStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	n.Store(0)
	r.pg.track("raw insert", &n, c.Events)
	var insert, encode time.Duration
	switch st := s.(type) {
	case *sqlite.Store:
		c.RawMethod = "sqlite.RawInserter: the same multi-row INSERTs into events, events_fts and postings, 1,000 events per fsynced transaction; bodies compressed and term ids assigned beforehand"
		ri, err := sqlite.NewRawInserter(ctx, st, benchTenant)
		if err != nil {
			return err
		}
		for b := range batches(events, 1000) {
			t0 := time.Now()
			rb, err := ri.Encode(b)
			if err != nil {
				return err
			}
			t1 := time.Now()
			if err := ri.Insert(ctx, rb); err != nil {
				return err
			}
			encode += t1.Sub(t0)
			insert += time.Since(t1)
			n.Add(int64(len(b)))
		}
	case *postgres.Store:
		c.RawMethod = "postgres.RawCopier: COPY of the rows Append builds into the same events table, 1,000 events per committed transaction; rows built beforehand"
		rc, err := postgres.NewRawCopier(ctx, st, benchTenant)
		if err != nil {
			return err
		}
		for b := range batches(events, 1000) {
			t0 := time.Now()
			rb, err := rc.Encode(b)
			if err != nil {
				return err
			}
			t1 := time.Now()
			if err := rc.Copy(ctx, rb); err != nil {
				return err
			}
			encode += t1.Sub(t0)
			insert += time.Since(t1)
			n.Add(int64(len(b)))
		}
	default:
		return fmt.Errorf("no raw writer for %T", s)
	}
	c.Raw = rate(c.Events, insert)
	c.RawWithEncode = rate(c.Events, insert+encode)
	c.AppendOverRaw = ratio(c.Append, c.Raw)
	c.HTTPOverRaw = ratio(c.HTTP, c.Raw)
	r.rep.Ceiling = c
	r.pg.note("Store.Append %.0f events/s, raw %.0f events/s (%.0f with encoding)", c.Append, c.Raw, c.RawWithEncode)
	return nil
}

// freshStore opens a store over fresh storage with the bench tenant.
func (r *runner) freshStore(ctx context.Context) (auditkeep.Store, location, error) {
	loc, err := r.st.fresh(ctx)
	if err != nil {
		return nil, loc, err
	}
	s, err := r.st.open(ctx, loc)
	if err != nil {
		return nil, loc, err
	}
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: benchTenant, CreatedAt: time.Now().UTC()}); err != nil {
		s.Close()
		return nil, loc, err
	}
	return s, loc, nil
}

// normalised returns the events of reqs as the server would store them:
// validated, with defaults applied, tenant and receipt time set.
func normalised(reqs *requests) ([]*auditkeep.Event, error) {
	now := time.Now().UTC()
	lim := ingest.DefaultLimits()
	out := make([]*auditkeep.Event, len(reqs.lines))
	for i, line := range reqs.lines {
		e, err := ingest.Validate(json.RawMessage(line), "", now, lim)
		if err != nil {
			return nil, fmt.Errorf("generated event %d: %w", i, err)
		}
		e.Tenant, e.ReceivedAt = benchTenant, now
		out[i] = e
	}
	return out, nil
}

// batches yields events in slices of n.
func batches(events []*auditkeep.Event, n int) func(func([]*auditkeep.Event) bool) {
	return func(yield func([]*auditkeep.Event) bool) {
		for i := 0; i < len(events); i += n {
			if !yield(events[i:min(i+n, len(events))]) {
				return
			}
		}
	}
}

// clones returns copies of the events, so that a store setting Seq leaves
// the originals as they were.
func clones(events []*auditkeep.Event) []*auditkeep.Event {
	out := make([]*auditkeep.Event, len(events))
	for i, e := range events {
		c := *e
		out[i] = &c
	}
	return out
}

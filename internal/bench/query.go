package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// Load is how the tenant that the query phases read was filled.
type Load struct {
	Events       int64   `json:"events"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	Batch        int     `json:"batch"`
	Clients      int     `json:"clients"`
	NDJSONBytes  int64   `json:"ndjson_bytes"`
	Note         string  `json:"note"`
}

// QueryRow is the latency of one query shape's first page (50 events,
// newest first by occurred_at, or by seq for kind "filter, seq") through
// GET /v1/events, the body read in full.
type QueryRow struct {
	Kind    string  `json:"kind"` // filter, filter, seq, two filters, time, page, search, facets
	Name    string  `json:"name"`
	Query   string  `json:"query"`
	Results int     `json:"results"` // events on the page
	Latency Summary `json:"latency"`
}

// ExportRow is one full export through GET /v1/export, the body discarded.
type ExportRow struct {
	Format       string  `json:"format"`
	Events       int64   `json:"events"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	Complete     bool    `json:"complete"` // false when the time limit stopped it
}

// Disk is the storage taken by the loaded tenant against the events' size
// as NDJSON, as sent.
type Disk struct {
	Events         int64   `json:"events"`
	Bytes          int64   `json:"bytes"`
	NDJSONBytes    int64   `json:"ndjson_bytes"`
	BytesPerEvent  float64 `json:"bytes_per_event"`
	NDJSONPerEvent float64 `json:"ndjson_bytes_per_event"`
	OverNDJSON     float64 `json:"over_ndjson"`
	What           string  `json:"what"`
}

const loadClients = 4

// load fills a fresh server's tenant with cfg.Events events.
func (r *runner) load(ctx context.Context) error {
	if r.cfg.Bulk {
		return r.bulkLoad(ctx)
	}
	s, err := r.startServer(ctx, true)
	if err != nil {
		return err
	}
	r.loaded = s
	n := r.cfg.Events
	src := newSource(r.nextSeed(), n)
	every := max(1, n/2000)
	bodies := make(chan []byte, 2*loadClients)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		sent     atomic.Int64
		ndjson   int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for range loadClients {
		wg.Go(func() {
			for b := range bodies {
				if ctx.Err() != nil {
					continue
				}
				if err := postEvents(ctx, s.api, b); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					continue
				}
				sent.Add(int64(bytes.Count(b, []byte(`"action":`)))) // one per event; the generator's values never hold it
			}
		})
	}
	r.pg.track("loading", &sent, int64(n))
	start := time.Now()
	now := time.Now().UTC()
	var buf bytes.Buffer
	for i := 0; i < n && ctx.Err() == nil; {
		buf.Reset()
		buf.WriteString(`{"events":[`)
		for j := 0; j < 1000 && i < n; j, i = j+1, i+1 {
			_, line := src.next()
			ndjson += int64(len(line)) + 1
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(line)
			if i%every == every/2 {
				if e, err := ingest.Validate(json.RawMessage(line), "", now, ingest.DefaultLimits()); err == nil {
					r.samples = append(r.samples, e)
				}
			}
		}
		buf.WriteString(`]}`)
		select {
		case bodies <- bytes.Clone(buf.Bytes()):
		case <-ctx.Done():
		}
	}
	close(bodies)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	r.rep.Load = &Load{Events: sent.Load(), Seconds: elapsed.Round(time.Millisecond).Seconds(), EventsPerSec: rate(sent.Load(), elapsed),
		Batch: 1000, Clients: loadClients, NDJSONBytes: ndjson,
		Note: "through HTTP with the ledger on; the events are generated during the load, on the same cores"}
	r.pg.note("loaded %d events in %s: %.0f events/s", sent.Load(), elapsed.Round(time.Second), r.rep.Load.EventsPerSec)
	return nil
}

func (r *runner) disk(ctx context.Context) error {
	s := r.loaded
	n, err := r.st.diskBytes(ctx, s.loc)
	if err != nil {
		return err
	}
	d := &Disk{Events: r.rep.Load.Events, Bytes: n, NDJSONBytes: r.rep.Load.NDJSONBytes}
	d.BytesPerEvent = ratio(float64(n), float64(d.Events))
	d.NDJSONPerEvent = ratio(float64(d.NDJSONBytes), float64(d.Events))
	d.OverNDJSON = ratio(float64(n), float64(d.NDJSONBytes))
	if s.loc.URL == "" {
		d.What = "every file of the data directory (database, WAL, ledger key), right after the load"
	} else {
		d.What = "every table of the schema with its indexes and TOAST (pg_total_relation_size), right after the load"
	}
	r.rep.Disk = d
	r.pg.note("disk: %.0f B/event, %.2f× the NDJSON (%.0f B/event)", d.BytesPerEvent, d.OverNDJSON, d.NDJSONPerEvent)
	return nil
}

// shape is one query to time.
type shape struct {
	kind, name string
	q          url.Values
}

// path returns the endpoint a shape queries.
func (sh shape) path() string {
	if sh.kind == "facets" {
		return "/v1/facets"
	}
	return "/v1/events"
}

// shapes returns the query shapes, with values taken from the loaded events.
func (r *runner) shapes(ctx context.Context) ([]shape, error) {
	if len(r.samples) == 0 {
		return nil, fmt.Errorf("no sampled events")
	}
	// Values from the events in the middle of the history.
	mid := r.samples[len(r.samples)/2:]
	pickE := func(ok func(e *auditkeep.Event) bool) *auditkeep.Event {
		for _, e := range mid {
			if ok(e) {
				return e
			}
		}
		for _, e := range r.samples {
			if ok(e) {
				return e
			}
		}
		return mid[0]
	}
	withTarget := pickE(func(e *auditkeep.Event) bool { return e.Target != nil && e.Target.Name != "" })
	withScope := pickE(func(e *auditkeep.Event) bool { return len(e.Scope) > 0 })
	withEmail := pickE(func(e *auditkeep.Event) bool { return e.Actor.Email != "" })
	withIP := pickE(func(e *auditkeep.Event) bool { return e.Context.IP != "" })
	withTeam := pickE(func(e *auditkeep.Event) bool { return e.Team != "" })
	withSource := pickE(func(e *auditkeep.Event) bool { return e.Source != "" })
	ip := withIP.Context.IP
	cidr := ip
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
		cidr = netip.PrefixFrom(a, 24).Masked().String()
	}
	scope := withScope.Scope[0].Type + ":" + withScope.Scope[0].ID
	scope2 := scope
	if e := pickE(func(e *auditkeep.Event) bool { return len(e.Scope) > 1 }); len(e.Scope) > 1 {
		scope2 = auditkeep.ScopePath(e.Scope[:2])
	}
	action := mid[0].Action
	prefix, _, _ := strings.Cut(action, ".")
	v := func(kv ...string) url.Values {
		q := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	out := []shape{
		{"filter", "action", v("action", action)},
		{"filter", "action prefix", v("action", prefix+".*")},
		{"filter", "type", v("type", auditkeep.TypeDelete)},
		{"filter", "actor (email)", v("actor", withEmail.Actor.Email)},
		{"filter", "actor_type", v("actor_type", auditkeep.ActorAPIToken)},
		{"filter", "target_type", v("target_type", withTarget.Target.Type)},
		{"filter", "target_id", v("target_id", withTarget.Target.ID)},
		{"filter", "target (name)", v("target", withTarget.Target.Name)},
		{"filter", "scope", v("scope", scope)},
		{"filter", "team", v("team", withTeam.Team)},
		{"filter", "ip", v("ip", ip)},
		{"filter", "ip (CIDR /24)", v("ip", cidr)},
		{"filter", "source", v("source", withSource.Source)},
		{"filter", "status", v("status", auditkeep.StatusFailure)},
		{"two filters", "action + actor", v("action", withEmail.Action, "actor", withEmail.Actor.Email)},
		{"two filters", "scope + status", v("scope", scope, "status", auditkeep.StatusFailure)},
		{"two filters", "actor_type + type", v("actor_type", auditkeep.ActorUser, "type", auditkeep.TypeDelete)},
		{"two filters", "target_type + source", v("target_type", withTarget.Target.Type, "source", withSource.Source)},
	}
	// GET /v1/events sorts by occurred_at: every single filter again in
	// commit order, as pollers read it.
	for _, sh := range out[:14] {
		q := url.Values{"sort": {auditkeep.SortSeq}}
		for k, vals := range sh.q {
			q[k] = vals
		}
		out = append(out, shape{"filter, seq", sh.name, q})
	}
	t := mid[0].OccurredAt.UTC()
	out = append(out, shape{"time", "one hour", v("from", t.Add(-30*time.Minute).Format(time.RFC3339), "to", t.Add(30*time.Minute).Format(time.RFC3339))})

	// Page 50 of everything, by cursor.
	cursor, page := "", 1
	for ; page < 50; page++ {
		q := v("limit", "50")
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := r.loaded.api.call(ctx, http.MethodGet, "/v1/events", q, nil)
		if err != nil {
			return nil, err
		}
		var p struct {
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if cursor != "" {
		out = append(out, shape{"page", fmt.Sprintf("page %d (cursor)", page), v("cursor", cursor)})
	}

	// Searches: words by how often they occur in the sample.
	rare, common := words(r.samples)
	if rare != "" {
		out = append(out, shape{"search", "selective word", v("q", rare)})
	}
	if common != "" {
		out = append(out, shape{"search", "common word", v("q", common)})
	}
	if ph := phrase(r.samples); ph != "" {
		day := t.Add(-24 * time.Hour).Format(time.DateOnly)
		out = append(out, shape{"search", "phrase + time range", v("q", fmt.Sprintf("%q created:%s..%s", ph, day, t.Format(time.DateOnly)))})
	}
	out = append(out, shape{"search", "key:value only", v("q", fmt.Sprintf("actor:%s action:%s", withEmail.Actor.Email, withEmail.Action))})

	// Facets, as the console's pickers ask for them.
	facet := func(name string, q url.Values) shape {
		return shape{"facets", name, q}
	}
	out = append(out,
		facet("project", v("field", "project")),
		facet("environment in scope", v("field", "environment", "scope", scope)),
		facet("target_type", v("field", "target_type")),
		facet("service in scope", v("field", "service", "scope", scope2)),
		facet("target_type in scope", v("field", "target_type", "scope", scope)),
		facet("target of a type", v("field", "target", "target_type", withTarget.Target.Type)),
		facet("target of a type in scope", v("field", "target", "target_type", withTarget.Target.Type, "scope", scope)),
		facet("team", v("field", "team")),
		facet("actor, failures", v("field", "actor", "status", auditkeep.StatusFailure)),
		facet("action", v("field", "action")),
	)
	return out, nil
}

// tokens splits text into the lowercased runs of letters and digits that
// full-text search indexes.
func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func searchable(e *auditkeep.Event) string {
	t := ""
	if e.Target != nil {
		t = e.Target.Name
	}
	return strings.Join([]string{e.Actor.Name, e.Actor.Email, t, e.Action, e.Team, e.Context.IP, e.Description}, " ")
}

// words returns a selective word (in few of the sampled events; letters
// only, 6 or more) and the most common word of 4 or more letters.
func words(samples []*auditkeep.Event) (rare, common string) {
	df := map[string]int{}
	for _, e := range samples {
		seen := map[string]bool{}
		for _, w := range tokens(searchable(e)) {
			if !seen[w] {
				seen[w] = true
				df[w]++
			}
		}
	}
	type wc struct {
		w string
		n int
	}
	var all []wc
	for w, n := range df {
		all = append(all, wc{w, n})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].w < all[j].w
	})
	letters := func(w string) bool {
		return !strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) })
	}
	for _, x := range all {
		if len(x.w) >= 4 && letters(x.w) {
			common = x.w
			break
		}
	}
	// Rare: seen in two or three sampled events (about 0.1% of all).
	for i := len(all) - 1; i >= 0; i-- {
		if x := all[i]; x.n >= 2 && x.n <= 3 && len(x.w) >= 6 && letters(x.w) {
			rare = x.w
			break
		}
	}
	return rare, common
}

// phrase returns two consecutive words of a sampled description.
func phrase(samples []*auditkeep.Event) string {
	for _, e := range samples[len(samples)/2:] {
		w := tokens(e.Description)
		for i := 0; i+1 < len(w); i++ {
			if len(w[i]) >= 4 && len(w[i+1]) >= 4 {
				return w[i] + " " + w[i+1]
			}
		}
	}
	return ""
}

func (r *runner) query(ctx context.Context) error {
	shapes, err := r.shapes(ctx)
	if err != nil {
		return err
	}
	a := r.loaded.api
	var n atomic.Int64
	for _, sh := range shapes {
		r.pg.track("query "+sh.name, &n, int64(r.cfg.QueryReps))
		n.Store(0)
		var lat recorder
		row := QueryRow{Kind: sh.kind, Name: sh.name, Query: sh.q.Encode()}
		path := sh.path()
		for i := range 2 { // warm up
			body, err := a.call(ctx, http.MethodGet, path, sh.q, nil)
			if err != nil {
				return fmt.Errorf("query %s (%s): %w", sh.name, row.Query, err)
			}
			if i == 0 {
				var p struct {
					Events []json.RawMessage `json:"events"`
					Values []json.RawMessage `json:"values"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					return err
				}
				row.Results = len(p.Events) + len(p.Values)
			}
		}
		start := time.Now()
		for i := 0; i < r.cfg.QueryReps && time.Since(start) < r.cfg.QueryTime; i++ {
			t0 := time.Now()
			if _, err := a.call(ctx, http.MethodGet, path, sh.q, nil); err != nil {
				return err
			}
			lat.add(time.Since(t0))
			n.Add(1)
		}
		row.Latency = lat.summary()
		r.rep.Queries = append(r.rep.Queries, row)
		r.pg.note("%-12s %-22s p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  (%d results)", row.Kind, row.Name, row.Latency.P50, row.Latency.P95, row.Latency.P99, row.Results)
	}
	return nil
}

func (r *runner) export(ctx context.Context) error {
	if r.cfg.ExportCPUProfile != nil {
		if err := pprof.StartCPUProfile(r.cfg.ExportCPUProfile); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, format := range []string{"ndjson", "csv"} {
		row, err := r.exportOne(ctx, format)
		if err != nil {
			return err
		}
		r.rep.Export = append(r.rep.Export, row)
		r.pg.note("export %-6s %d events in %.1f s: %.0f events/s", format, row.Events, row.Seconds, row.EventsPerSec)
	}
	return nil
}

// exportOne exports the loaded tenant, counting records as they stream.
func (r *runner) exportOne(ctx context.Context, format string) (ExportRow, error) {
	row := ExportRow{Format: format}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ExportTime)
	defer cancel()
	start := time.Now()
	resp, err := r.loaded.api.do(ctx, http.MethodGet, "/v1/export", url.Values{"format": {format}}, nil)
	if err != nil {
		return row, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return row, &statusError{resp.StatusCode, string(b)}
	}
	var n atomic.Int64
	r.pg.track("export "+format, &n, r.rep.Load.Events)
	c := &recordCounter{csv: format == "csv"}
	buf := make([]byte, 256<<10)
	for {
		k, err := resp.Body.Read(buf)
		c.count(buf[:k])
		row.Bytes += int64(k)
		n.Store(c.records)
		if err == io.EOF {
			row.Complete = true
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				break // the time limit
			}
			return row, err
		}
	}
	elapsed := time.Since(start)
	row.Events = c.records
	if c.csv && row.Events > 0 {
		row.Events-- // the header
	}
	row.Seconds = elapsed.Round(time.Millisecond).Seconds()
	row.EventsPerSec = rate(row.Events, elapsed)
	return row, nil
}

// recordCounter counts the records of NDJSON (lines) or CSV (lines outside
// quoted fields) as they stream.
type recordCounter struct {
	csv     bool
	quoted  bool
	records int64
}

func (c *recordCounter) count(b []byte) {
	if !c.csv {
		c.records += int64(bytes.Count(b, []byte{'\n'}))
		return
	}
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\"\n")
		if i < 0 {
			return
		}
		if b[i] == '"' {
			c.quoted = !c.quoted // an escaped quote ("") flips twice
		} else if !c.quoted {
			c.records++
		}
		b = b[i+1:]
	}
}

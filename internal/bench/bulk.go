package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

const (
	// bulkBatch is the events of one Store.Append of a bulk load.
	bulkBatch = 5000
	// bulkWriters is how many goroutines validate and append batches.
	bulkWriters = 2
	// keptFile, in a Keep directory, describes the load kept there.
	keptFile = "bench-load.json"
	// samplesPerLoad is about how many loaded events are sampled for
	// query values.
	samplesPerLoad = 2000
)

// kept is what a Keep directory holds of its load.
type kept struct {
	Events int       `json:"events"`
	Seed   int64     `json:"seed"` // the generator's
	End    time.Time `json:"end"`  // the generator's end
	Schema string    `json:"schema,omitempty"`
	Key    string    `json:"key"`
	Load   Load      `json:"load"`
	// Samples are the loaded events sampled for query values (the
	// generator does not give the same events twice).
	Samples []*auditkeep.Event `json:"samples"`
}

// bulkLoad fills the tenant through Store.Append before its server
// starts, or reuses the load kept in cfg.Keep.
func (r *runner) bulkLoad(ctx context.Context) error {
	var k kept
	if r.cfg.Keep != "" {
		b, err := os.ReadFile(filepath.Join(r.cfg.Keep, keptFile))
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &k); err != nil {
				return fmt.Errorf("%s: %w", keptFile, err)
			}
			return r.reuseKept(ctx, &k)
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	loc, err := r.bulkLocation(ctx, &k)
	if err != nil {
		return err
	}
	st, err := r.st.open(ctx, loc)
	if err != nil {
		return err
	}
	if err := st.CreateTenant(ctx, &auditkeep.Tenant{ID: benchTenant, CreatedAt: time.Now().UTC()}); err != nil {
		st.Close()
		return err
	}
	n := r.cfg.Events
	k.Events, k.Seed, k.End = n, r.nextSeed(), time.Now().Add(-5*time.Minute).UTC().Truncate(time.Second)
	start := time.Now()
	sent, ndjson, err := r.bulkAppend(ctx, st, newSourceEnding(k.Seed, n, k.End), n)
	elapsed := time.Since(start)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	k.Load = Load{Events: sent, Seconds: elapsed.Round(time.Millisecond).Seconds(), EventsPerSec: rate(sent, elapsed),
		Batch: bulkBatch, Clients: bulkWriters, NDJSONBytes: ndjson,
		Note: fmt.Sprintf("bulk: validated as ingest does and stored through Store.Append in batches of %d from %d writers, no HTTP, the ledger off; the events are generated during the load, on the same cores", bulkBatch, bulkWriters)}
	r.pg.note("loaded %d events in %s: %.0f events/s (Store.Append)", sent, elapsed.Round(time.Second), k.Load.EventsPerSec)
	s, root, err := r.serveAt(ctx, loc, false)
	if err != nil {
		return err
	}
	if k.Key, err = createKey(ctx, root); err != nil {
		return err
	}
	s.api = newAPI(s.srv.URL(), k.Key)
	r.loaded, r.rep.Load = s, &k.Load
	if r.cfg.Keep != "" {
		k.Samples = r.samples
		b, _ := json.MarshalIndent(&k, "", "  ")
		return os.WriteFile(filepath.Join(r.cfg.Keep, keptFile), b, 0o600)
	}
	return nil
}

// bulkLocation returns fresh storage for a bulk load: in cfg.Keep (and a
// new schema, named in k) when set, kept after the run.
func (r *runner) bulkLocation(ctx context.Context, k *kept) (location, error) {
	if r.cfg.Keep == "" {
		return r.st.fresh(ctx)
	}
	loc := location{Dir: filepath.Join(r.cfg.Keep, "data")}
	if err := os.MkdirAll(loc.Dir, 0o700); err != nil {
		return loc, err
	}
	if r.st.databaseURL == "" {
		return loc, nil
	}
	b := make([]byte, 6)
	rand.Read(b)
	k.Schema = "auditkeep_bench_kept_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, r.st.databaseURL)
	if err != nil {
		return loc, fmt.Errorf("connect to %s: %w", redactURL(r.st.databaseURL), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{k.Schema}.Sanitize()); err != nil {
		return loc, fmt.Errorf("create schema: %w", err)
	}
	return r.keptLocation(k)
}

// keptLocation returns the storage of a kept load.
func (r *runner) keptLocation(k *kept) (location, error) {
	loc := location{Dir: filepath.Join(r.cfg.Keep, "data"), Schema: k.Schema}
	if (k.Schema != "") != (r.st.databaseURL != "") {
		return loc, fmt.Errorf("%s holds a load of the other store: remove it, or pass --database-url as when it was made", r.cfg.Keep)
	}
	if k.Schema == "" {
		return loc, nil
	}
	u, err := url.Parse(r.st.databaseURL)
	if err != nil {
		return loc, err
	}
	q := u.Query()
	q.Set("search_path", k.Schema)
	u.RawQuery = q.Encode()
	loc.URL = u.String()
	return loc, nil
}

// reuseKept starts a server over the load kept in cfg.Keep and samples its
// events again from the generator.
func (r *runner) reuseKept(ctx context.Context, k *kept) error {
	if k.Events != r.cfg.Events {
		return fmt.Errorf("%s holds a load of %d events: remove it, or pass --events %d", r.cfg.Keep, k.Events, k.Events)
	}
	loc, err := r.keptLocation(k)
	if err != nil {
		return err
	}
	s, _, err := r.serveAt(ctx, loc, false)
	if err != nil {
		return err
	}
	s.api = newAPI(s.srv.URL(), k.Key)
	r.loaded = s
	load := k.Load
	load.Note = "kept from an earlier run in " + r.cfg.Keep + "; " + load.Note
	r.rep.Load = &load
	r.pg.note("reusing the %d events kept in %s", k.Events, r.cfg.Keep)
	if len(k.Samples) == 0 {
		return fmt.Errorf("%s holds no sampled events: remove it and load again", r.cfg.Keep)
	}
	r.samples = k.Samples
	return nil
}

// bulkAppend generates n events from src and appends them to st in
// batches of bulkBatch, validated as ingest does, from bulkWriters
// goroutines; it samples every few for query values. It returns the events
// stored and their size as NDJSON.
func (r *runner) bulkAppend(ctx context.Context, st auditkeep.Store, src *source, n int) (int64, int64, error) {
	type chunk struct {
		first int
		lines [][]byte
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, 2*bulkWriters)
	var (
		sent     atomic.Int64
		once     sync.Once
		firstErr error
		mu       sync.Mutex
		samples  []*auditkeep.Event
		at       []int
		wg       sync.WaitGroup
	)
	every := max(1, n/samplesPerLoad)
	fail := func(err error) { once.Do(func() { firstErr = err; cancel() }) }
	for range bulkWriters {
		wg.Go(func() {
			now := time.Now().UTC()
			lim := ingest.DefaultLimits()
			for c := range chunks {
				if ctx.Err() != nil {
					continue
				}
				events := make([]*auditkeep.Event, len(c.lines))
				var err error
				for j, line := range c.lines {
					if events[j], err = ingest.Validate(json.RawMessage(line), "", now, lim); err != nil {
						fail(fmt.Errorf("generated event %d: %w", c.first+j, err))
						break
					}
					events[j].Tenant, events[j].ReceivedAt = benchTenant, now
				}
				if err != nil {
					continue
				}
				if err := st.Append(ctx, events); err != nil {
					fail(fmt.Errorf("append: %w", err))
					continue
				}
				sent.Add(int64(len(events)))
				mu.Lock()
				for j, e := range events {
					if i := c.first + j; i%every == every/2 {
						samples, at = append(samples, e), append(at, i)
					}
				}
				mu.Unlock()
			}
		})
	}
	r.pg.track("loading (Store.Append)", &sent, int64(n))
	var ndjson int64
	for i := 0; i < n && ctx.Err() == nil; {
		c := chunk{first: i}
		for ; i < n && len(c.lines) < bulkBatch; i++ {
			_, line := src.next()
			ndjson += int64(len(line)) + 1
			c.lines = append(c.lines, line)
		}
		select {
		case chunks <- c:
		case <-ctx.Done():
		}
	}
	close(chunks)
	wg.Wait()
	if firstErr != nil {
		return sent.Load(), ndjson, firstErr
	}
	if err := ctx.Err(); err != nil {
		return sent.Load(), ndjson, err
	}
	// The samples in load order.
	idx := make([]int, len(samples))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(at[a], at[b]) })
	for _, i := range idx {
		r.samples = append(r.samples, samples[i])
	}
	return sent.Load(), ndjson, nil
}

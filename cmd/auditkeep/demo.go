package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/demo"
)

const demoSynopsis = `demo [--tenant TENANT] [--events N] [--seed N] [--senders N] [--progress]

Fills a tenant with a realistic cloud platform's audit history: people, API
tokens and the platform itself acting on projects, environments, services,
secrets, models, GPU pods, members and tokens, over the last days (up to
about 20), ending a few minutes ago. Now and then it holds what the default
alert rules watch for: an attack's burst of failed logins, a project torn
down (dozens of deletions within seconds), a member's role raised to admin,
and API tokens created.
Events go in batches of 1,000 through POST /v1/events.

With --tenant, the key is the root key (or the tenant's admin key): the
tenant is created if it does not exist, and a key with ingest, read and
export scopes is created for it and printed. Without --tenant, the key is an
ingest key of the tenant to fill. The same seed gives the same event IDs:
sending them again stores nothing new.`

// demoBatch is the number of events per request.
const demoBatch = client.MaxBatch

// runDemo sends generated events to a server.
func runDemo(ctx context.Context, e *env, args []string) int {
	const name = "demo"
	fs := newFlagSet(e, name, demoSynopsis)
	cf := addClientFlags(fs, e, true)
	tenant := fs.String("tenant", "", "create this tenant if needed, and a key to fill it")
	events := fs.Int("events", 10000, "number of events")
	seed := fs.Int64("seed", 0, "generator seed (default: from the clock; printed)")
	senders := fs.Int("senders", 4, "concurrent requests")
	progress := fs.Bool("progress", false, "show progress on stderr even when it is not a terminal")
	pos, err := parse(fs, args)
	if err != nil {
		return usageError(e, name, err)
	}
	switch {
	case len(pos) > 0:
		err = fmt.Errorf("unexpected argument %q", pos[0])
	case *events < 1:
		err = errors.New("--events must be 1 or more")
	case *senders < 1 || *senders > 64:
		err = errors.New("--senders must be from 1 to 64")
	case *tenant != "" && !auditkeep.ValidTenantID(*tenant):
		err = fmt.Errorf("tenant name %q must be 1-63 lowercase letters, digits or '-'", *tenant)
	default:
		err = cf.check()
	}
	if err != nil {
		return usageError(e, name, err)
	}
	if !setFlags(fs)["seed"] {
		*seed = time.Now().UnixNano() % 1_000_000_000
	}

	c := cf.client()
	var newKey *client.NewKey
	if *tenant != "" {
		newKey, err = demoTenant(ctx, c, *tenant)
		if err != nil {
			return requestFailed(e, name, err)
		}
		c = client.New(cf.server, newKey.Key, client.WithUserAgent("auditkeep-cli/1"), client.WithHTTPClient(http.DefaultClient))
	}

	// Spread the history over the last days, at a few thousand events a
	// day or more, ending a few minutes ago (the server refuses events from
	// the future; the few that would be later are sent as of now).
	opts := demo.Options{EventsPerDay: max(3000, float64(*events)/20)}
	gen := demo.New(*seed, demo.Start(*events, time.Now().Add(-5*time.Minute), opts), opts)

	to := ""
	if *tenant != "" {
		to = " to tenant " + *tenant
	}
	fmt.Fprintf(e.stderr, "Sending %s events%s (seed %d) with %d senders...\n", thousands(int64(*events)), to, *seed, *senders)
	var stop func()
	st := &demoStats{}
	start := time.Now()
	if *progress || isTerminal(e.stderr) {
		stop = progressLine(e.stderr, func() string {
			return thousands(st.accepted.Load()) + " events  " + rate(st.accepted.Load(), start) + " events/s"
		})
	}
	err = sendDemo(ctx, c, gen, *events, *senders, st)
	if stop != nil {
		stop()
	}
	elapsed := time.Since(start)
	if err != nil {
		fmt.Fprintf(e.stderr, "Sent %s events before the error.\n", thousands(st.accepted.Load()))
		return requestFailed(e, name, err)
	}
	filled := *tenant
	if t, _ := st.tenant.Load().(string); t != "" {
		filled = t
	}
	into := ""
	if filled != "" {
		into = " to tenant " + clean(filled)
	}
	fmt.Fprintf(e.stdout, "Sent %s events (%s already stored)%s in %s: %s events/s\n",
		thousands(st.accepted.Load()), thousands(st.duplicates.Load()), into, elapsed.Round(time.Millisecond), rate(st.accepted.Load(), start))
	if newKey != nil {
		fmt.Fprintf(e.stdout, "Key %s of tenant %s (scopes %v), to read them:\n%s\n", newKey.ID, *tenant, newKey.Scopes, newKey.Key)
		fmt.Fprintln(e.stderr, "Store the key now: it is not shown again.")
	}
	return exitOK
}

// demoTenant creates the tenant unless it exists (or the key may not create
// tenants), then a key to fill and read it.
func demoTenant(ctx context.Context, c *client.Client, tenant string) (*client.NewKey, error) {
	_, err := c.CreateTenant(ctx, client.TenantParams{Name: tenant, RetentionDays: 30})
	var ae *client.APIError
	if err != nil && !(errors.As(err, &ae) && (ae.Code == auditkeep.ECONFLICT || ae.Code == auditkeep.EFORBIDDEN)) {
		return nil, err
	}
	return c.CreateKey(ctx, tenant, "demo", []string{auditkeep.ScopeIngest, auditkeep.ScopeRead, auditkeep.ScopeExport})
}

// demoStats counts what the server acknowledged.
type demoStats struct {
	accepted, duplicates atomic.Int64
	tenant               atomic.Value // string: the tenant the server stored the events in
}

// sendDemo generates n events and sends them in batches through senders
// concurrent requests. Requests the server may take later (429, 503) are
// retried; the first other error stops everything and is returned.
func sendDemo(ctx context.Context, c *client.Client, gen *demo.Generator, n, senders int, st *demoStats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []auditkeep.Event, senders)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	for range senders {
		wg.Go(func() {
			for b := range batches {
				res, err := ingestRetry(ctx, c, b)
				if err != nil {
					fail(err)
					continue // drain
				}
				st.accepted.Add(int64(res.Accepted))
				st.duplicates.Add(int64(res.Duplicates))
				if res.Tenant != "" {
					st.tenant.Store(res.Tenant)
				}
			}
		})
	}
	limit := time.Now()
	for sent := 0; sent < n && ctx.Err() == nil; {
		b := make([]auditkeep.Event, min(demoBatch, n-sent))
		for i := range b {
			b[i] = gen.Next()
			if b[i].OccurredAt.After(limit) {
				b[i].OccurredAt = limit // a history a little denser than planned, never in the future
			}
		}
		sent += len(b)
		select {
		case batches <- b:
		case <-ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return firstErr
}

// ingestRetry sends a batch, retrying while the server says it may succeed later.
func ingestRetry(ctx context.Context, c *client.Client, b []auditkeep.Event) (*client.IngestResult, error) {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		res, err := c.Ingest(ctx, b)
		var ae *client.APIError
		if err == nil || attempt == 8 || !errors.As(err, &ae) || !ae.Temporary() {
			return res, err
		}
		wait := max(delay, ae.RetryAfter)
		delay = min(2*delay, 10*time.Second)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

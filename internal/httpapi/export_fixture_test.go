package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/archive"
	"github.com/auditkeep/auditkeep/internal/demo"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/retention"
)

// exportStore is a store the export tests serve: embedded or PostgreSQL.
type exportStore interface {
	retention.Store
	retention.Guarded
	ingest.TrackerStore
	Close() error
}

// capable sets cfg's Locker and Partitions to its store's, when the store
// has them, as the server sets the PostgreSQL store's.
func capable(cfg retention.Config) retention.Config {
	cfg.Locker, _ = cfg.Store.(auditkeep.RetentionLocker)
	cfg.Partitions, _ = cfg.Store.(auditkeep.PartitionStore)
	return cfg
}

// ledgerStorage is a store's ledger: its trees, and the events they read.
type ledgerStorage interface {
	ledger.Storage
	ledger.Events
}

// exportAPI is the API wired as `auditkeep serve` wires it (the read guard
// of retention in front of the store, the tracker, the store's ledger),
// with a settable clock, served by its handler without a listener.
type exportAPI struct {
	srv   *httpapi.Server
	svc   *ingest.Service
	ret   *retention.Service
	store exportStore
	led   ledgerStorage
	in    *ledger.Integrator
	now   time.Time
}

// newExportAPI serves st with its ledger led (integrated by a.integrate).
func newExportAPI(tb testing.TB, st exportStore, led ledgerStorage) *exportAPI {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	u, _ := archive.DirURL(tb.TempDir())
	arch, err := archive.Open(context.Background(), u, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	skey, _, err := ledger.GenerateKey("test.example")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	a := &exportAPI{store: st, led: led, now: time.Now().UTC(),
		in: ledger.NewIntegrator(ledger.IntegratorConfig{Storage: led, Events: led, Signer: signer, Logger: quiet})}
	clock := func() time.Time { return a.now }
	c := ingest.NewCommitter(st)
	a.svc = ingest.NewService(c)
	a.svc.Now = clock
	tracker := ingest.NewTracker(st)
	c.Prepare = tracker.Prepare
	a.ret = retention.New(capable(retention.Config{Store: st, Archive: arch, Now: clock, Logger: quiet}))
	a.svc.Steps = []ingest.Step{a.ret.Step, tracker.Step}
	guarded := a.ret.Guard(st)
	a.srv = httpapi.New(guarded, a.svc, httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey), Logger: quiet,
		Retention: a.ret, Ledger: &httpapi.Ledger{Storage: led}, Facets: guarded, EventJSON: guarded})
	a.srv.Now = clock
	c.OnCommit = a.srv.ObserveCommit
	c.Open()
	tb.Cleanup(func() {
		c.Close()
		st.Close()
	})
	return a
}

// integrate integrates the tenant's events stored so far into its tree.
func (a *exportAPI) integrate(tb testing.TB, tenant string) {
	tb.Helper()
	if _, err := a.in.Integrate(context.Background(), tenant); err != nil {
		tb.Fatalf("integrate %s: %v", tenant, err)
	}
}

// call serves one request and returns the status and body.
func (a *exportAPI) call(tb testing.TB, method, path, key string, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	a.srv.Handler().ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// tenant creates a tenant with retention days (0: unlimited) and returns a
// key with every scope.
func (a *exportAPI) tenant(tb testing.TB, name string, days int) string {
	tb.Helper()
	if code, body := a.call(tb, "POST", "/v1/tenants", rootKey, map[string]any{"name": name, "retention_days": days}); code != 201 {
		tb.Fatalf("create tenant: %d %s", code, body)
	}
	// The key goes straight to the store, so that the tenant's log holds
	// only the events the test sends.
	key := httpapi.NewKey()
	k := &auditkeep.APIKey{ID: "key_" + key[3:15], Tenant: name, Name: "test", Scopes: []string{"admin", "export", "ingest", "read"},
		Hash: httpapi.HashKey(key), CreatedAt: a.now.UTC()}
	if err := a.store.CreateKey(context.Background(), k); err != nil {
		tb.Fatalf("create key: %v", err)
	}
	return key
}

// ingestDemo ingests n events of the demo generator (seed 1) ending about
// now, in batches of 1,000 through the ingest service.
func (a *exportAPI) ingestDemo(tb testing.TB, tenant string, n int) {
	tb.Helper()
	opts := demo.Options{EventsPerDay: 20000}
	g := demo.New(1, demo.Start(n, a.now.Add(-time.Hour), opts), opts)
	for n > 0 {
		batch := make([]auditkeep.Event, min(n, 1000))
		for i := range batch {
			batch[i] = g.Next()
		}
		n -= len(batch)
		a.ingestEvents(tb, tenant, batch)
	}
}

// ingestEvents ingests events as their sender's JSON.
func (a *exportAPI) ingestEvents(tb testing.TB, tenant string, events any) {
	tb.Helper()
	body, err := json.Marshal(map[string]any{"events": events})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.svc.Ingest(context.Background(), tenant, body); err != nil {
		tb.Fatalf("ingest: %v", err)
	}
}

// discard is a ResponseWriter that counts and drops the body.
type discard struct {
	h      http.Header
	status int
	n      int64
}

func (d *discard) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(b []byte) (int, error) { d.n += int64(len(b)); return len(b), nil }

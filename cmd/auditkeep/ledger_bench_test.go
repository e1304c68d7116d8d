package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/cputime"
	"github.com/auditkeep/auditkeep/internal/ledger"
	"github.com/auditkeep/auditkeep/internal/pgtest"
)

// TestLedgerCost measures what BENCHMARKS.md reports under "Tamper
// evidence": ingest throughput with and without the ledger, integration lag,
// and verification of the resulting bundle. It runs only with
// AUDITKEEP_LEDGER_BENCH=<events> (e.g. 1000000); add
// AUDITKEEP_LEDGER_BENCH_DB=postgres://... to measure on PostgreSQL.
func TestLedgerCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUDITKEEP_LEDGER_BENCH"))
	if n <= 0 {
		t.Skip("set AUDITKEEP_LEDGER_BENCH=<events> to measure the ledger's cost")
	}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("ledger=%v", on), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Ledger = on
			if db := os.Getenv("AUDITKEEP_LEDGER_BENCH_DB"); db != "" {
				cfg.DatabaseURL = pgtest.Schema(t, db)
			}
			a := testServer(t, cfg)
			base := a.URL()
			key := setupTenant(t, base, "acme")
			cpu0 := cputime.Process()
			rate := benchIngest(t, base, key, n)
			t.Logf("ledger=%v: %d events ingested at %.0f events/s", on, n, rate)
			if !on {
				t.Logf("ledger=%v: %.1f cpu-µs per event (server and clients)", on, (cputime.Process()-cpu0).Seconds()*1e6/float64(n))
				return
			}
			start := time.Now()
			waitIntegrated(t, base, key, uint64(n))
			t.Logf("integration caught up %s after the last ack", time.Since(start).Round(time.Millisecond))
			t.Logf("ledger=%v: %.1f cpu-µs per event (server and clients, integration included)", on, (cputime.Process()-cpu0).Seconds()*1e6/float64(n))
			p50, p99 := lagQuantiles(t, metricsText(t, base))
			t.Logf("integration lag (histogram estimate): p50 %.3fs, p99 %.3fs", p50, p99)

			bundle := filepath.Join(t.TempDir(), "bundle.ndjson")
			start = time.Now()
			if code, _, errs := runCLI(t, nil, "export", "--server", base, "--key", key, "--with-proofs", "-o", bundle); code != 0 {
				t.Fatalf("export --with-proofs: %s", errs)
			}
			fi, _ := os.Stat(bundle)
			t.Logf("bundle of %d events, %.0f MiB, exported in %s", n, float64(fi.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
			start = time.Now()
			code, out, errs := runCLI(t, nil, "verify", "--bundle", bundle, "--public-key", verifierKey(t, base))
			if code != 0 {
				t.Fatalf("verify --bundle = %d %s %s", code, out, errs)
			}
			d := time.Since(start)
			t.Logf("verify --bundle: %s in %s (%.0f events/s)", strings.TrimSpace(out), d.Round(time.Millisecond), float64(n)/d.Seconds())
			start = time.Now()
			state := filepath.Join(t.TempDir(), "state.json")
			code, out, errs = runCLI(t, nil, "verify", "--server", base, "--key", key, "--state", state)
			if code != 0 {
				t.Fatalf("verify (live) = %d %s %s", code, out, errs)
			}
			d = time.Since(start)
			t.Logf("verify (live): %s in %s (%.0f events/s)", strings.TrimSpace(out), d.Round(time.Millisecond), float64(n)/d.Seconds())
		})
	}
}

// benchIngest sends n events in batches of 100 from 8 clients and returns
// the events acknowledged per second.
func benchIngest(t *testing.T, base, key string, n int) float64 {
	const batch, clients = 100, 8
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				i := int(next.Add(batch)) - batch
				if i >= n {
					return
				}
				var events []any
				for j := i; j < min(i+batch, n); j++ {
					e := event(fmt.Sprintf("b%d-%d", c, j), "environment.update", fmt.Sprintf("usr_%d", j%50))
					e["metadata"] = map[string]any{"request_id": fmt.Sprintf("req_%08d", j), "changes": j % 7}
					events = append(events, e)
				}
				buf.Reset()
				json.NewEncoder(&buf).Encode(map[string]any{"events": events})
				req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader(buf.Bytes()))
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Errorf("ingest: status %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// lagQuantiles estimates p50 and p99 of auditkeep_ledger_lag_seconds from
// its buckets, as PromQL's histogram_quantile does.
func lagQuantiles(t *testing.T, metrics string) (p50, p99 float64) {
	type bucket struct{ le, count float64 }
	var buckets []bucket
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `auditkeep_ledger_lag_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, count, _ := strings.Cut(rest, `"} `)
		b := bucket{count: mustFloat(count)}
		if le == "+Inf" {
			b.le = math.Inf(1)
		} else {
			b.le = mustFloat(le)
		}
		buckets = append(buckets, b)
	}
	if len(buckets) == 0 {
		t.Fatal("no auditkeep_ledger_lag_seconds buckets in /metrics")
	}
	total := buckets[len(buckets)-1].count
	q := func(phi float64) float64 {
		rank := phi * total
		prevLe, prevCount := 0.0, 0.0
		for _, b := range buckets {
			if b.count >= rank {
				if math.IsInf(b.le, 1) {
					return prevLe
				}
				return prevLe + (b.le-prevLe)*(rank-prevCount)/math.Max(b.count-prevCount, 1)
			}
			prevLe, prevCount = b.le, b.count
		}
		return prevLe
	}
	return q(0.5), q(0.99)
}

func mustFloat(s string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f
}

// sliceEvents serves events from memory, as a store would.
type sliceEvents struct{ events []*auditkeep.Event }

func (s *sliceEvents) Tenants(context.Context) ([]string, error) { return []string{"acme"}, nil }

func (s *sliceEvents) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	from := 0
	if f.Cursor != nil {
		from = int(f.Cursor.Seq)
	}
	for _, e := range s.events[from:] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// TestVerifyLargeBundle measures `auditkeep verify --bundle` on a bundle of
// AUDITKEEP_LEDGER_BENCH_BUNDLE events (e.g. 1000000), built without a
// server from the reference storage.
func TestVerifyLargeBundle(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("AUDITKEEP_LEDGER_BENCH_BUNDLE"))
	if n <= 0 {
		t.Skip("set AUDITKEEP_LEDGER_BENCH_BUNDLE=<events> to measure verification of a large bundle")
	}
	ctx := context.Background()
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	src := &sliceEvents{}
	for i := range n {
		at := base.Add(time.Duration(i) * 37 * time.Millisecond)
		src.events = append(src.events, &auditkeep.Event{
			Tenant: "acme", Seq: int64(i + 1), ReceivedAt: at.Add(120 * time.Millisecond), ID: fmt.Sprintf("evt_%08d", i),
			OccurredAt: at, Action: "environment.update", Type: auditkeep.TypeUpdate, Status: auditkeep.StatusSuccess,
			Actor:    auditkeep.Actor{Type: auditkeep.ActorUser, ID: fmt.Sprintf("usr_%d", i%50), Name: "Alice Martin", Email: "alice@example.com"},
			Target:   &auditkeep.Target{Type: "environment", ID: "env_7", Name: "production"},
			Scope:    []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}},
			Source:   "console",
			Context:  auditkeep.Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
			Changes:  []auditkeep.Change{{Field: "settings.cpu", Op: "changed", Old: json.RawMessage(`"1"`), New: json.RawMessage(`"2"`)}},
			Metadata: json.RawMessage(fmt.Sprintf(`{"request_id":"req_%08d"}`, i)),
		})
	}
	skey, vkey, _ := ledger.GenerateKey("bench")
	signer, _ := ledger.NewSigner(skey)
	mem := ledger.NewMemoryStorage()
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: mem, Events: src, Signer: signer, MaxBatch: 100000})
	start := time.Now()
	if size, err := in.Integrate(ctx, "acme"); err != nil || size != uint64(n) {
		t.Fatalf("Integrate = %d, %v", size, err)
	}
	t.Logf("integrated %d events in %s", n, time.Since(start).Round(time.Millisecond))
	path := filepath.Join(t.TempDir(), "bundle.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := ledger.WriteBundle(ctx, w, mem, src, "acme"); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	f.Close()
	src.events = nil
	fi, _ := os.Stat(path)
	start = time.Now()
	code, out, errs := runCLI(t, nil, "verify", "--bundle", path, "--public-key", vkey)
	d := time.Since(start)
	if code != 0 {
		t.Fatalf("verify --bundle = %d %s %s", code, out, errs)
	}
	t.Logf("verify --bundle of %d events (%.0f MiB): %s in %s (%.0f events/s)", n, float64(fi.Size())/(1<<20), strings.TrimSpace(out), d.Round(time.Millisecond), float64(n)/d.Seconds())
}

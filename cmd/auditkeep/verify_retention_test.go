package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// TestVerifyRetention runs the real server on SQLite: a tenant whose old
// events are past retention verifies before the purge (the bundle holds
// expired events not removed yet) and after it (the seqs removed are
// reported as purged by the log's own retention.purge event), live and
// from an exported bundle; an event then deleted in the database file is
// named as removed.
func TestVerifyRetention(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Retention.Enabled = false // purges are run by the test
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	if r := call(t, "PUT", base+"/v1/tenants/acme", testRootKey, map[string]any{"retention_days": 0}); r.status != 200 {
		t.Fatalf("PUT retention 0: %d %s", r.status, r.body)
	}
	// Rules that would hash every value of a purge record's metadata, and a
	// schema no purge record fits: the server's own records are not the
	// tenant's to redact or to hold to its schemas.
	if r := call(t, "PUT", base+"/v1/settings", key, map[string]any{"redaction": map[string]any{"paths": []string{"seqs", "*", "**.seqs"}}}); r.status != 200 {
		t.Fatalf("PUT /v1/settings: %d %s", r.status, r.body)
	}
	if r := call(t, "PUT", base+"/v1/actions/retention.purge/schema", key, map[string]any{"type": "object", "required": []any{"never"}}); r.status != 201 {
		t.Fatalf("PUT /v1/actions/retention.purge/schema: %d %s", r.status, r.body)
	}
	// Fifteen events: ev-04, ev-05 and ev-10 .. ev-14 recent, the others
	// 40 days old or more (backfilled while retention is unlimited).
	now := time.Now().UTC()
	old := func(i int) bool { return i < 4 || (i >= 6 && i < 10) }
	var batch []any
	for i := range 15 {
		ev := event(fmt.Sprintf("ev-%02d", i), "environment.update", "usr_42")
		age := time.Duration(i) * time.Hour
		if old(i) {
			age = time.Duration(40+i) * 24 * time.Hour
		}
		ev["occurred_at"] = now.Add(-age).Format(time.RFC3339Nano)
		batch = append(batch, ev)
	}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	if r := call(t, "PUT", base+"/v1/tenants/acme", testRootKey, map[string]any{"retention_days": 30}); r.status != 200 {
		t.Fatalf("PUT retention 30: %d %s", r.status, r.body)
	}
	stored := func() []*auditkeep.Event {
		t.Helper()
		var out []*auditkeep.Event
		if err := a.store.ScanEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(e *auditkeep.Event) error {
			out = append(out, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	events := stored()
	size := events[len(events)-1].Seq
	waitIntegrated(t, base, key, uint64(size))
	var want [][2]int64 // the seqs of the old events, merged
	seqOf := map[string]int64{}
	for _, e := range events {
		seqOf[e.ID] = e.Seq
		var i int
		if _, err := fmt.Sscanf(e.ID, "ev-%d", &i); err == nil && old(i) {
			if n := len(want); n > 0 && want[n-1][1]+1 == e.Seq {
				want[n-1][1] = e.Seq
			} else {
				want = append(want, [2]int64{e.Seq, e.Seq})
			}
		}
	}
	if len(want) != 2 {
		t.Fatalf("fixture: old events at seqs %v; want two ranges", want)
	}
	if ids := listIDs(t, base, key, "action=environment.update&limit=100"); len(ids) != 7 {
		t.Fatalf("the tenant lists %d events before the purge; want the 7 within retention", len(ids))
	}

	pub := verifierKey(t, base)
	state := filepath.Join(t.TempDir(), "state.json")
	live := func(want int) string {
		t.Helper()
		code, out, errs := runCLI(t, nil, "verify", "--server", a.URL(), "--key", key, "--state", state, "--public-key", pub)
		if code != want {
			t.Fatalf("verify (live) = %d; want %d\nstdout: %s\nstderr: %s", code, want, out, errs)
		}
		if want == exitOK {
			size++ // the bundle it read, recorded once it was sent
			waitIntegrated(t, base, key, uint64(size))
		}
		return out
	}
	offline := func(want int) string {
		t.Helper()
		file := filepath.Join(t.TempDir(), "bundle.ndjson")
		if code, out, errs := runCLI(t, nil, "export", "--server", a.URL(), "--key", key, "--with-proofs", "-o", file); code != exitOK {
			t.Fatalf("export --with-proofs = %d\n%s%s", code, out, errs)
		}
		code, out, errs := runCLI(t, nil, "verify", "--bundle", file, "--public-key", pub)
		if code != want {
			t.Fatalf("verify --bundle = %d; want %d\nstdout: %s\nstderr: %s", code, want, out, errs)
		}
		if want == exitOK {
			size++ // the bundle's download
			waitIntegrated(t, base, key, uint64(size))
		}
		return out
	}

	// Expired, not purged yet: hidden from reads, in the bundle.
	// Each verification's bundle is recorded once it was sent: the live one
	// sees the tree before, the bundle's one more.
	at := map[string]int64{"live": size, "bundle": size + 1}
	for name, out := range map[string]string{"live": live(exitOK), "bundle": offline(exitOK)} {
		if first := fmt.Sprintf("OK: tree size %d, root ", at[name]); !strings.HasPrefix(out, first) || strings.Contains(out, "purged") {
			t.Errorf("verify (%s) before the purge = %q; want %q... and nothing purged", name, out, first)
		}
	}

	rep, err := a.retention.RunTenant(ctx, "acme")
	if err != nil || rep.Removed != 8 || !slices.Equal(rep.Purged, want) {
		t.Fatalf("RunTenant = %+v, %v; want the 8 old events removed, seqs %v", rep, err, want)
	}
	size++ // the retention.purge event
	waitIntegrated(t, base, key, uint64(size))
	purged := fmt.Sprintf("; seqs %d-%d, %d-%d purged by retention (recorded at seq %d)\n", want[0][0], want[0][1], want[1][0], want[1][1], size)
	at = map[string]int64{"live": size, "bundle": size + 1}
	for name, out := range map[string]string{"live": live(exitOK), "bundle": offline(exitOK)} {
		line, rest, _ := strings.Cut(out, "\n")
		if !strings.HasPrefix(out, fmt.Sprintf("OK: tree size %d, root ", at[name])) || !strings.HasSuffix(line+"\n", purged) {
			t.Errorf("verify (%s) after the purge = %q; want OK, size %d, ending %q", name, out, at[name], purged)
		}
		if !strings.Contains(rest, "auditkeep archive verify --tenant acme") {
			t.Errorf("verify (%s) after the purge = %q; want a pointer to 'auditkeep archive verify'", name, out)
		}
	}

	// One more event removed, in the database file, with no record of it.
	gone := seqOf["ev-12"]
	a.Close()
	tm := openSQLiteTamperer(t, cfg.DataDir)
	tm.del(gone)
	tm.close()
	a = testServer(t, cfg)
	wantBad := fmt.Sprintf("FAILED: seq %d removed", gone)
	if out := live(exitNegative); !strings.HasPrefix(out, wantBad) {
		t.Errorf("verify (live) after a deletion = %q; want %q", out, wantBad)
	}
	if out := offline(exitNegative); !strings.HasPrefix(out, wantBad) {
		t.Errorf("verify --bundle after a deletion = %q; want %q", out, wantBad)
	}
}

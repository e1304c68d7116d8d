package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLedgerHashesEventsAsStored: the integrator hashes the events this
// node committed from memory, as handed over by the committer, not as read
// back. Every leaf it computed that way must equal the leaf of the stored
// event, which `verify` recomputes from what the store returns: realistic
// history (snapshots, before states, changes), redacted secrets, numbers
// JSON can spell several ways, nanosecond times and text needing escapes,
// on both stores.
func TestLedgerHashesEventsAsStored(t *testing.T) {
	forEachStore(t, func(t *testing.T, cfg Config) {
		a := testServer(t, cfg)
		base := a.URL()
		key := setupTenant(t, base, "acme")
		if r := call(t, "PUT", base+"/v1/settings", key, map[string]any{"redaction": map[string]any{"paths": []string{"**.password", "token"}}}); r.status != 200 {
			t.Fatalf("PUT /v1/settings = %d %s", r.status, r.body)
		}
		seedDemo(t, base, key)
		var odd []any
		for i, raw := range []string{
			`{"n": 1.0, "big": 1e21, "small": 0.000001, "neg": -0.5, "exp": 12E-1, "int": 9007199254740992}`,
			`{"text": "caf\u00e9 \u2028 <b>&amp;</b> \"q\" \\ \t", "emoji": "\ud83d\ude80", "z": {"b": [3, {"y": null, "a": true}], "a": ""}}`,
			`{"password": "hunter2", "nested": {"password": "s3cret", "keep": [1, 2]}, "token": "tok_123"}`,
		} {
			var meta map[string]any
			d := json.NewDecoder(strings.NewReader(raw))
			d.UseNumber()
			if err := d.Decode(&meta); err != nil {
				t.Fatal(err)
			}
			e := event(fmt.Sprintf("odd-%d", i), "secret.update", "usr_é")
			e["metadata"] = meta
			e["occurred_at"] = time.Now().UTC().Add(-time.Duration(i+1)*time.Minute).Format("2006-01-02T15:04:05.") + "123456789Z"
			e["before"] = meta
			e["description"] = "Changed <script>alert(1)</script> ☃"
			odd = append(odd, e)
		}
		ingestJSON(t, base, key, odd)
		r := call(t, "GET", base+"/v1/events?sort=seq&limit=1", key, nil)
		var page struct{ Events []struct{ Seq uint64 } }
		if err := json.Unmarshal(r.body, &page); err != nil || len(page.Events) != 1 {
			t.Fatalf("GET /v1/events = %d %s", r.status, r.body)
		}
		size := page.Events[0].Seq
		waitIntegrated(t, base, key, size)

		// The counters move just after the checkpoint is stored.
		leaves := regexp.MustCompile(`auditkeep_ledger_leaves_total\{source="(memory|store)"\} (\d+)`)
		var counted map[string]uint64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			counted = map[string]uint64{}
			for _, m := range leaves.FindAllStringSubmatch(metricsText(t, base), -1) {
				counted[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
			}
			if counted["memory"]+counted["store"] == size {
				break
			}
		}
		if counted["memory"]+counted["store"] != size || counted["memory"] == 0 {
			t.Fatalf("auditkeep_ledger_leaves_total = %v; want %d leaves, some hashed from memory (else the test checks nothing)", counted, size)
		}
		state := filepath.Join(t.TempDir(), "state.json")
		code, out, errs := runCLI(t, nil, "verify", "--server", base, "--key", key, "--state", state)
		if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("OK: tree size %d,", size)) {
			t.Fatalf("verify = %d %q %q; want OK for tree size %d", code, out, errs, size)
		}
	})
}

// TestLedgerRefusesUnencodableEvents: an event whose documents the leaf
// encoding cannot hold (a number beyond a double, a repeated member name)
// is refused at ingest, naming the field, with nothing of its batch
// stored; accepted, it would have stopped the tenant's tree for good.
func TestLedgerRefusesUnencodableEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, cfg Config) {
		a := testServer(t, cfg)
		base := a.URL()
		key := setupTenant(t, base, "acme")
		for _, bad := range []struct {
			field string
			set   func(e map[string]any)
		}{
			{"events[1].metadata.x", func(e map[string]any) { e["metadata"] = json.RawMessage(`{"x":1e400}`) }},
			{"events[1].snapshot.a", func(e map[string]any) { e["snapshot"] = json.RawMessage(`{"a":1,"a":2}`) }},
		} {
			e := event("", "environment.update", "usr_1")
			bad.set(e)
			r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": []any{event("", "environment.update", "usr_1"), e}})
			var body struct{ Error struct{ Code, Field string } }
			json.Unmarshal(r.body, &body)
			if r.status != 400 || body.Error.Field != bad.field {
				t.Fatalf("POST an unencodable %s = %d %s; want 400 naming %s", bad.field, r.status, r.body, bad.field)
			}
		}
		if got := listIDs(t, base, key, ""); len(got) != 0 {
			t.Fatalf("events stored from refused batches: %v", got)
		}
		ingestJSON(t, base, key, []any{event("ok-1", "environment.update", "usr_1"), event("ok-2", "environment.update", "usr_1")})
		waitIntegrated(t, base, key, 2)
	})
}

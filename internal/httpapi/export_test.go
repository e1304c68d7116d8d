package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/httpapi"
	"github.com/auditkeep/auditkeep/internal/pgtest"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// exportBackend opens an empty store and its ledger.
type exportBackend struct {
	name string
	open func(t *testing.T) (exportStore, ledgerStorage)
}

// exportBackends are the embedded store and, with
// AUDITKEEP_TEST_DATABASE_URL, PostgreSQL (a schema per test).
func exportBackends(t *testing.T) []exportBackend {
	quiet := slog.New(slog.DiscardHandler)
	bs := []exportBackend{{"sqlite", func(t *testing.T) (exportStore, ledgerStorage) {
		st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		return st, sqlite.NewLedger(st)
	}}}
	if u := os.Getenv("AUDITKEEP_TEST_DATABASE_URL"); u != "" {
		bs = append(bs, exportBackend{"postgres", func(t *testing.T) (exportStore, ledgerStorage) {
			st, err := postgres.Open(context.Background(), pgtest.Schema(t, u), postgres.WithLogger(quiet), postgres.WithPartitionsAhead(0))
			if err != nil {
				t.Fatal(err)
			}
			return st, postgres.NewLedger(st)
		}})
	} else {
		t.Log("PostgreSQL skipped: set AUDITKEEP_TEST_DATABASE_URL=postgres://... to run these tests on it too")
	}
	return bs
}

// hostileEvents are events as senders write them whose JSON exercises
// escaping and numbers: HTML, unicode line separators, control characters,
// numbers as sent (1.0, 1e21), nulls, targets whose type and id need
// escapes, targets later deleted (and one whose delete failed), redacted
// values, events without a target. occurred is the time of the first.
func hostileEvents(prefix string, occurred time.Time) []map[string]any {
	odd := map[string]any{"type": "env<1>", "id": `tgt_"}\{[` + "\u2028x", "name": "</script>"}
	user := map[string]any{"type": "user", "id": "usr_<b>", "name": "Zoë \u2028\u2029 日本 😀 & <i>", "email": "a&b@example.com"}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	events := []map[string]any{
		{"action": "env.create", "type": "create", "actor": user, "target": odd,
			"scope":       []any{map[string]any{"type": "project", "id": "prj_<1>", "name": "tab\tnew\nline \u00e9"}},
			"description": `Created "env" <script>alert(1)</script> \ & more`, "team": "t<e>am",
			"context":  map[string]any{"ip": "192.0.2.1", "user_agent": "Mozilla/5.0 <x> \u2028"},
			"metadata": raw(`{ "a" : 1.0, "b":1e21, "c":-0.5e1, "d":1.5E+300, "e":1E-7, "f":[true,false,null], "g":"<>&\u2028\u00e9", "h":"\ud83d\ude00", "i":"\u0000\u001f\u007f" }`)},
		{"action": "env.update", "type": "update", "actor": user, "target": odd,
			"before":   raw(`{"cpu":1.0,"password":"hunter2","env":{"SECRET":"s3cr3t"}}`),
			"snapshot": raw(`{"cpu":2.50,"password":"hunter3","env":{"SECRET":"other"}}`)},
		{"action": "user.login", "type": "login", "actor": map[string]any{"type": "system", "id": "system"},
			"description": "a real \ufffd and a written \\ufffd", "metadata": raw(`{"s":"\\ufffd \u00e9 \/"}`)},
		{"action": "svc.create", "type": "create", "actor": user, "target": map[string]any{"type": "service", "id": "svc_1"}},
		{"action": "svc.delete", "type": "delete", "status": "failure", "actor": user, "target": map[string]any{"type": "service", "id": "svc_2"}},
		{"action": "env.delete", "type": "delete", "actor": user, "target": odd},
		{"action": "db.update", "type": "update", "actor": user, "target": map[string]any{"type": "database", "id": "svc_1", "name": "same id, other type"}},
		{"action": "svc.delete", "type": "delete", "actor": user, "target": map[string]any{"type": "service", "id": "svc_1"}},
	}
	for i, e := range events {
		e["id"] = fmt.Sprintf("%s_%d", prefix, i)
		e["occurred_at"] = occurred.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
	}
	return events
}

// jsonStore is a store with ScanEventJSON (both stores).
type jsonStore interface {
	exportStore
	ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(int64, []byte, int) error) error
}

// countingJSONStore counts the scans of ScanEventJSON.
type countingJSONStore struct {
	jsonStore
	scans *int
}

func (c countingJSONStore) ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(int64, []byte, int) error) error {
	*c.scans++
	return c.jsonStore.ScanEventJSON(ctx, tenant, f, fn)
}

// exportLines splits an NDJSON export into its lines; each must end in a
// newline.
func exportLines(t *testing.T, body []byte) [][]byte {
	t.Helper()
	if len(body) == 0 {
		return nil
	}
	if body[len(body)-1] != '\n' {
		t.Fatalf("export does not end with a newline: %.100q", body[max(0, len(body)-100):])
	}
	return bytes.Split(body[:len(body)-1], []byte{'\n'})
}

// TestExportMatchesEvents: on each store, the NDJSON export of a realistic
// tenant (demo events and hostile ones, some integrated in the ledger,
// some past retention) holds, line by line, the same events, written with
// the same bytes, as the pages of GET /v1/events with the same filter; the
// export is byte for byte the one written from the store's events (the
// path of stores without ScanEventJSON), for NDJSON and CSV.
func TestExportMatchesEvents(t *testing.T) {
	for _, b := range exportBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			st, led := b.open(t)
			var jsonScans int
			js, ok := st.(jsonStore)
			if !ok {
				t.Fatalf("the %s store has no ScanEventJSON", b.name)
			}
			st = countingJSONStore{js, &jsonScans}
			a := newExportAPI(t, st, led)
			key := a.tenant(t, "acme", 30)
			other := a.tenant(t, "globex", 0)
			// Events past retention once the clock moves two days on.
			old := hostileEvents("old", a.now.Add(-29*24*time.Hour))
			a.ingestEvents(t, "acme", old)
			a.ingestDemo(t, "acme", 2500)
			a.integrate(t, "acme") // these have hashes, the next ones not
			a.ingestEvents(t, "acme", hostileEvents("new", a.now.Add(-time.Minute)))
			a.ingestEvents(t, "globex", hostileEvents("other", a.now.Add(-time.Minute)))
			a.now = a.now.Add(2 * 24 * time.Hour)

			// The same reads through a server without the JSON path
			// (no EventJSON: it exports from the store's events).
			slow := httpapi.New(a.ret.Guard(st), a.svc, httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey),
				Logger: slog.New(slog.DiscardHandler), Retention: a.ret, Ledger: &httpapi.Ledger{Storage: led}})
			slow.Now = a.srv.Now

			queries := []string{
				"",
				"order=asc",
				"action=env.update",
				"target_id=svc_1",
				"type=delete&order=asc",
				"q=" + url.QueryEscape("-type:login"),
				"q=" + url.QueryEscape("script"),
				"from=" + url.QueryEscape(a.now.Add(-2*24*time.Hour-30*time.Minute).Format(time.RFC3339)),
			}
			checked, hashed, deleted := 0, 0, 0
			for _, q := range queries {
				code, body := a.call(t, "GET", "/v1/export?format=ndjson&"+q, key, nil)
				if code != 200 {
					t.Fatalf("export?%s: %d %s", q, code, body)
				}
				lines := exportLines(t, body)
				var events []json.RawMessage
				for cursor := ""; ; {
					path := "/v1/events?limit=1000&" + q
					if cursor != "" {
						path += "&cursor=" + url.QueryEscape(cursor)
					}
					code, body := a.call(t, "GET", path, key, nil)
					var page struct {
						Events     []json.RawMessage `json:"events"`
						NextCursor string            `json:"next_cursor"`
					}
					if err := json.Unmarshal(body, &page); code != 200 || err != nil {
						t.Fatalf("GET %s: %d %v %s", path, code, err, body)
					}
					events = append(events, page.Events...)
					if cursor = page.NextCursor; cursor == "" {
						break
					}
				}
				if len(lines) != len(events) || len(lines) == 0 {
					t.Fatalf("export?%s: %d lines; GET /v1/events: %d events", q, len(lines), len(events))
				}
				for i, line := range lines {
					var got, want map[string]any
					if err := json.Unmarshal(line, &got); err != nil {
						t.Fatalf("export?%s line %d: %v: %s", q, i+1, err, line)
					}
					json.Unmarshal(events[i], &want)
					if !reflect.DeepEqual(got, want) || !bytes.Equal(line, events[i]) {
						t.Errorf("export?%s line %d:\n%s\nGET /v1/events:\n%s", q, i+1, line, events[i])
					}
					if got["hash"] != nil {
						hashed++
					}
					if tg, _ := got["target"].(map[string]any); tg["deleted"] == true {
						deleted++
					}
					if id, _ := got["id"].(string); strings.HasPrefix(id, "old_") || got["tenant"] != "acme" {
						t.Errorf("export?%s line %d: %s is past retention or not the tenant's", q, i+1, id)
					}
					checked++
				}
				for _, format := range []string{"ndjson", "csv"} {
					req := httptest.NewRequest("GET", "/v1/export?format="+format+"&"+q, nil)
					req.Header.Set("Authorization", "Bearer "+key)
					w := httptest.NewRecorder()
					slow.Handler().ServeHTTP(w, req)
					_, fast := a.call(t, "GET", "/v1/export?format="+format+"&"+q, key, nil)
					// Each export is recorded in the log before it runs: the
					// later one holds the earlier one's record.
					if w.Code != 200 || !bytes.Equal(withoutOwn(w.Body.Bytes()), withoutOwn(fast)) {
						t.Errorf("export?format=%s&%s differs from the export from events (%d): %d bytes, %d bytes", format, q, w.Code, len(fast), w.Body.Len())
					}
				}
			}
			if jsonScans < len(queries) {
				t.Errorf("%d exports through ScanEventJSON; want at least %d", jsonScans, len(queries))
			}
			if hashed == 0 || hashed == checked || deleted == 0 {
				t.Errorf("%d events checked, %d with a hash, %d with a deleted target: want some of each, not all hashed", checked, hashed, deleted)
			}
			// Another tenant's export holds its own events only: 8, and
			// the record of this export.
			_, body := a.call(t, "GET", "/v1/export?format=ndjson", other, nil)
			if lines := exportLines(t, body); len(lines) != 9 || !bytes.Contains(lines[8], []byte(`"tenant":"globex"`)) ||
				!bytes.Contains(lines[0], []byte(`"action":"export.run"`)) {
				t.Errorf("globex export: %d lines: %.200s", len(lines), body)
			}
		})
	}
}

// failingStore fails its scans with EUNAVAILABLE after `after` events.
type failingStore struct {
	exportStore
	after int
}

var errStorage = auditkeep.Unavailable(errors.New("disk on fire"))

func (f failingStore) ScanEvents(ctx context.Context, tenant string, flt auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	n := 0
	err := f.exportStore.ScanEvents(ctx, tenant, flt, func(e *auditkeep.Event) error {
		if n++; n > f.after {
			return errStorage
		}
		return fn(e)
	})
	return err
}

// failingJSONStore is a failingStore with a failing ScanEventJSON.
type failingJSONStore struct{ failingStore }

func (f failingJSONStore) ScanEventJSON(ctx context.Context, tenant string, flt auditkeep.Filter, fn func(int64, []byte, int) error) error {
	n := 0
	return f.exportStore.(jsonStore).ScanEventJSON(ctx, tenant, flt, func(seq int64, js []byte, at int) error {
		if n++; n > f.after {
			return errStorage
		}
		return fn(seq, js, at)
	})
}

// TestExportAbortsOnStorageError: when storage fails in the middle of an
// export (on the JSON path and the events path), the client sees a
// truncated transfer, never a complete-looking file.
func TestExportAbortsOnStorageError(t *testing.T) {
	for _, b := range exportBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			st, led := b.open(t)
			a := newExportAPI(t, st, led)
			key := a.tenant(t, "acme", 0)
			a.ingestDemo(t, "acme", 3000)
			stores := map[string]any{"events": failingStore{st, 2000}, "json": failingJSONStore{failingStore{st, 2000}}}
			for name, fs := range stores {
				guarded := a.ret.Guard(fs.(exportStore))
				cfg := httpapi.Config{RootKeyHash: httpapi.HashKey(rootKey), Logger: slog.New(slog.DiscardHandler), Retention: a.ret}
				if name == "json" {
					cfg.EventJSON = guarded
				}
				srv := httpapi.New(guarded, a.svc, cfg)
				ts := httptest.NewServer(srv.Handler())
				ts.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
				for _, format := range []string{"ndjson", "csv"} {
					req, _ := http.NewRequest("GET", ts.URL+"/v1/export?format="+format, nil)
					req.Header.Set("Authorization", "Bearer "+key)
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s %s: %v", name, format, err)
					}
					body, err := io.ReadAll(res.Body)
					res.Body.Close()
					records := bytes.Count(body, []byte{'\n'})
					if res.StatusCode != 200 || err == nil || records == 0 || records > 2001 {
						t.Errorf("%s export %s over failing storage: %d, %d records, read error %v; want 200, a part, then an error",
							name, format, res.StatusCode, records, err)
					}
				}
				ts.Close()
			}
			// The same exports complete when storage does not fail.
			for _, format := range []string{"ndjson", "csv"} {
				code, body := a.call(t, "GET", "/v1/export?format="+format, key, nil)
				if n := bytes.Count(body, []byte{'\n'}); code != 200 || n < 3000 {
					t.Errorf("export %s: %d, %d lines; want 200, every event", format, code, n)
				}
			}
		})
	}
}

// withoutOwn drops from an export the lines of the events auditkeep
// records of its own operations (exports), ndjson or CSV.
func withoutOwn(b []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.Contains(line, []byte(`"source":"auditkeep"`)) || bytes.Contains(line, []byte(",auditkeep,")) {
			continue
		}
		out = append(out, line...)
	}
	return out
}

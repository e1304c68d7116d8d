package main

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// TestCorruptRowIsInternal: an event row of the embedded store that cannot
// be decoded is answered 500 internal, which clients do not retry, not 503.
func TestCorruptRowIsInternal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	for _, id := range []string{"good", "bad"} {
		if r := call(t, "POST", base+"/v1/events", key, event(id, "a.create", "u")); r.status != 200 {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
	}
	// A busy timeout: the server writes (the ledger) while the test edits.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.DataDir, sqlite.FileName)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE events SET body = x'ff0102' WHERE k = (SELECT max(k) FROM events)"); err != nil {
		t.Fatal(err)
	}
	r := call(t, "GET", base+"/v1/events/bad", key, nil)
	if code, _ := r.errorOf(t); r.status != 500 || code != "internal" || r.header.Get("Retry-After") != "" {
		t.Errorf("GET a corrupt event = %d %s (Retry-After %q); want 500 internal, no Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := call(t, "GET", base+"/v1/events/good", key, nil); r.status != 200 {
		t.Errorf("GET an intact event = %d %s; want 200", r.status, r.body)
	}
}

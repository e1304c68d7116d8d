package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/pgtest"
)

// TestTwoNodesPostgres runs two server processes on one database and
// ingests through both at once, each batch sent to both nodes (as a client
// retrying through a load balancer would): every acknowledged event is
// stored exactly once, with seq 1..N in commit order, whichever node reads.
func TestTwoNodesPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	db := pgtest.Schema(t, testDatabaseURL(t))
	n1 := startChild(t, nil, "--database-url", db, "--data", t.TempDir())
	n2 := startChild(t, nil, "--database-url", db, "--data", t.TempDir())
	key := setupTenant(t, n1.url, "acme")

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				var batch []any
				var ids []string
				for j := range 20 {
					id := fmt.Sprintf("w%d-%d-%d", w, i, j)
					ids = append(ids, id)
					batch = append(batch, event(id, "deployment.create", "usr_1"))
				}
				for _, node := range []*child{n1, n2}[w%2:] {
					r, err := http.DefaultClient.Do(mustReq("POST", node.url+"/v1/events", key, map[string]any{"events": batch}))
					if err != nil {
						t.Error(err)
						return
					}
					r.Body.Close()
					if r.StatusCode != 200 {
						t.Errorf("ingest through %s: %d", node.url, r.StatusCode)
						return
					}
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, node := range []*child{n1, n2} {
		r := call(t, "GET", node.url+"/v1/export?format=ndjson&order=asc", key, nil)
		if r.status != 200 {
			t.Fatalf("export from %s: %d", node.url, r.status)
		}
		seen := map[string]int{}
		var last int64
		for _, line := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
			var e struct {
				ID     string `json:"id"`
				Seq    int64  `json:"seq"`
				Source string `json:"source"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			if e.Seq != last+1 {
				t.Fatalf("from %s: seq %d follows %d", node.url, e.Seq, last)
			}
			last = e.Seq
			if e.Source == "auditkeep" {
				continue // the record of an export (this one, the other node's)
			}
			seen[e.ID]++
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Errorf("from %s: %s stored %d times", node.url, id, seen[id])
			}
		}
		if len(seen) != len(acked) {
			t.Errorf("from %s: %d events stored; %d acknowledged", node.url, len(seen), len(acked))
		}
	}
	if len(acked) != 6*15*20 {
		t.Fatalf("%d acknowledged; want %d", len(acked), 6*15*20)
	}

	// A key revoked through one node stops working there at once and on
	// the other once its cached copy expires (a second).
	m := call(t, "POST", n1.url+"/v1/tenants/acme/keys", testRootKey, map[string]any{"name": "short", "scopes": []string{"read"}}).json(t)
	short, id := m["key"].(string), m["id"].(string)
	for _, node := range []*child{n1, n2} {
		if r := call(t, "GET", node.url+"/v1/events?limit=1", short, nil); r.status != 200 {
			t.Fatalf("new key through %s: %d %s", node.url, r.status, r.body)
		}
	}
	if r := call(t, "DELETE", n1.url+"/v1/tenants/acme/keys/"+id, testRootKey, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", n1.url+"/v1/events?limit=1", short, nil); r.status != 401 {
		t.Errorf("revoked key through the node that revoked it: %d; want 401 at once", r.status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(t, "GET", n2.url+"/v1/events?limit=1", short, nil).status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still works through the other node after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresOutage cuts the server's connections to PostgreSQL: ingest
// answers 503 with Retry-After (never 200), /readyz says not ready, and the
// node recovers by itself when the database returns.
func TestPostgresOutage(t *testing.T) {
	dbURL, p := pgtest.Through(t, pgtest.Schema(t, testDatabaseURL(t)))
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.DatabaseURL = dbURL
	a := testServer(t, cfg)
	key := setupTenant(t, a.URL(), "acme")
	if r := call(t, "POST", a.URL()+"/v1/events", key, event("before", "a.create", "u")); r.status != 200 {
		t.Fatalf("before the outage: %d %s", r.status, r.body)
	}

	p.Cut()
	for i := range 5 {
		r := call(t, "POST", a.URL()+"/v1/events", key, event(fmt.Sprintf("during-%d", i), "a.create", "u"))
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Fatalf("ingest during the outage = %d (Retry-After %q) %s; want 503 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
		}
		if code, _ := r.errorOf(t); code != "unavailable" {
			t.Errorf("code %q; want unavailable", code)
		}
	}
	if r := call(t, "GET", a.URL()+"/readyz", "", nil); r.status != 503 {
		t.Errorf("/readyz during the outage = %d; want 503", r.status)
	}
	if r := call(t, "GET", a.URL()+"/healthz", "", nil); r.status != 200 {
		t.Errorf("/healthz during the outage = %d; want 200 (the process lives)", r.status)
	}

	p.Restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := call(t, "POST", a.URL()+"/v1/events", key, event("after", "a.create", "u"))
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 30 s: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := call(t, "GET", a.URL()+"/readyz", "", nil); r.status != 200 {
		t.Errorf("/readyz after the outage = %d; want 200", r.status)
	}
	ids := listIDs(t, a.URL(), key, "order=asc&actor=u")
	if strings.Join(ids, ",") != "before,after" {
		t.Errorf("stored %v; want before,after (nothing of the refused requests)", ids)
	}
}

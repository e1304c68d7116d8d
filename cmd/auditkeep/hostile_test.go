package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHostileClients sends what a hostile or broken client sends; each gets
// its documented error and the server stays healthy.
func TestHostileClients(t *testing.T) { forEachStore(t, testHostileClients) }

func testHostileClients(t *testing.T, cfg Config) {
	cfg.ReadTimeout = 500 * time.Millisecond
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	healthy := func(t *testing.T) {
		t.Helper()
		if r := call(t, "POST", base+"/v1/events", key, event("", "a.create", "u")); r.status != 200 {
			t.Fatalf("server unhealthy afterwards: %d %s", r.status, r.body)
		}
	}
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"over 5 MiB", `{"events":[{"action":"a.b","actor":{"id":"u"},"metadata":{"x":"` + strings.Repeat("a", 6<<20) + `"}}]}`, 413, "too_large"},
		{"event over 64 KiB", `{"action":"a.b","actor":{"id":"u"},"snapshot":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`, 413, "too_large"},
		{"malformed", `{"action": "a.b", "actor": {"id": }`, 400, "invalid"},
		{"deeply nested", deep, 400, "invalid"},
		{"invalid UTF-8", "{\"action\":\"a.b\",\"actor\":{\"id\":\"u\xc3\x28\"}}", 400, "invalid"},
		{"array at top", `[{"action":"a.b"}]`, 400, "invalid"},
		{"number at top", `12`, 400, "invalid"},
		{"null events", `{"events":null}`, 400, "invalid"},
		{"1001 events", `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"action":"a.b","actor":{"id":"u"}},`, 1001), ",") + `]}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", base+"/v1/events", key, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d %s; want %d", r.status, r.body, tt.status)
			}
			if code, _ := r.errorOf(t); code != tt.code {
				t.Errorf("code %q; want %q", code, tt.code)
			}
			healthy(t)
		})
	}

	t.Run("huge headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Junk", strings.Repeat("a", 200<<10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d; want 431", res.StatusCode)
		}
		healthy(t)
	})

	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"action\":", key)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			// The server gave up reading the body: an error answer, never a 200.
			if res.StatusCode == 200 {
				t.Errorf("slow body acknowledged")
			}
		}
		// Either way the connection ended well before our 10 s deadline.
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("server kept waiting for a stalled body")
		}
		healthy(t)
	})

	t.Run("stored nothing of the rejected", func(t *testing.T) {
		ids := listIDs(t, base, key, "limit=1000")
		// only the health-check events, one per subtest that ran healthy()
		if len(ids) != len(tests)+2 {
			t.Errorf("%d events stored; want %d (only the health checks)", len(ids), len(tests)+2)
		}
	})
}

func TestRateLimitPerKey(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit, cfg.RateBurst = 1, 3
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	other := createKey(t, base, key, "acme", "read")
	var limited response
	for i := range 10 {
		r := call(t, "GET", base+"/v1/events", key, nil)
		if r.status == 429 {
			limited = r
			break
		}
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	if limited.status != 429 {
		t.Fatal("ten quick requests were not limited at 1/s with a burst of 3")
	}
	if code, _ := limited.errorOf(t); code != "rate_limited" || limited.header.Get("Retry-After") == "" {
		t.Errorf("429 answer: code %q, Retry-After %q", code, limited.header.Get("Retry-After"))
	}
	// Another key has its own bucket.
	if r := call(t, "GET", base+"/v1/events", other, nil); r.status != 200 {
		t.Errorf("another key = %d; want 200", r.status)
	}
	// A viewer token is limited too.
	admin := createKey(t, base, testRootKey, "acme", "admin")
	r := call(t, "POST", base+"/v1/viewer-tokens", admin, map[string]any{"filters": map[string]any{"target_id": "env_7"}, "ttl_seconds": 600})
	if r.status != 201 {
		t.Fatalf("viewer token: %d %s", r.status, r.body)
	}
	vt := r.json(t)["token"].(string)
	viewerLimited := false
	for range 10 {
		if r := call(t, "GET", base+"/v1/events", vt, nil); r.status == 429 {
			viewerLimited = true
			break
		}
	}
	if !viewerLimited {
		t.Error("ten quick requests with a viewer token were not limited")
	}
}

// TestReservedAction: a sender cannot write the retention job's purge
// record, which verify trusts to explain a gap in the log.
func TestReservedAction(t *testing.T) {
	a := testServer(t, Config{})
	key := setupTenant(t, a.URL(), "acme")
	e := event("", "retention.purge", "system")
	e["actor"] = map[string]any{"type": "system", "id": "auditkeep"}
	e["metadata"] = map[string]any{"seqs": [][2]int{{1, 5}}}
	r := call(t, "POST", a.URL()+"/v1/events", key, map[string]any{"events": []any{event("", "a.create", "u"), e}})
	if r.status != 400 {
		t.Fatalf("a sender's retention.purge = %d %s; want 400", r.status, r.body)
	}
	if _, field := r.errorOf(t); field != "events[1].action" {
		t.Errorf("field %q; want events[1].action", field)
	}
}

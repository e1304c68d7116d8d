package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// sseMsg is one message of a stream: its event name, id and data.
type sseMsg struct{ event, id, data string }

// openSSE opens GET /v1/stream?query with key (and Last-Event-ID unless
// "") and reads its messages in the background; the channel closes when the
// server ends the stream.
func openSSE(t *testing.T, base, key, query, lastEventID string) <-chan sseMsg {
	t.Helper()
	return openSSEWith(t, base, query, func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+key)
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
	})
}

// openSSEWith opens GET /v1/stream?query with the credential that auth
// sets on the request, as openSSE does.
func openSSEWith(t *testing.T, base, query string, auth func(*http.Request)) <-chan sseMsg {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/stream?"+query, nil)
	auth(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		t.Fatalf("stream: %d", res.StatusCode)
	}
	out := make(chan sseMsg, 100)
	t.Cleanup(func() { cancel(); res.Body.Close() })
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		var m sseMsg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.event != "" {
					out <- m
				}
				m = sseMsg{}
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			}
		}
	}()
	return out
}

// nextMsg returns the next message; it fails the test when the stream ends
// or nothing comes for a long while (a hang guard, not a timing assertion).
func nextMsg[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	var m T
	select {
	case got, ok := <-c:
		if !ok {
			t.Fatal("stream closed")
		}
		m = got
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30 s")
	}
	return m
}

// wantEnd reads the stream to its close: the next message must be `event:
// end` with reason, and nothing may follow it.
func wantEnd(t *testing.T, c <-chan sseMsg, reason string) {
	t.Helper()
	m := nextMsg(t, c)
	if m.event != "end" {
		t.Fatalf("got %s %s %s; want event: end (%s)", m.event, m.id, m.data, reason)
	}
	var end struct{ Reason, Message string }
	if err := json.Unmarshal([]byte(m.data), &end); err != nil || end.Reason != reason || end.Message == "" {
		t.Errorf("end data %s; want reason %q and a message", m.data, reason)
	}
	select {
	case m, ok := <-c:
		if ok {
			t.Errorf("after the end came %s %s %s; want the stream closed", m.event, m.id, m.data)
		}
	case <-time.After(30 * time.Second):
		t.Error("the stream stayed open after its end event")
	}
}

func eventID(t *testing.T, m sseMsg) string {
	t.Helper()
	var e struct{ ID string }
	if m.event != "event" || json.Unmarshal([]byte(m.data), &e) != nil {
		t.Fatalf("got %s %s; want an event", m.event, m.data)
	}
	return e.ID
}

func TestStreamEndsWithItsCredential(t *testing.T) {
	forEachStore(t, testStreamEndsWithItsCredential)
}

// testStreamEndsWithItsCredential: a stream of a key revoked while it is
// open ends with `event: end` (key_revoked) and sends nothing committed
// after the revocation; one of a viewer token ends at its expiry
// (token_expired) before an event committed after it is sent.
func testStreamEndsWithItsCredential(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	admin := setupTenant(t, base, "acme")

	t.Run("key revoked", func(t *testing.T) {
		r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "tv", "scopes": []string{"read"}})
		m := r.json(t)
		key, id := m["key"].(string), m["id"].(string)
		s := openSSE(t, base, key, "since=0&q=-source:auditkeep", "") // not the key's own creation
		ingestJSON(t, base, admin, []any{event("before-revoke", "environment.update", "usr_1")})
		if got := eventID(t, nextMsg(t, s)); got != "before-revoke" {
			t.Fatalf("first event %s; want before-revoke", got)
		}
		if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+id, admin, nil); r.status != 204 {
			t.Fatalf("revoke = %d %s", r.status, r.body)
		}
		ingestJSON(t, base, admin, []any{event("after-revoke", "environment.update", "usr_1")})
		wantEnd(t, s, "key_revoked")
		if r := call(t, "GET", base+"/v1/stream", key, nil); r.status != 401 {
			t.Errorf("a new stream with the revoked key = %d; want 401", r.status)
		}
	})

	t.Run("viewer token expired", func(t *testing.T) {
		r := call(t, "POST", base+"/v1/viewer-tokens", admin, map[string]any{"ttl_seconds": 2})
		if r.status != 201 {
			t.Fatalf("viewer token: %d %s", r.status, r.body)
		}
		var vt struct {
			Token     string
			ExpiresAt time.Time `json:"expires_at"`
		}
		json.Unmarshal(r.body, &vt)
		s := openSSE(t, base, vt.Token, "", "")
		ingestJSON(t, base, admin, []any{event("before-expiry", "environment.update", "usr_1")})
		if got := eventID(t, nextMsg(t, s)); got != "before-expiry" {
			t.Fatalf("first event %s; want before-expiry", got)
		}
		time.Sleep(time.Until(vt.ExpiresAt) + 100*time.Millisecond)
		ingestJSON(t, base, admin, []any{event("after-expiry", "environment.update", "usr_1")})
		wantEnd(t, s, "token_expired")
	})
}

// TestStreamEndsOnRevocationElsewhere: two servers on one PostgreSQL
// database; a key revoked through one ends its stream on the other (found
// by the stream's periodic re-check, past the key cache).
func TestStreamEndsOnRevocationElsewhere(t *testing.T) {
	dbURL := os.Getenv("AUDITKEEP_TEST_DATABASE_URL")
	if dbURL == "" {
		t.Skip("set AUDITKEEP_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run the two-node test")
	}
	cfg := DefaultConfig()
	cfg.DatabaseURL = dbURL
	a := testServer(t, cfg)
	b := testServer(t, cfg)
	tenant := fmt.Sprintf("revoke-%d", time.Now().UnixNano())
	admin := setupTenant(t, a.URL(), tenant)
	r := call(t, "POST", a.URL()+"/v1/tenants/"+tenant+"/keys", admin, map[string]any{"name": "tv", "scopes": []string{"read"}})
	m := r.json(t)
	key, id := m["key"].(string), m["id"].(string)
	onB := openSSE(t, b.URL(), key, "since=0&q=-source:auditkeep", "") // not the key's own creation
	ingestJSON(t, a.URL(), admin, []any{event("n1", "environment.update", "usr_1")})
	if got := eventID(t, nextMsg(t, onB)); got != "n1" {
		t.Fatalf("first event on node B %s; want n1", got)
	}
	if r := call(t, "DELETE", a.URL()+"/v1/tenants/"+tenant+"/keys/"+id, admin, nil); r.status != 204 {
		t.Fatalf("revoke on node A = %d %s", r.status, r.body)
	}
	wantEnd(t, onB, "key_revoked")
}

// TestConsoleLiveEnds: the console's live mode stops, and says why, when its
// stream ends: signed in with a key that is then revoked, and in a viewer
// token's console when the token expires. It does not reconnect.
func TestConsoleLiveEnds(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	admin := setupTenant(t, base, "acme")
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "console", "scopes": []string{"read"}})
	m := r.json(t)
	key, id := m["key"].(string), m["id"].(string)
	ctx := newBrowser(t)
	n := 0
	goLive := func(t *testing.T, page string) {
		t.Helper()
		n++
		step(t, ctx, "live mode",
			chromedp.Navigate(page),
			chromedp.WaitVisible(chromedp.CSS("#live")),
			chromedp.Click(chromedp.CSS("#live")),
		)
		waitFor(t, ctx, "the stream to open", `document.querySelector("#live-status").textContent.startsWith("Live")`)
		ingestJSON(t, base, admin, []any{envEvent(fmt.Sprintf("live-%d", n), "environment.update", "env_7", "production", nil)})
		waitFor(t, ctx, "the live row", `document.querySelector("#rows tr.new") !== null`)
	}
	ended := func(t *testing.T, want string) {
		t.Helper()
		waitFor(t, ctx, "live mode to end", `document.querySelector("#live-status").textContent.startsWith("Live view ended")`)
		if got := eval[string](t, ctx, `document.querySelector("#live-status").textContent`); !strings.Contains(got, want) {
			t.Errorf("live status %q; want it to say %q", got, want)
		}
		if eval[bool](t, ctx, `document.querySelector("#live").checked`) {
			t.Error("the Live box is still checked after the stream ended")
		}
	}

	t.Run("key revoked", func(t *testing.T) {
		signIn(t, ctx, base, key)
		goLive(t, base+"/")
		if r := call(t, "DELETE", base+"/v1/tenants/acme/keys/"+id, admin, nil); r.status != 204 {
			t.Fatalf("revoke = %d %s", r.status, r.body)
		}
		ended(t, "access was revoked")
	})

	t.Run("viewer token expired", func(t *testing.T) {
		r := call(t, "POST", base+"/v1/viewer-tokens", admin, map[string]any{"ttl_seconds": 6})
		if r.status != 201 {
			t.Fatalf("viewer token: %d %s", r.status, r.body)
		}
		goLive(t, base+"/?viewer_token="+r.json(t)["token"].(string))
		ended(t, "access expired")
	})
}

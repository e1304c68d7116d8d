package web_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/web"
)

// TestSessionTimeouts: a session used within its idle timeout lives on, to
// its absolute end; one left idle is refused; sign-ins are recorded.
func TestSessionTimeouts(t *testing.T) {
	b := &fakeBackend{idle: 30 * time.Minute, absolute: 2 * time.Hour}
	c := web.New(b, slog.New(slog.DiscardHandler))
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now := start
	c.Now = func() time.Time { return now }
	srv := serveConsole(t, c)
	get := func(cl *http.Client) *http.Response {
		t.Helper()
		res, err := cl.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, res)
		return res
	}
	wantIn := func(cl *http.Client, what string) {
		t.Helper()
		if res := get(cl); res.StatusCode != 200 {
			t.Fatalf("%s (+%v): GET / = %d; want 200", what, now.Sub(start), res.StatusCode)
		}
	}
	wantOut := func(cl *http.Client, what string) {
		t.Helper()
		if res := get(cl); res.StatusCode != 303 || res.Header.Get("Location") != "/signin?expired=1" {
			t.Fatalf("%s (+%v): GET / = %d to %q; want 303 to /signin?expired=1", what, now.Sub(start), res.StatusCode, res.Header.Get("Location"))
		}
	}

	used, idle := client(t, srv, goodKey), client(t, srv, goodKey)
	// Used every 20 minutes, a session outlives its idle timeout many times
	// over, up to its absolute end.
	for now = start.Add(20 * time.Minute); now.Before(start.Add(2 * time.Hour)); now = now.Add(20 * time.Minute) {
		wantIn(used, "used every 20 minutes")
	}
	now = start.Add(2*time.Hour - time.Second)
	wantIn(used, "a second before its absolute end")
	now = start.Add(2 * time.Hour)
	wantOut(used, "at its absolute end")

	// Left alone since sign-in, the other one ended at its idle timeout.
	wantOut(idle, "idle since sign-in")

	// A fresh one: 29 minutes idle is fine, 30 is not.
	now = start.Add(3 * time.Hour)
	fresh := client(t, srv, goodKey)
	now = now.Add(29 * time.Minute)
	wantIn(fresh, "29 minutes idle")
	now = now.Add(30 * time.Minute)
	wantOut(fresh, "30 minutes idle")

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.signIns) != 3 || b.signIns[0] != "" {
		t.Errorf("recorded sign-ins %q; want 3 successes", b.signIns)
	}
}

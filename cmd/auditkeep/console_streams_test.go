package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// createHECStream creates a splunk_hec stream of action secret.update to
// the collector with token as its secret, and returns its ID.
func createHECStream(t *testing.T, base, key, name string, h *receivertest.HEC, token string) string {
	t.Helper()
	r := call(t, "POST", base+"/v1/streams", key, map[string]any{"name": name, "type": "splunk_hec", "format": "native",
		"filters": map[string]any{"action": []string{"secret.update"}}, "settings": h.Settings(""), "secret": token})
	if r.status != 201 {
		t.Fatalf("create stream %s: %d %s", name, r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

// waitStream waits up to 30 s for the stream's JSON to satisfy ok.
func waitStream(t *testing.T, base, key, id, what string, ok func(map[string]any) bool) {
	t.Helper()
	waitUntil(t, "stream "+id+": "+what, func() bool { return ok(call(t, "GET", base+"/v1/streams/"+id, key, nil).json(t)) })
}

// TestConsoleStreams: the Streams page in Chromium, at a desktop's and a
// phone's width, over the real server delivering to an HEC collector:
// each stream's state, lag and last error; a test event, pause, resume
// and replay from its buttons, each recorded in the tenant's log as the
// API records it; a receiver's refusal of the test shown at its stream.
func TestConsoleStreams(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	h := receivertest.StartHEC(t)
	good := createHECStream(t, base, key, `<img src=x onerror=alert(1)> SIEM`, h, receivertest.HECToken)
	refused := createHECStream(t, base, key, "old token", h, "00000000-0000-0000-0000-000000000000")
	ingestJSON(t, base, key, []any{event("s1", "secret.update", "usr_1"), event("s2", "secret.update", "usr_1"), event("s3", "secret.read", "usr_1")})
	waitStream(t, base, key, good, "delivery of 2 events", func(st map[string]any) bool { return st["stream_seq"] == float64(2) })
	waitStream(t, base, key, refused, "auth_error", func(st map[string]any) bool { return st["state"] == "auth_error" })

	ctx := newBrowser(t)
	signIn(t, ctx, base, key)
	panel := func(id string) string { return `document.querySelector("#stream-` + id + `")` }
	text := func(id, sel string) string {
		return eval[string](t, ctx, `(p => p && p.querySelector("`+sel+`") ? p.querySelector("`+sel+`").innerText : "")(`+panel(id)+`)`)
	}
	for _, size := range consoleSizes {
		step(t, ctx, "open Streams at "+size.name,
			chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
			chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#events")))
		navigate(t, ctx, "follow the Streams link", chromedp.Click(chromedp.CSS(`a[href="/streams"]`)))
		step(t, ctx, "the page", chromedp.WaitVisible(chromedp.CSS("#stream-"+good)))
		if got := text(good, "h2"); got != `<img src=x onerror=alert(1)> SIEM` {
			t.Errorf("%s: the stream's name reads %q", size.name, got)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("main img").length`); n != 0 {
			t.Errorf("%s: a stream's name made %d images", size.name, n)
		}
		if got := text(good, ".state"); got != "Active" {
			t.Errorf("%s: the good stream's state reads %q", size.name, got)
		}
		if got := text(good, ".lag"); got != "up to date" {
			t.Errorf("%s: the good stream's lag reads %q", size.name, got)
		}
		if got, last := text(refused, ".state"), text(refused, ".last-error"); got != "Credentials refused" || !strings.Contains(last, "Invalid token") {
			t.Errorf("%s: the refused stream reads %q, last error %q", size.name, got, last)
		}
		screenshot(t, ctx, "streams-"+size.name)
	}

	// A test event, from its button.
	before := len(h.Events())
	navigate(t, ctx, "send a test event", chromedp.Click(chromedp.CSS(`#stream-`+good+` form[action$="/test"] button`)))
	if got := eval[string](t, ctx, `document.querySelector("#notice") ? document.querySelector("#notice").innerText : ""`); !strings.Contains(got, "accepted the test event") {
		t.Errorf("after a test, the page says %q", got)
	}
	if evs := h.Events(); len(evs) != before+1 || evs[len(evs)-1]["event"].(map[string]any)["test"] != true {
		t.Errorf("the collector has %d events after a test; want %d, the last marked test", len(evs), before+1)
	}
	// Pause, then resume.
	navigate(t, ctx, "pause", chromedp.Click(chromedp.CSS(`#stream-`+good+` form[action$="/pause"] button`)))
	if got := text(good, ".state"); got != "Paused" {
		t.Errorf("after pause, the state reads %q", got)
	}
	if st := call(t, "GET", base+"/v1/streams/"+good, key, nil).json(t); st["state"] != "paused" {
		t.Errorf("after pause, the API says %v", st["state"])
	}
	navigate(t, ctx, "resume", chromedp.Click(chromedp.CSS(`#stream-`+good+` form[action$="/resume"] button`)))
	if got := text(good, ".state"); got != "Active" {
		t.Errorf("after resume, the state reads %q", got)
	}
	// Replay from seq 1: both events again.
	before = len(h.Events())
	step(t, ctx, "open the replay form", chromedp.Click(chromedp.CSS(`#stream-`+good+` details.replay summary`)),
		chromedp.SendKeys(chromedp.CSS(`#from-seq-`+good), "1"))
	navigate(t, ctx, "replay", chromedp.Click(chromedp.CSS(`#stream-`+good+` .replay-form button`)))
	if n := len(waitHEC(t, h, before+2)); n != before+2 {
		t.Errorf("after a replay from seq 1 the collector has %d events; want %d", n, before+2)
	}
	// Each action is in the tenant's log, by the console's key, as the
	// API records it.
	for _, action := range []string{"stream.test", "stream.pause", "stream.resume", "stream.replay"} {
		r := call(t, "GET", base+"/v1/events?action="+action+"&target_id="+good, key, nil)
		evs, _ := r.json(t)["events"].([]any)
		if len(evs) != 1 {
			t.Errorf("the log holds %d %s events of the stream; want 1", len(evs), action)
			continue
		}
		if actor := evs[0].(map[string]any)["actor"].(map[string]any); actor["type"] != "api_token" {
			t.Errorf("%s was recorded by %v; want the console's key", action, actor)
		}
	}
	// The refused stream's test: the receiver's answer, at its stream.
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(c, chromedp.Click(chromedp.CSS(`#stream-`+refused+` form[action$="/test"] button`)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 502 {
		t.Errorf("a refused test answers %d; want 502", res.Status)
	}
	if got := text(refused, ".error"); !strings.Contains(got, "Invalid token") {
		t.Errorf("a refused test reads %q at its stream", got)
	}
	screenshot(t, ctx, "streams-refused-test")
}

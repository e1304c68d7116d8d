package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Console sizes the browser tests look at: a desktop and a phone.
var consoleSizes = []struct {
	name          string
	width, height int64
	scale         float64
}{{"1280", 1280, 900, 1}, {"390", 390, 844, 3}}

// signIn opens the console, which asks to sign in, and signs in with key.
func signIn(t *testing.T, ctx context.Context, base, key string) {
	t.Helper()
	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#events")),
	)
}

// screenshot saves the whole page as console-<name>.png in
// $AUDITKEEP_SCREENSHOTS (a temporary directory without it), and checks that
// the page does not scroll sideways.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if w, inner := eval[int](t, ctx, `document.documentElement.scrollWidth`), eval[int](t, ctx, `window.innerWidth`); w > inner {
		t.Errorf("%s: the page is %d px wide in a %d px viewport: it scrolls sideways", name, w, inner)
	}
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("AUDITKEEP_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleEventProof: once the log holds an event, its page shows the
// leaf hash and checkpoint size the API serves, and links the proof JSON.
func TestConsoleEventProof(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ingestJSON(t, base, key, []any{
		envEvent("env7-1", "environment.create", "env_7", "production", map[string]any{"name": "prod", "cpu": 1}),
		envEvent("env7-2", "environment.update", "env_7", "production", map[string]any{"name": "production", "cpu": 2}),
	})
	waitIntegrated(t, base, key, 2)
	var api struct {
		Hash  string
		Proof struct {
			LeafHash string `json:"leaf_hash"`
			TreeSize uint64 `json:"tree_size"`
		}
	}
	if r := call(t, "GET", base+"/v1/events/env7-1", key, nil); r.status != 200 || json.Unmarshal(r.body, &api) != nil || api.Hash == "" {
		t.Fatalf("GET /v1/events/env7-1 = %d %s; want the event with its hash", r.status, r.body)
	}
	ctx := newBrowser(t)
	signIn(t, ctx, base, key)
	waitIntegrated(t, base, key, 3) // the sign-in, recorded in the log
	for _, size := range consoleSizes {
		step(t, ctx, "open the event at "+size.name,
			chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
			chromedp.Navigate(base+"/events/env7-1"),
			chromedp.WaitVisible(chromedp.CSS("#proof")),
		)
		if got := eval[string](t, ctx, `document.querySelector("#leaf-hash") ? document.querySelector("#leaf-hash").textContent : ""`); got != api.Hash {
			t.Errorf("%s: leaf hash shown %q; want %q", size.name, got, api.Hash)
		}
		if got := eval[string](t, ctx, `document.querySelector("#tree-size") ? document.querySelector("#tree-size").textContent : ""`); got != "tree size 3" {
			t.Errorf("%s: checkpoint shown %q; want tree size 3", size.name, got)
		}
		if text := eval[string](t, ctx, `document.querySelector("#proof").innerText`); strings.Contains(text, "Not yet integrated") {
			t.Errorf("%s: the integrated event reads %q", size.name, text)
		}
		screenshot(t, ctx, "event-proof-"+size.name)
	}
	// The styles come from a versioned URL, and the icons load.
	if got := eval[string](t, ctx, `document.querySelector('link[rel=stylesheet]').getAttribute("href")`); !regexp.MustCompile(`^/static/console\.[0-9a-f]{10}\.css$`).MatchString(got) {
		t.Errorf("the stylesheet is linked as %q; want a versioned URL", got)
	}
	if n := eval[int](t, ctx, `document.styleSheets[0].cssRules.length`); n < 10 {
		t.Errorf("the stylesheet holds %d rules; want it loaded", n)
	}
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	icons, err := chromedp.Run(c, chromedp.Evaluate[string](`Promise.all(Array.from(document.querySelectorAll('link[rel=icon]')).map(l => fetch(l.href).then(r => r.status + " " + r.headers.get("content-type")))).then(a => a.join(", "))`, chromedp.EvalAwaitPromise))
	if err != nil || icons != "200 image/x-icon, 200 image/svg+xml" {
		t.Errorf("the icons answer %q (%v); want 200 image/x-icon, 200 image/svg+xml", icons, err)
	}
	body, err := chromedp.Run(c, chromedp.Evaluate[string](`fetch(document.querySelector("#proof-link").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if want := call(t, "GET", base+"/v1/events/env7-1/proof", key, nil); body != string(want.body) {
		t.Errorf("the console's proof JSON = %s; want GET /v1/events/env7-1/proof's %s", body, want.body)
	}
}

// TestConsoleCompare: the event page compares with the target's previous
// event in time even when commit order differs, and two events picked in the
// list compare from the earlier to the later.
func TestConsoleCompare(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	now := time.Now().UTC()
	at := func(id string, ago time.Duration, snapshot map[string]any) map[string]any {
		e := envEvent(id, "environment.update", "env_9", "canary", snapshot)
		e["occurred_at"] = now.Add(-ago).Format(time.RFC3339Nano)
		return e
	}
	// Committed c1, c2, c3; in time c1, c3, c2.
	ingestJSON(t, base, key, []any{at("c1", 3*time.Hour, map[string]any{"cpu": 1, "services": []any{map[string]any{"id": "svc_1", "name": "api"}}})})
	ingestJSON(t, base, key, []any{at("c2", time.Hour, map[string]any{"cpu": 2, "services": []any{map[string]any{"id": "svc_1", "name": "api"}, map[string]any{"id": "svc_2", "name": "worker"}}})})
	ingestJSON(t, base, key, []any{at("c3", 2*time.Hour, map[string]any{"cpu": 3, "services": []any{map[string]any{"id": "svc_1", "name": "api"}}})})
	rows := `Array.from(document.querySelectorAll("#compare-table tbody tr")).map(r => Array.from(r.cells).map(c => c.innerText.trim()).join(" / ")).join(" | ")`
	prev := `document.querySelector("#prev-link") ? document.querySelector("#prev-link").getAttribute("href") : ""`

	ctx := newBrowser(t)
	signIn(t, ctx, base, key)
	for _, size := range consoleSizes {
		t.Run(size.name, func(t *testing.T) {
			step(t, ctx, "the event page of c3",
				chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
				chromedp.Navigate(base+"/events/c3"),
				chromedp.WaitVisible(chromedp.CSS("#compare")),
			)
			if got := eval[string](t, ctx, prev); got != "/events/c1" {
				t.Errorf("c3's previous event is %q; want /events/c1 (c2 was committed before c3 but happened after it)", got)
			}
			if got, want := eval[string](t, ctx, rows), "cpu / cpu changed from 1 to 3 / 1 / 3"; got != want {
				t.Errorf("c3 compared with its previous event: %q; want %q", got, want)
			}
			screenshot(t, ctx, "event-compare-"+size.name)
			step(t, ctx, "the event page of c2", chromedp.Navigate(base+"/events/c2"), chromedp.WaitVisible(chromedp.CSS("#compare")))
			if got := eval[string](t, ctx, prev); got != "/events/c3" {
				t.Errorf("c2's previous event is %q; want /events/c3", got)
			}

			// Pick two in the list: c2 first, then c1.
			step(t, ctx, "the target's events",
				chromedp.Navigate(base+"/?target_id=env_9"),
				chromedp.WaitVisible(chromedp.CSS("#events")),
			)
			if !eval[bool](t, ctx, `document.querySelector("#compare-picked").disabled`) {
				t.Errorf("Compare is enabled with no event ticked")
			}
			step(t, ctx, "tick c2 and c1",
				chromedp.Click(chromedp.CSS(`#rows tr[data-id="c2"] input.pick`)),
				chromedp.Click(chromedp.CSS(`#rows tr[data-id="c1"] input.pick`)),
			)
			if eval[bool](t, ctx, `document.querySelector("#compare-picked").disabled`) {
				t.Errorf("Compare is disabled with two events ticked")
			}
			screenshot(t, ctx, "list-picked-"+size.name)
			navigate(t, ctx, "compare", chromedp.Click(chromedp.CSS("#compare-picked")))
			if got := eval[string](t, ctx, `location.pathname`); got != "/compare" {
				t.Fatalf("Compare opened %q; want /compare", got)
			}
			want := "cpu / cpu changed from 1 to 2 / 1 / 2 | services[id=svc_2] / service 'worker' added / (absent) / " + `{"id":"svc_2","name":"worker"}`
			if got := eval[string](t, ctx, rows); got != want {
				t.Errorf("compare c2 with c1: %q; want %q", got, want)
			}
			if got, want := eval[string](t, ctx, `document.querySelector("#side-Later .side-description").innerText`), "cpu changed from 1 to 2"; !strings.Contains(got, want) {
				t.Errorf("the later event's description reads %q; want it to say %q", got, want)
			}
			if got := eval[string](t, ctx, `document.querySelector("#side-Earlier a.action").getAttribute("href")`); got != "/events/c1" {
				t.Errorf("the earlier event is %q; want /events/c1", got)
			}
			screenshot(t, ctx, "compare-"+size.name)

			// "Compare with another event" from the event page.
			step(t, ctx, "compare c1 with c3 from its page",
				chromedp.Navigate(base+"/events/c1"),
				chromedp.WaitVisible(chromedp.CSS("#compare-with")),
				chromedp.SendKeys(chromedp.CSS("#compare-with"), "c3"),
			)
			navigate(t, ctx, "compare with", chromedp.Submit(chromedp.CSS("#compare-with")))
			if got, want := eval[string](t, ctx, rows), "cpu / cpu changed from 1 to 3 / 1 / 3"; got != want {
				t.Errorf("compare c1 with c3: %q; want %q", got, want)
			}
		})
	}
}

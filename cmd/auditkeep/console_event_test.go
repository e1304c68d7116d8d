package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
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
	for _, size := range consoleSizes {
		step(t, ctx, "open the event at "+size.name,
			chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
			chromedp.Navigate(base+"/events/env7-1"),
			chromedp.WaitVisible(chromedp.CSS("#proof")),
		)
		if got := eval[string](t, ctx, `document.querySelector("#leaf-hash") ? document.querySelector("#leaf-hash").textContent : ""`); got != api.Hash {
			t.Errorf("%s: leaf hash shown %q; want %q", size.name, got, api.Hash)
		}
		if got := eval[string](t, ctx, `document.querySelector("#tree-size") ? document.querySelector("#tree-size").textContent : ""`); got != "tree size 2" {
			t.Errorf("%s: checkpoint shown %q; want tree size 2", size.name, got)
		}
		if text := eval[string](t, ctx, `document.querySelector("#proof").innerText`); strings.Contains(text, "Not yet integrated") {
			t.Errorf("%s: the integrated event reads %q", size.name, text)
		}
		screenshot(t, ctx, "event-proof-"+size.name)
	}
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	body, err := chromedp.Run(c, chromedp.Evaluate[string](`fetch(document.querySelector("#proof-link").href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if want := call(t, "GET", base+"/v1/events/env7-1/proof", key, nil); body != string(want.body) {
		t.Errorf("the console's proof JSON = %s; want GET /v1/events/env7-1/proof's %s", body, want.body)
	}
}

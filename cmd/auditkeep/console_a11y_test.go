package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// axeSource returns axe-core's axe.min.js: $AUDITKEEP_AXE names the file,
// or a directory holding it or holding node_modules/axe-core (as
// `npm install --prefix DIR axe-core` leaves it). Without it the test
// skips, except under CI=true, where it fails.
func axeSource(t *testing.T) string {
	t.Helper()
	msg := "axe-core is not installed: run `npm install --prefix /tmp/axe axe-core` and set AUDITKEEP_AXE=/tmp/axe to run the accessibility checks"
	p := os.Getenv("AUDITKEEP_AXE")
	if p != "" {
		for _, f := range []string{p, filepath.Join(p, "axe.min.js"), filepath.Join(p, "node_modules", "axe-core", "axe.min.js")} {
			if st, err := os.Stat(f); err == nil && !st.IsDir() {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
		}
		msg = "AUDITKEEP_AXE=" + p + " holds no axe.min.js: " + msg
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// axeViolation is a rule that failed, with the elements it failed on.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct {
		Target  []any
		Summary string
	}
}

// checkAxe runs axe-core on the page and reports every violation. The
// script is evaluated through the DevTools protocol, which the page's
// Content-Security-Policy does not restrict.
func checkAxe(t *testing.T, ctx context.Context, where, axe string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof window.axe === "object"`) {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.Evaluate[bool](axe+"\n;true")); err != nil {
			t.Fatalf("%s: load axe-core: %v", where, err)
		}
	}
	c, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	vs, err := chromedp.Run(c, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact, help: v.help,
		nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", where, err)
	}
	for _, v := range vs {
		var b strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&b, "\n\t%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
		}
		t.Errorf("%s: axe %s (%s): %s%s", where, v.ID, v.Impact, v.Help, b.String())
	}
}

// waitProof waits until the event is integrated in the log.
func waitProof(t *testing.T, base, key, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := call(t, "GET", base+"/v1/events/"+id+"/proof", key, nil)
		if r.status == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not integrated: %d %s", id, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConsoleAccessibility runs axe-core on every page of the console, at a
// desktop's and a phone's size, in the states people see them in, and
// checks what axe does not: the snapshot JSON uses the full width on a
// phone, and what a tooltip says is also on the page.
func TestConsoleAccessibility(t *testing.T) {
	axe := axeSource(t)
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	seedDemo(t, base, key)
	first := envEvent("env7-1", "environment.create", "env_7", "production", map[string]any{"name": "prod", "cpu": 1})
	changed := envEvent("env7-2", "environment.update", "env_7", "production", map[string]any{
		"name": "production", "cpu": 2, "memory_mb": 4096, "region": "eu-west-3",
		"services": []any{map[string]any{"id": "svc_1", "name": "api", "replicas": 3}}})
	changed["description"] = "Renamed environment 'prod' to 'production' and raised its CPU from 1 to 2"
	changed["before"] = map[string]any{"name": "prod", "cpu": 1}
	changed["changes"] = []any{
		map[string]any{"field": "name", "old": "prod", "new": "production"},
		map[string]any{"field": "cpu", "old": 1, "new": 2},
		map[string]any{"field": "database_password", "old": "hmac-sha256:3f9a1c", "new": "hmac-sha256:b7e2d4"},
	}
	deleted := envEvent("env9-del", "environment.delete", "env_9", "preview-42", nil)
	deleted["type"] = "delete"
	ingestJSON(t, base, key, []any{first, changed, deleted})
	waitProof(t, base, key, "env7-2")
	r := call(t, "POST", base+"/v1/viewer-tokens", key, map[string]any{"filters": map[string]any{"target_id": "env_7"}, "ttl_seconds": 600})
	if r.status != 201 {
		t.Fatalf("viewer token: %d %s", r.status, r.body)
	}
	vt := url.QueryEscape(r.json(t)["token"].(string))
	h := receivertest.StartHEC(t)
	streamID := createHECStream(t, base, key, "SIEM", h, receivertest.HECToken)
	createHECStream(t, base, key, "old token", h, "00000000-0000-0000-0000-000000000000")

	ctx := newBrowser(t)
	open := func(path, ready string) func(t *testing.T) {
		return func(t *testing.T) {
			step(t, ctx, "open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(ready)))
		}
	}
	signOut := func(t *testing.T) {
		step(t, ctx, "forget the session", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
			return err
		}))
	}
	pages := []struct {
		name  string
		open  func(t *testing.T)
		phone bool // only at the phone's size
	}{
		{"signin", func(t *testing.T) { signOut(t); open("/signin", "#key")(t) }, false},
		{"signin-refused", func(t *testing.T) {
			step(t, ctx, "a wrong key", chromedp.SendKeys(chromedp.CSS("#key"), "ak_not_a_key"),
				chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#signin-error")))
		}, false},
		{"list", func(t *testing.T) {
			signIn(t, ctx, base, key)
			step(t, ctx, "focus a target", chromedp.Focus(chromedp.CSS(`#rows tr[data-id="env7-2"] a.target`)))
		}, false},
		{"list-filters", func(t *testing.T) {
			open("/", "#events")(t)
			step(t, ctx, "open the filters", chromedp.Click(chromedp.CSS("details.more summary")))
			waitFor(t, ctx, "the pickers", `document.querySelectorAll("#s1 option").length > 1 && !document.querySelector("[aria-busy]")`)
		}, false},
		{"list-chips", open("/?type=delete&target_type=environment&target_id=env_9", "#events"), false},
		{"list-invalid", open("/?q=actr:alice", "#filter-error"), false},
		{"event", open("/events/env7-2", "#proof-fields"), false},
		{"event-first", open("/events/env7-1", "#proof"), true},
		{"compare", open("/compare?id=env7-1&id=env7-2", "#compare-table"), false},
		{"not-found", open("/events/no-such-event", "main h1"), true},
		{"streams", open("/streams", "#stream-"+streamID), false},
		{"sessions", open("/sessions", "#sessions"), false},
		{"keys", open("/keys", "#keys"), false},
		{"alerts", open("/alerts", "#alerts-open"), false},
		{"alert-rules", open("/alerts/rules", "main h1"), false},
		{"alert-rule", open("/alerts/rules/new", "#rule-form"), false},
		{"alert-rule-backtest", func(t *testing.T) {
			step(t, ctx, "fill the rule", chromedp.SendKeys(chromedp.CSS("#r-name"), "Deletions"), chromedp.SendKeys(chromedp.CSS("#r-match"), "type:delete"))
			navigate(t, ctx, "backtest", chromedp.Click(chromedp.CSS("#backtest")))
			step(t, ctx, "the result", chromedp.WaitVisible(chromedp.CSS("#backtest-result")))
		}, false},
		{"viewer", func(t *testing.T) { signOut(t); open("/?viewer_token="+vt, "#events")(t) }, false},
		{"viewer-event", open("/events/env7-2?viewer_token="+vt, "#fields"), true},
	}
	for _, size := range consoleSizes {
		t.Run(size.name, func(t *testing.T) {
			step(t, ctx, "resize", chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)))
			for _, p := range pages {
				if p.phone && size.width > 760 {
					continue
				}
				p.open(t)
				checkAxe(t, ctx, p.name, axe)
				checkTooltips(t, ctx, p.name)
				if d := eval[float64](t, ctx, `(c => c ? Math.abs(c(".session .who") - c(".session button")) : 0)(document.querySelector(".session button") && (s => (r => (r.top + r.bottom) / 2)(document.querySelector(s).getBoundingClientRect())))`); d > 4 {
					t.Errorf("%s: Sign out is %.0f px off the key's name: the header broke apart", p.name, d)
				}
				screenshot(t, ctx, "a11y-"+p.name+"-"+size.name)
				switch p.name {
				case "event":
					checkJSONWidth(t, ctx, size.name)
				case "signin-refused", "list-invalid":
					field := map[string]string{"signin-refused": "#key", "list-invalid": "#q"}[p.name]
					got := eval[string](t, ctx, `(el => el.getAttribute("aria-invalid") + " " + el.getAttribute("aria-describedby"))(document.querySelector("`+field+`"))`)
					if want := "true " + map[string]string{"#key": "signin-error", "#q": "filter-error"}[field]; got != want {
						t.Errorf("%s: %s has aria-invalid and aria-describedby %q; want %q", p.name, field, got, want)
					}
				}
			}
		})
	}
}

// checkJSONWidth: each JSON block of the event page spans its panel.
func checkJSONWidth(t *testing.T, ctx context.Context, size string) {
	t.Helper()
	narrow := eval[string](t, ctx, `Array.from(document.querySelectorAll("pre.json")).filter(pre => {
		const p = pre.parentElement, cs = getComputedStyle(p);
		return pre.getBoundingClientRect().width < p.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 1;
	}).map(pre => pre.id + " " + Math.round(pre.getBoundingClientRect().width) + " px of " + pre.parentElement.clientWidth).join(", ")`)
	if narrow != "" {
		t.Errorf("%s: JSON blocks narrower than their panel: %s", size, narrow)
	}
}

// checkTooltips: a title attribute only repeats what its element or the
// part of the page around it shows, since touch and keyboard users never
// see a tooltip. A time's title is the same instant in UTC.
func checkTooltips(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	only := eval[string](t, ctx, `Array.from(document.querySelectorAll("body [title]")).filter(el => el.tagName !== "TIME").filter(el => {
		const around = el.closest("section, tr, .chip, header, dd, li") || document.body;
		return !around.innerText.includes(el.title);
	}).map(el => el.outerHTML.slice(0, 120)).join(" | ")`)
	if only != "" {
		t.Errorf("%s: information only in tooltips: %s", where, only)
	}
}

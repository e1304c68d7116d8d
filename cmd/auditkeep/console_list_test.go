package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleList drives the events list as its users do: the Qovery
// seed's columns, a hover card on the target, rows that open their event
// by mouse and keyboard, a result count, live mode kept in the URL,
// pickers from the store's facets, active filters as chips, and export
// held back while the query is invalid.
func TestConsoleList(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	seedDemo(t, base, key)
	deleted := envEvent("env9-del", "environment.delete", "env_9", "preview-42", nil)
	deleted["type"] = "delete"
	ingestJSON(t, base, key, []any{
		envEvent("env7-1", "environment.create", "env_7", "production", map[string]any{"name": "prod"}),
		envEvent("env8-1", "environment.update", "env_8", "staging", nil),
		deleted,
	})
	ctx := newBrowser(t)
	signIn(t, ctx, base, key)

	t.Run("columns", func(t *testing.T) {
		heads := eval[string](t, ctx, `Array.from(document.querySelectorAll("#events thead th")).map(th => th.textContent).join("|")`)
		if heads != "Time|Event|Target type|Target|Change|User|Tool|Team|Status" {
			t.Errorf("columns %q", heads)
		}
		row := `document.querySelector('#rows tr[data-id="env8-1"]')`
		cells := eval[string](t, ctx, `Array.from(`+row+`.cells).slice(1).map(td => td.innerText.trim()).join("|")`)
		if cells != "environment.update update|environment|staging|Updated environment 'staging' in project 'Shop'|Alice Martin|console|platform|success" {
			t.Errorf("row cells %q", cells)
		}
		if h := eval[float64](t, ctx, row+`.cells[0].querySelector("time").getBoundingClientRect().height`); h > 24 {
			t.Errorf("the time cell is %.0f px high: it wraps", h)
		}
		if n := eval[string](t, ctx, `document.querySelector("#result-count").textContent`); n != "50 events, more below" {
			t.Errorf("result count %q", n)
		}
	})

	t.Run("hover card", func(t *testing.T) {
		card := `document.querySelector('#rows tr[data-id="env8-1"] .card')`
		if d := eval[string](t, ctx, `getComputedStyle(`+card+`).display`); d != "none" {
			t.Errorf("the target card shows before hovering (%s)", d)
		}
		step(t, ctx, "focus the target", chromedp.Focus(chromedp.CSS(`#rows tr[data-id="env8-1"] a.target`)))
		if d := eval[string](t, ctx, `getComputedStyle(`+card+`).display`); d != "block" {
			t.Errorf("the target card does not show on focus (%s)", d)
		}
		text := eval[string](t, ctx, card+`.innerText.replace(/\s+/g, " ")`)
		for _, want := range []string{"Type environment", "ID env_8", "Name staging", "Scope project Shop › environment staging"} {
			if !strings.Contains(text, want) {
				t.Errorf("target card %q lacks %q", text, want)
			}
		}
		screenshot(t, ctx, "list-1280")
	})

	t.Run("row opens the event", func(t *testing.T) {
		navigate(t, ctx, "click the change cell", chromedp.Click(chromedp.CSS(`#rows tr[data-id="env8-1"] td[data-label="Change"]`)))
		if p := eval[string](t, ctx, `location.pathname`); p != "/events/env8-1" {
			t.Errorf("a click on the row opened %s", p)
		}
		step(t, ctx, "back", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#events")),
			chromedp.Focus(chromedp.CSS(`#rows tr[data-id="env7-1"]`)))
		navigate(t, ctx, "press Enter on a row", chromedp.KeyEvent("\r"))
		if p := eval[string](t, ctx, `location.pathname`); p != "/events/env7-1" {
			t.Errorf("Enter on the row opened %s", p)
		}
	})

	t.Run("load more", func(t *testing.T) {
		step(t, ctx, "load more", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#load-more")),
			chromedp.Click(chromedp.CSS("#load-more")))
		waitFor(t, ctx, "the second page", `document.querySelectorAll("#rows tr").length === 100`)
		if n := eval[string](t, ctx, `document.querySelector("#result-count").textContent`); n != "100 events, more below" {
			t.Errorf("result count after load more %q", n)
		}
		if n := eval[int](t, ctx, `new Set(Array.from(document.querySelectorAll("#rows tr")).map(r => r.dataset.id)).size`); n != 100 {
			t.Errorf("%d distinct rows; want 100", n)
		}
	})

	t.Run("live in the URL", func(t *testing.T) {
		step(t, ctx, "live", chromedp.Navigate(base+"/?target_id=env_live"), chromedp.WaitVisible(chromedp.CSS("#live")),
			chromedp.Click(chromedp.CSS("#live")))
		waitFor(t, ctx, "live=1 in the URL", `location.search.includes("live=1")`)
		step(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#live")))
		if !eval[bool](t, ctx, `document.querySelector("#live").checked`) {
			t.Error("after a reload live mode is off")
		}
		waitFor(t, ctx, "the stream to open", `document.querySelector("#live-status").textContent.startsWith("Live")`)
		ingestJSON(t, base, key, []any{envEvent("live-9", "environment.deploy", "env_live", "canary", nil)})
		waitFor(t, ctx, "the live row", `document.querySelector('#rows tr.new[data-id="live-9"]') !== null`)
		if got := eval[string](t, ctx, `document.querySelector('#rows tr[data-id="live-9"] td[data-label="Target"] a').textContent`); got != "canary" {
			t.Errorf("live row's target %q; want canary", got)
		}
		if n := eval[string](t, ctx, `document.querySelector("#result-count").textContent`); n != "1 event" {
			t.Errorf("result count after a live row %q", n)
		}
	})

	t.Run("pickers from facets", func(t *testing.T) {
		projects := facetNames(t, base, key, "field=project")
		step(t, ctx, "open the filters", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#events")),
			chromedp.Click(chromedp.CSS("details.more summary")))
		waitFor(t, ctx, "the projects", `document.querySelectorAll("#s1 option").length > 1`)
		got := eval[[]string](t, ctx, `Array.from(document.querySelectorAll("#s1 option")).slice(1).map(o => o.value)`)
		if len(got) != len(projects) {
			t.Fatalf("project picker has %d choices; the facets have %d", len(got), len(projects))
		}
		for i := range got {
			if got[i] != "project:"+projects[i] {
				t.Errorf("project choice %d is %q; want project:%s", i, got[i], projects[i])
			}
		}
		step(t, ctx, "pick Shop", chromedp.SetValue(chromedp.CSS("#s1"), "project:prj_1"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#s1").dispatchEvent(new Event("change"))`))
		waitFor(t, ctx, "Shop's environments", `Array.from(document.querySelectorAll("#s2 option")).some(o => o.value === "environment:env_7")`)
		envs := eval[string](t, ctx, `Array.from(document.querySelectorAll("#s2 option")).slice(1).map(o => o.value).sort().join(",")`)
		if envs != "environment:env_7,environment:env_8,environment:env_9,environment:env_live" {
			t.Errorf("environments of Shop %q", envs)
		}
		step(t, ctx, "pick environments", chromedp.SetValue(chromedp.CSS("#target_type"), "environment"),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#target_type").dispatchEvent(new Event("change"))`))
		waitFor(t, ctx, "the targets", `document.querySelectorAll("#target_id option").length > 1`)
		targets := eval[string](t, ctx, `Array.from(document.querySelectorAll("#target_id option")).slice(1).map(o => o.value + " " + o.textContent).join(",")`)
		if targets != "env_live canary (1),env_9 preview-42 (1),env_7 production (1),env_8 staging (1)" {
			t.Errorf("targets of Shop %q", targets)
		}
		screenshot(t, ctx, "pickers-1280")
	})

	t.Run("chips", func(t *testing.T) {
		navigate(t, ctx, "filter", chromedp.Navigate(base+"/?type=delete&target_type=environment&target_id=env_9"))
		if eval[bool](t, ctx, `document.querySelector("details.more").open`) {
			t.Error("the filter panel opens after filtering")
		}
		chips := eval[string](t, ctx, `Array.from(document.querySelectorAll(".chips .chip")).map(c => c.innerText.replace("×", "").trim()).join("|")`)
		if chips != "Event type delete|Target type environment|Target environment preview-42 (env_9)" {
			t.Errorf("chips %q", chips)
		}
		if got := eval[string](t, ctx, `document.querySelector('#rows tr td[data-label="Target"] .deleted').textContent`); got != "deleted" {
			t.Errorf("deleted badge %q", got)
		}
		navigate(t, ctx, "remove a chip", chromedp.Click(chromedp.CSS(`.chips .chip:first-child a.remove`)))
		if q := eval[string](t, ctx, `location.search`); strings.Contains(q, "type=delete") || !strings.Contains(q, "target_id=env_9") {
			t.Errorf("after removing the first chip the view is %q", q)
		}
	})

	t.Run("invalid query", func(t *testing.T) {
		step(t, ctx, "bad search", chromedp.Navigate(base+"/?q=actr:alice"), chromedp.WaitVisible(chromedp.CSS("#filter-error")))
		if msg := eval[string](t, ctx, `document.querySelector("#filter-error").textContent`); !strings.HasPrefix(msg, `Search: unknown key "actr"`) {
			t.Errorf("error %q", msg)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("#export-csv, #export-ndjson").length`); n != 0 {
			t.Error("export links are offered for an invalid query")
		}
		if note := eval[string](t, ctx, `document.querySelector("#export-note").textContent`); !strings.Contains(note, "filter error") {
			t.Errorf("export note %q", note)
		}
	})

	t.Run("phone", func(t *testing.T) {
		step(t, ctx, "phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
			chromedp.Navigate(base+"/?target_id=env_9&target_type=environment"), chromedp.WaitVisible(chromedp.CSS("#events")))
		// Every value sits right of its label; empty cells are hidden.
		bad := eval[string](t, ctx, `Array.from(document.querySelectorAll("#rows td")).filter(td => getComputedStyle(td).display !== "none").flatMap(td =>
			Array.from(td.children).filter(c => c.getBoundingClientRect().left - td.getBoundingClientRect().left < 80).map(c => td.dataset.label + ": " + c.textContent.slice(0, 30))).join(" | ")`)
		if bad != "" {
			t.Errorf("values in the label column: %s", bad)
		}
		if n := eval[int](t, ctx, `Array.from(document.querySelectorAll("#rows td")).filter(td => !td.textContent.trim() && getComputedStyle(td).display !== "none").length`); n != 0 {
			t.Errorf("%d empty fields shown", n)
		}
		if wrap := eval[string](t, ctx, `getComputedStyle(document.querySelector("#rows td")).overflowWrap`); wrap == "anywhere" {
			t.Error("cells break words anywhere")
		}
		top := eval[float64](t, ctx, `document.querySelector("#rows tr").getBoundingClientRect().top`)
		if top > 500 {
			t.Errorf("the first result starts %.0f px down", top)
		}
		link, badge := eval[float64](t, ctx, `document.querySelector("#rows a.target").getBoundingClientRect().top`),
			eval[float64](t, ctx, `document.querySelector("#rows .deleted").getBoundingClientRect().top`)
		if badge-link > 8 || link-badge > 8 {
			t.Errorf("the deleted badge is not inline with the target (%.0f vs %.0f)", badge, link)
		}
		screenshot(t, ctx, "list-390")
	})
}

// facetNames returns the ids GET /v1/facets?query answers.
func facetNames(t *testing.T, base, key, query string) []string {
	t.Helper()
	r := call(t, "GET", base+"/v1/facets?"+query, key, nil)
	if r.status != 200 {
		t.Fatalf("facets %s: %d %s", query, r.status, r.body)
	}
	var ids []string
	for _, v := range r.json(t)["values"].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	return ids
}

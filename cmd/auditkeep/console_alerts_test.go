package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// failedLogins returns n failed logins of the actor, a second apart,
// ending a minute ago.
func failedLogins(prefix, actor string, n int) []any {
	var evs []any
	at := time.Now().UTC().Add(-time.Minute - time.Duration(n)*time.Second)
	for i := range n {
		e := event(fmt.Sprintf("%s-%d", prefix, i), "user.login", actor)
		e["type"], e["status"] = "login", "failure"
		e["occurred_at"] = at.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		evs = append(evs, e)
	}
	return evs
}

// waitAlerts waits until the tenant has n alerts of the query.
func waitAlerts(t *testing.T, base, key, query string, n int) []any {
	t.Helper()
	var alerts []any
	waitUntil(t, fmt.Sprintf("%d alerts of %s", n, query), func() bool {
		alerts, _ = call(t, "GET", base+"/v1/alerts?"+query, key, nil).json(t)["alerts"].([]any)
		return len(alerts) >= n
	})
	return alerts
}

// TestConsoleAlerts: the Alerts page in Chromium, at a desktop's and a
// phone's width, over the real server and its default rules: the open
// alert with its rule, group, count and times, content as text; its link
// lists the matching events; acknowledge and resolve from its buttons,
// recorded in the log; the rule editor's backtest, then the rule created.
func TestConsoleAlerts(t *testing.T) {
	a := testServerAlerts(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	const hostile = `<img src=x onerror=alert(1)>`
	ingestJSON(t, base, key, failedLogins("fl", hostile, 6))
	alerts := waitAlerts(t, base, key, "state=open", 1)
	id := alerts[0].(map[string]any)["id"].(string)

	ctx := newBrowser(t)
	signIn(t, ctx, base, key)
	row := `document.querySelector("#alert-` + id + `")`
	text := func(sel string) string {
		return eval[string](t, ctx, `(p => p && p.querySelector("`+sel+`") ? p.querySelector("`+sel+`").innerText : "")(`+row+`)`)
	}
	for _, size := range consoleSizes {
		step(t, ctx, "open Alerts at "+size.name,
			chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
			chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#events")))
		navigate(t, ctx, "follow the Alerts link", chromedp.Click(chromedp.CSS(`a[href="/alerts"]`)))
		step(t, ctx, "the page", chromedp.WaitVisible(chromedp.CSS("#alert-"+id)))
		if got := text(".group"); got != "actor: "+hostile {
			t.Errorf("%s: the alert's group reads %q", size.name, got)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("main img").length`); n != 0 {
			t.Errorf("%s: an actor's id made %d images", size.name, n)
		}
		if got := text(".sev"); got != "high" {
			t.Errorf("%s: the alert's severity reads %q", size.name, got)
		}
		if got := text(".events-link"); got != "6 events" {
			t.Errorf("%s: the alert's count reads %q", size.name, got)
		}
		if got := eval[string](t, ctx, `document.querySelector("#alerts-open .alert-row") ? document.querySelector("#alerts-open .alert-row").id : ""`); got != "alert-"+id {
			t.Errorf("%s: the open alerts start with %q", size.name, got)
		}
		screenshot(t, ctx, "alerts-"+size.name)
	}
	// The events link lists the six failed logins.
	navigate(t, ctx, "follow the events link", chromedp.Click(chromedp.CSS(`#alert-`+id+` a.events-link`)))
	step(t, ctx, "the list", chromedp.WaitVisible(chromedp.CSS("#events")))
	waitFor(t, ctx, "the six events", `document.querySelectorAll("#rows tr.ev").length === 6`)
	q := eval[string](t, ctx, `document.querySelector("#q").value`)
	if !strings.Contains(q, "action:user.login") || !strings.Contains(q, "created:") {
		t.Errorf("the events link searches %q; want the rule's match and the alert's span", q)
	}
	// Acknowledge, then resolve.
	step(t, ctx, "back to Alerts", chromedp.Navigate(base+"/alerts"), chromedp.WaitVisible(chromedp.CSS("#alert-"+id)))
	navigate(t, ctx, "acknowledge", chromedp.Click(chromedp.CSS(`#alert-`+id+` form[action$="/acknowledge"] button`)))
	if got := eval[string](t, ctx, `document.querySelector("#alerts-acknowledged #alert-`+id+` .state") ? document.querySelector("#alerts-acknowledged #alert-`+id+` .state").innerText : ""`); got != "acknowledged" {
		t.Errorf("after acknowledging, the alert's state reads %q in the acknowledged section", got)
	}
	navigate(t, ctx, "resolve", chromedp.Click(chromedp.CSS(`#alert-`+id+` form[action$="/resolve"] button`)))
	if got := eval[string](t, ctx, `document.querySelector("#alerts-resolved #alert-`+id+`") ? "here" : ""`); got != "here" {
		t.Error("after resolving, the alert is not among the resolved")
	}
	for _, action := range []string{"alert.acknowledge", "alert.resolve"} {
		evs, _ := call(t, "GET", base+"/v1/events?action="+action+"&target_id="+id, key, nil).json(t)["events"].([]any)
		if len(evs) != 1 {
			t.Errorf("the log holds %d %s events of the alert; want 1", len(evs), action)
		}
	}

	// The rule editor: a backtest over the last hour finds the burst.
	navigate(t, ctx, "the rules", chromedp.Click(chromedp.CSS(`a[href="/alerts/rules"]`)))
	navigate(t, ctx, "new rule", chromedp.Click(chromedp.CSS(`a[href="/alerts/rules/new"]`)))
	from := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
	to := time.Now().UTC().Add(time.Minute).Format("2006-01-02T15:04")
	step(t, ctx, "fill the rule",
		chromedp.SendKeys(chromedp.CSS("#r-name"), "Three failures"),
		chromedp.SendKeys(chromedp.CSS("#r-match"), "action:user.login status:failure"),
		chromedp.SetValue(chromedp.CSS("#r-threshold"), "3"),
		chromedp.SetValue(chromedp.CSS("#r-from"), from),
		chromedp.SetValue(chromedp.CSS("#r-to"), to))
	navigate(t, ctx, "backtest", chromedp.Click(chromedp.CSS("#backtest")))
	if got := eval[string](t, ctx, `document.querySelector("#backtest-count") ? document.querySelector("#backtest-count").innerText : ""`); !strings.Contains(got, "would have raised 1 alert") {
		t.Errorf("the backtest says %q; want 1 alert", got)
	}
	screenshot(t, ctx, "alert-rule-backtest")
	navigate(t, ctx, "create", chromedp.Click(chromedp.CSS("#save")))
	if got := eval[string](t, ctx, `document.querySelector("#notice") ? document.querySelector("#notice").innerText : ""`); got != "Rule created." {
		t.Errorf("after creating, the page says %q", got)
	}
	evs, _ := call(t, "GET", base+"/v1/events?action=alert_rule.create", key, nil).json(t)["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["target"].(map[string]any)["name"] != "Three failures" {
		t.Errorf("the log holds %v for the rule's creation; want one alert_rule.create", evs)
	}
	// A bad condition comes back with its position, the field marked.
	step(t, ctx, "open the new rule", chromedp.Navigate(base+"/alerts/rules"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	navigate(t, ctx, "edit", chromedp.Click(chromedp.CSS(`a[aria-label="Edit rule Three failures"]`)))
	step(t, ctx, "a bad condition", chromedp.SendKeys(chromedp.CSS("#r-condition"), "event.action =="))
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := chromedp.RunResponse(c, chromedp.Click(chromedp.CSS("#save")))
	if err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, ctx, `document.querySelector("#form-error") ? document.querySelector("#form-error").innerText : ""`); res.Status != 400 || !strings.Contains(got, "condition") {
		t.Errorf("a bad condition answers %d saying %q", res.Status, got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#r-condition").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the condition field's aria-invalid is %q", got)
	}
	screenshot(t, ctx, "alert-rule-invalid")
}

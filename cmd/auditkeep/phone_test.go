package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleOnPhone opens the console at a phone's size: the page never
// scrolls sideways, the events table turns into labelled cards, and every
// control has a label a screen reader announces.
func TestConsoleOnPhone(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	seedDemo(t, base, key)
	ctx := newBrowser(t)
	step(t, ctx, "sign in on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3)),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#events")),
	)
	if w, inner := eval[int](t, ctx, `document.documentElement.scrollWidth`), eval[int](t, ctx, `window.innerWidth`); w > inner {
		t.Errorf("the page is %d px wide in a %d px viewport: it scrolls sideways", w, inner)
	}
	if d := eval[string](t, ctx, `getComputedStyle(document.querySelector("#rows tr")).display`); d != "block" {
		t.Errorf("an events row displays as %q on a phone; want block (a card)", d)
	}
	if l := eval[string](t, ctx, `getComputedStyle(document.querySelector("#rows tr td"), "::before").content`); l == "none" || l == "" {
		t.Errorf("a card's cell shows no label (::before content %q)", l)
	}
	unlabelled := eval[string](t, ctx, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button"))
		.filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim() && !el.title)
		.map(el => el.outerHTML.slice(0, 80)).join(" | ")`)
	if unlabelled != "" {
		t.Errorf("controls without a label: %s", unlabelled)
	}
	// Keyboard: the search box is reachable with Tab.
	reached := false
	for range 40 {
		if eval[string](t, ctx, `document.activeElement ? document.activeElement.id : ""`) == "q" {
			reached = true
			break
		}
		step(t, ctx, "tab", chromedp.KeyEvent("\t"))
	}
	if !reached {
		t.Error("the search box is not reachable with Tab")
	}
}

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserSSO signs in to the console at base through the test provider's
// sign-in form, as username, and returns once the console's events show.
func browserSSO(t *testing.T, ctx context.Context, base, username string) {
	t.Helper()
	step(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-sso")))
	step(t, ctx, "go to the provider", chromedp.Click(chromedp.CSS("#signin-sso")), chromedp.WaitVisible(chromedp.CSS("#username")))
	if host := eval[string](t, ctx, `location.host`); strings.Contains(base, host) {
		t.Fatalf("the provider's page is on the console's own host %s", host)
	}
	step(t, ctx, "sign in at the provider",
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), ssoPassword),
		chromedp.Click(chromedp.CSS("#submit")))
}

// waitAcross polls a JavaScript predicate until it holds, across the page
// loads of a sign-in's redirects (which interrupt an evaluation).
func waitAcross(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](predicate))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// browserSessionCookie returns the console's session cookie that ctx's browser holds.
func browserSessionCookie(t *testing.T, ctx context.Context, base string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == "auditkeep_session" {
			return ck
		}
	}
	t.Fatal("the browser holds no session cookie")
	return nil
}

// TestConsoleSignInThroughProvider signs people in through a real OpenID
// provider in Chromium: who they are shows; an auditor exports and a viewer
// may not; someone without a role is refused; signing out ends the session
// for a second browser holding the same cookie.
func TestConsoleSignInThroughProvider(t *testing.T) {
	a, _ := ssoServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	ingestJSON(t, base, key, []any{event("b-1", "environment.update", "usr_1"), event("b-2", "environment.update", "usr_2")})

	t.Run("auditor exports", func(t *testing.T) {
		ctx := newBrowser(t)
		browserSSO(t, ctx, base, "audrey")
		waitAcross(t, ctx, "the console", `location.pathname === "/" && document.querySelector("#events") !== null`)
		who := eval[string](t, ctx, `document.querySelector("#whoami").textContent`)
		tenant := eval[string](t, ctx, `document.querySelector(".tenant").textContent`)
		if !strings.Contains(who, "Audrey Auditor") || !strings.Contains(who, "(auditor)") || !strings.Contains(tenant, "acme") {
			t.Errorf("header says %q, %q; want Audrey Auditor (auditor) in acme", who, tenant)
		}
		screenshot(t, ctx, "person-auditor")
		// The two events, and her own sign-in, newest first.
		if n := eval[int](t, ctx, `document.querySelectorAll("#rows tr").length`); n != 3 {
			t.Errorf("the auditor sees %d rows; want 3", n)
		}
		if got := eval[string](t, ctx, `document.querySelector("#rows tr .action").textContent`); got != "console.sign_in" {
			t.Errorf("the newest row is %q; want her console.sign_in", got)
		}
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		got, err := chromedp.Run(c, chromedp.Evaluate[string](`fetch(document.querySelector("#export-csv").href).then(r => r.text().then(b => r.status + " " + b.split("\n").length))`, chromedp.EvalAwaitPromise))
		if err != nil || got != "200 6" {
			t.Errorf("the auditor's CSV export = %q, %v; want 200 with a header, three rows and the export's own record", got, err)
		}
	})

	t.Run("viewer may not export", func(t *testing.T) {
		ctx := newBrowser(t)
		browserSSO(t, ctx, base, "vera")
		waitAcross(t, ctx, "the console", `location.pathname === "/" && document.querySelector("#events") !== null`)
		if has := eval[bool](t, ctx, `document.querySelector("#export-csv") !== null`); has {
			t.Error("the viewer is offered Export CSV")
		}
		if note := eval[string](t, ctx, `document.querySelector("#export-note").textContent`); !strings.Contains(note, "needs the auditor or admin role; yours is viewer") {
			t.Errorf("export note %q; want it to name the roles that export", note)
		}
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		got, err := chromedp.Run(c, chromedp.Evaluate[string](`Promise.all(["/export?format=csv", "/v1/export?format=csv", "/v1/events"].map(u => fetch(u).then(r => r.status))).then(a => a.join(" "))`, chromedp.EvalAwaitPromise))
		if err != nil || got != "403 403 200" {
			t.Errorf("the viewer's console export, API export, API list = %q, %v; want 403 403 200", got, err)
		}
	})

	t.Run("no role is refused", func(t *testing.T) {
		ctx := newBrowser(t)
		browserSSO(t, ctx, base, "nora")
		waitAcross(t, ctx, "the refusal", `document.querySelector("#refused") !== null`)
		screenshot(t, ctx, "person-refused")
		if has := eval[bool](t, ctx, `document.querySelector("#whoami") !== null || document.querySelector('form[action="/signout"]') !== null`); has {
			t.Error("the refusal page shows a signed-in header")
		}
		if who := eval[string](t, ctx, `document.querySelector("#refused-who").textContent`); who != "Nora Nobody <nora@acme.example>" {
			t.Errorf("the refusal names %q; want Nora Nobody <nora@acme.example>", who)
		}
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, ck := range res.Cookies {
			if ck.Name == "auditkeep_session" {
				t.Error("the refused person holds a session cookie")
			}
		}
		navigate(t, ctx, "open the console", chromedp.Navigate(base+"/"))
		if path := eval[string](t, ctx, `location.pathname`); path != "/signin" {
			t.Errorf("after the refusal / goes to %s; want /signin", path)
		}
	})

	t.Run("sign-out ends the session for a second browser", func(t *testing.T) {
		first := newBrowser(t)
		browserSSO(t, first, base, "adam")
		waitAcross(t, first, "the console", `location.pathname === "/" && document.querySelector("#events") !== null`)
		ck := browserSessionCookie(t, first, base)

		second := newBrowser(t)
		if _, err := chromedp.Call(second, network.SetCookie, network.SetCookieParams{Name: ck.Name, Value: ck.Value, URL: base + "/",
			Path: "/", HTTPOnly: ptrTo(true), SameSite: network.CookieSameSiteStrict}); err != nil {
			t.Fatal(err)
		}
		navigate(t, second, "open the console with the copied cookie", chromedp.Navigate(base+"/"))
		if who := eval[string](t, second, `(document.querySelector("#whoami") || {}).textContent || ""`); !strings.Contains(who, "Adam Admin") {
			t.Fatalf("the second browser shows %q; want Adam Admin signed in", who)
		}

		step(t, first, "sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.CSS("#signin-sso")))
		navigate(t, second, "reload the console", chromedp.Navigate(base+"/"))
		if path := eval[string](t, second, `location.pathname`); path != "/signin" {
			t.Errorf("after sign-out the second browser is at %s; want /signin", path)
		}
		c, cancel := context.WithTimeout(second, 60*time.Second)
		defer cancel()
		if got, err := chromedp.Run(c, chromedp.Evaluate[int](`fetch("/v1/events").then(r => r.status)`, chromedp.EvalAwaitPromise)); err != nil || got != 401 {
			t.Errorf("after sign-out the second browser's API call = %d, %v; want 401", got, err)
		}
	})
}

// TestConsoleSignInAccessibility runs axe-core on the pages of a sign-in
// through the provider, at the console's sizes: the sign-in page with both
// ways in, the refusal, the choice of tenant, and the console of a person.
func TestConsoleSignInAccessibility(t *testing.T) {
	axe := axeSource(t)
	a, _ := ssoServer(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	setupTenant(t, base, "globex")
	ingestJSON(t, base, key, []any{event("a-1", "environment.update", "usr_1")})
	for _, size := range consoleSizes {
		t.Run(size.name, func(t *testing.T) {
			pages := []struct {
				name, user, ready string
			}{
				{"signin-sso", "", "#signin-sso"},
				{"sso-refused", "nora", "#refused"},
				{"sso-choose", "mia", "#tenant-globex"},
				{"sso-viewer", "vera", "#events"},
			}
			for _, p := range pages {
				ctx := newBrowser(t)
				step(t, ctx, "resize", chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)))
				if p.user == "" {
					step(t, ctx, "open /signin", chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS(p.ready)))
				} else {
					browserSSO(t, ctx, base, p.user)
					waitAcross(t, ctx, p.name, `document.querySelector("`+p.ready+`") !== null`)
				}
				checkAxe(t, ctx, p.name, axe)
				checkTooltips(t, ctx, p.name)
				screenshot(t, ctx, "a11y-"+p.name+"-"+size.name)
			}
		})
	}
}

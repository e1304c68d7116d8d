package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleAdminPages: an admin sees the tenant's sessions and keys at
// both sizes, ends another browser's session and revokes a key from them;
// a key without the admin scope is refused the pages.
func TestConsoleAdminPages(t *testing.T) {
	a := testServer(t, Config{})
	base := a.URL()
	admin := setupTenant(t, base, "acme")
	ingestJSON(t, base, admin, []any{event("e1", "environment.update", "usr_1")})
	r := call(t, "POST", base+"/v1/tenants/acme/keys", admin, map[string]any{"name": "laptop <b>", "scopes": []string{"read"},
		"expires_at": "2099-01-01T00:00:00Z"})
	laptop, laptopID := r.json(t)["key"].(string), r.json(t)["id"].(string)
	other, _ := consoleSignIn(t, base, laptop)

	ctx := newBrowser(t)
	signIn(t, ctx, base, admin)
	for _, size := range consoleSizes {
		step(t, ctx, "the Sessions page at "+size.name,
			chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(size.scale)),
			chromedp.Navigate(base+"/sessions"),
			chromedp.WaitVisible(chromedp.CSS("#sessions")),
		)
		if n := eval[int](t, ctx, `document.querySelectorAll("#sessions tbody tr").length`); n != 2 {
			t.Errorf("%s: %d sessions listed; want 2 (the admin's, the laptop's)", size.name, n)
		}
		text := eval[string](t, ctx, `document.querySelector("#sessions").innerText`)
		if !strings.Contains(text, "laptop <b>") || !strings.Contains(text, "this browser") || !strings.Contains(text, "127.0.0.1") {
			t.Errorf("%s: the sessions read %q; want the laptop's key named as text, this browser marked, the address", size.name, text)
		}
		screenshot(t, ctx, "sessions-"+size.name)
		step(t, ctx, "the Keys page at "+size.name, chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS("#keys")))
		text = eval[string](t, ctx, `document.querySelector("#keys").innerText`)
		expiry := eval[string](t, ctx, `[...document.querySelectorAll("#keys td[data-label=Expires] time")].map(e => e.getAttribute("datetime")).join()`)
		if !strings.Contains(text, "laptop <b>") || expiry != "2099-01-01T00:00:00Z" || !strings.Contains(text, "never") {
			t.Errorf("%s: the keys read %q, expiries %q; want the laptop key, its expiry, the admin key's (never)", size.name, text, expiry)
		}
		screenshot(t, ctx, "keys-"+size.name)
	}

	// End the laptop's session from the Sessions page.
	step(t, ctx, "open Sessions", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(chromedp.CSS("#sessions")))
	idx := eval[int](t, ctx, `[...document.querySelectorAll("#sessions tbody tr")].findIndex(tr => tr.innerText.includes("laptop"))`)
	if idx < 0 {
		t.Fatal("no laptop session row")
	}
	navigate(t, ctx, "end the laptop's session", chromedp.Click(chromedp.CSS("#sessions tbody tr:nth-child("+strconv.Itoa(idx+1)+") button")))
	if got := eval[string](t, ctx, `document.querySelector(".notice") ? document.querySelector(".notice").textContent : ""`); got != "The session was ended." {
		t.Errorf("after ending a session the page says %q", got)
	}
	wantSignedOut(t, base, other, "after an admin ended it in the console")
	if n := eval[int](t, ctx, `document.querySelectorAll("#sessions tbody tr").length`); n != 1 {
		t.Errorf("%d sessions listed after ending one; want 1", n)
	}
	wantOwnFrom(t, base, admin, "session.revoke", keyID(t, base, admin, "k"), "Mozilla/5.0")

	// Revoke the laptop key from the Keys page.
	step(t, ctx, "open Keys", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS("#keys")))
	navigate(t, ctx, "revoke the laptop key", chromedp.Click(chromedp.CSS("#keys tr.key-active:not(:has(.you)) button")))
	if r := call(t, "GET", base+"/v1/events", laptop, nil); r.status != 401 {
		t.Errorf("the revoked key reads: %d", r.status)
	}
	if got := eval[string](t, ctx, `document.querySelector("#keys tr.key-revoked") ? document.querySelector("#keys tr.key-revoked").innerText : ""`); !strings.Contains(got, laptopID) {
		t.Errorf("the revoked row reads %q; want the laptop key, revoked", got)
	}
	wantOwnFrom(t, base, admin, "key.revoke", keyID(t, base, admin, "k"), "Mozilla/5.0")

	// A key without the admin scope has neither the links nor the pages.
	reader := createKey(t, base, admin, "acme", "read")
	rctx := newBrowser(t)
	signIn(t, rctx, base, reader)
	if n := eval[int](t, rctx, `document.querySelectorAll(".admin-nav").length`); n != 0 {
		t.Errorf("a reader's header links to the admin pages")
	}
	for _, page := range []string{"/sessions", "/keys"} {
		s, _, _ := consoleGet(t, nil, base+page, nil)
		if s != 303 {
			t.Errorf("GET %s signed out = %d; want a redirect to sign in", page, s)
		}
	}
	session, _ := consoleSignIn(t, base, reader)
	for _, page := range []string{"/sessions", "/keys"} {
		if s, _, body := consoleGet(t, nil, base+page, session); s != 403 || !strings.Contains(body, "for admins") {
			t.Errorf("GET %s as a reader = %d; want 403 saying it is for admins", page, s)
		}
	}
}

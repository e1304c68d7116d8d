package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// alertsBackend keeps alerts and rules in memory; the real one is tested
// end to end in cmd/auditkeep.
type alertsBackend struct {
	*streamsBackend
	mu       sync.Mutex
	alerts   []*auditkeep.Alert
	rules    []*auditkeep.AlertRule
	calls    []string
	saved    []web.AlertRuleChange
	tested   []string
	saveErr  error
	backtest web.AlertBacktest
}

func (b *alertsBackend) Alerts(ctx context.Context, id *web.Identity, q url.Values) ([]*auditkeep.Alert, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, "list "+q.Encode())
	var out []*auditkeep.Alert
	for _, a := range b.alerts {
		if (q.Get("state") == "" || a.State == q.Get("state")) && (q.Get("severity") == "" || a.Severity == q.Get("severity")) {
			out = append(out, a)
		}
	}
	return out, "", nil
}

func (b *alertsBackend) AlertRules(ctx context.Context, id *web.Identity) ([]*auditkeep.AlertRule, error) {
	if !id.HasScope(auditkeep.ScopeAdmin) {
		return nil, auditkeep.Errorf(auditkeep.EFORBIDDEN, "rules are for admins")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*auditkeep.AlertRule
	for _, r := range b.rules {
		c := *r
		out = append(out, &c)
	}
	return out, nil
}

func (b *alertsBackend) SetAlertState(r *http.Request, id *web.Identity, alertID, action string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, action+" "+alertID)
	for _, a := range b.alerts {
		if a.ID == alertID {
			if action == "acknowledge" && a.State != auditkeep.AlertOpen {
				return auditkeep.Errorf(auditkeep.ECONFLICT, "alert %s is %s, not open", alertID, a.State)
			}
			a.State = map[string]string{"acknowledge": auditkeep.AlertAcknowledged, "resolve": auditkeep.AlertResolved}[action]
			return nil
		}
	}
	return auditkeep.Errorf(auditkeep.ENOTFOUND, "no alert %s", alertID)
}

func (b *alertsBackend) SaveAlertRule(r *http.Request, id *web.Identity, ch web.AlertRuleChange) (*auditkeep.AlertRule, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.saveErr != nil {
		return nil, b.saveErr
	}
	b.saved = append(b.saved, ch)
	rule := *ch.Rule
	if rule.ID == "" {
		rule.ID = "rul_new"
	}
	return &rule, nil
}

func (b *alertsBackend) DeleteAlertRule(r *http.Request, id *web.Identity, ruleID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, "delete "+ruleID)
	return nil
}

func (b *alertsBackend) TestAlertRule(r *http.Request, id *web.Identity, rule *auditkeep.AlertRule, from, to time.Time) (web.AlertBacktest, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tested = append(b.tested, rule.Match+" "+from.Format(time.RFC3339)+" "+to.Format(time.RFC3339))
	return b.backtest, nil
}

func (b *alertsBackend) Status(err error) int {
	if auditkeep.ErrorCode(err) == auditkeep.ECONFLICT {
		return http.StatusConflict
	}
	return b.fakeBackend.Status(err)
}

func newAlertsConsole(t *testing.T) (*alertsBackend, *httptest.Server) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	rule := &auditkeep.AlertRule{ID: "rul_1", Name: "Failed logins", Match: "action:user.login status:failure", GroupBy: []string{"actor"},
		Threshold: 5, Window: auditkeep.Duration(10 * time.Minute), SuppressFor: auditkeep.Duration(30 * time.Minute), Severity: "high",
		Enabled: true, Version: 3, Default: auditkeep.DefaultFailedLogins,
		Channels: []auditkeep.AlertChannel{{Type: "webhook", URL: "https://hooks.example/a", SecretSet: true, State: "failing", LastError: "receiver answered 500: <b>down</b>"},
			{Type: "email", To: []string{"secops@example.com", "oncall@example.com"}}}}
	b := &alertsBackend{streamsBackend: &streamsBackend{fakeBackend: &fakeBackend{}}, rules: []*auditkeep.AlertRule{rule},
		alerts: []*auditkeep.Alert{
			{ID: "alr_1", RuleID: "rul_1", RuleName: "Failed logins", Severity: "high", GroupKey: map[string]string{"actor": `<script>x</script> "mal"`},
				Count: 7, FirstEventAt: at, LastEventAt: at.Add(90 * time.Second), State: auditkeep.AlertOpen, EventIDs: []string{"e1", "e2"}},
			{ID: "alr_2", RuleID: "rul_gone", RuleName: "Old rule", Severity: "low", GroupKey: map[string]string{}, Count: 1,
				FirstEventAt: at, LastEventAt: at, State: auditkeep.AlertAcknowledged, AcknowledgedBy: "ops"},
			{ID: "alr_3", RuleID: "rul_1", RuleName: "Failed logins", Severity: "high", GroupKey: map[string]string{"actor": "usr_9"},
				Count: 5, FirstEventAt: at.Add(-time.Hour), LastEventAt: at.Add(-time.Hour), State: auditkeep.AlertResolved, ResolvedBy: "ops"},
		}}
	c := web.New(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c.Now = func() time.Time { return at.Add(time.Hour) }
	c.Alerts = b
	return b, serveConsole(t, c)
}

// TestAlertsPage: open alerts first, then acknowledged, then resolved, each
// with its rule, severity, group, count and times, content as text, and a
// link to its events; admins get the buttons, auditors the page without
// them, read-only keys neither the page nor its link.
func TestAlertsPage(t *testing.T) {
	_, srv := newAlertsConsole(t)
	res, _ := client(t, srv, adminKey).Get(srv.URL + "/alerts")
	body := readAll(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("GET /alerts = %d %s", res.StatusCode, body)
	}
	open, ack, resolved := strings.Index(body, `id="alert-alr_1"`), strings.Index(body, `id="alert-alr_2"`), strings.Index(body, `id="alert-alr_3"`)
	if open < 0 || ack < open || resolved < ack {
		t.Errorf("alerts at %d (open), %d (acknowledged), %d (resolved); want open first, then acknowledged, then resolved", open, ack, resolved)
	}
	for _, want := range []string{"actor: &lt;script&gt;x&lt;/script&gt; &#34;mal&#34;", "7 events", "2026-11-26 09:00:00 UTC", "2026-11-26 09:01:30 UTC",
		`action="/alerts/alr_1/acknowledge"`, `action="/alerts/alr_1/resolve"`, `action="/alerts/alr_2/resolve"`, "by ops"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Alerts page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>x") {
		t.Error("the Alerts page renders content as HTML")
	}
	if strings.Contains(body, `action="/alerts/alr_2/acknowledge"`) || strings.Contains(body, `action="/alerts/alr_3/resolve"`) {
		t.Error("an acknowledged alert offers Acknowledge, or a resolved one Resolve")
	}
	// The events link: the rule's match, the group's value, the alert's span.
	q := `action:user.login status:failure actor:"<script>x</script> \"mal\"" created:2026-11-26T09:00:00Z..2026-11-26T09:01:30Z`
	want := `href="/?` + (url.Values{"q": {q}}).Encode() + `"`
	if !strings.Contains(html.UnescapeString(body), want) {
		t.Errorf("the Alerts page lacks the events link %s", want)
	}

	res, _ = client(t, srv, exportKey).Get(srv.URL + "/alerts")
	body = readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(body, `id="alert-alr_1"`) || strings.Contains(body, "/acknowledge") || strings.Contains(body, "/resolve") {
		t.Errorf("an auditor's Alerts page = %d; want the alerts without buttons\n%s", res.StatusCode, body)
	}
	reader := client(t, srv, goodKey)
	res, _ = reader.Get(srv.URL + "/")
	if body := readAll(t, res); strings.Contains(body, `href="/alerts"`) {
		t.Error("a read key's pages link the Alerts page")
	}
	for _, path := range []string{"/alerts", "/alerts/rules"} {
		res, _ = reader.Get(srv.URL + path)
		if readAll(t, res); res.StatusCode != 403 {
			t.Errorf("GET %s with a read key = %d; want 403", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/alerts/rules", "/alerts/rules/new"} {
		res, _ = client(t, srv, exportKey).Get(srv.URL + path)
		if readAll(t, res); res.StatusCode != 403 {
			t.Errorf("an auditor's GET %s = %d; want 403", path, res.StatusCode)
		}
	}
	res, _ = client(t, srv, adminKey).Get(srv.URL + "/alerts?state=resolved&severity=high")
	if body := readAll(t, res); res.StatusCode != 200 || strings.Contains(body, `id="alert-alr_1"`) || !strings.Contains(body, `id="alert-alr_3"`) {
		t.Errorf("GET /alerts?state=resolved = %d; want the resolved alert alone\n%s", res.StatusCode, body)
	}
	res, _ = client(t, srv, adminKey).Get(srv.URL + "/alerts?state=closed")
	if body := readAll(t, res); res.StatusCode != 400 || !strings.Contains(body, "state must be one of") {
		t.Errorf("GET /alerts?state=closed = %d; want 400 naming state", res.StatusCode)
	}
}

// TestAlertActions: acknowledge and resolve run with the session's CSRF
// token and say what they did; a refused change says why; a forged form
// changes nothing.
func TestAlertActions(t *testing.T) {
	b, srv := newAlertsConsole(t)
	cl := client(t, srv, adminKey)
	res, _ := cl.Get(srv.URL + "/alerts")
	csrf := formValue(t, readAll(t, res), "csrf")
	for _, c := range []struct {
		path   string
		csrf   string
		status int
		call   string
		says   string
	}{
		{"/alerts/alr_1/acknowledge", csrf, 303, "acknowledge alr_1", "Alert acknowledged"},
		{"/alerts/alr_1/acknowledge", csrf, 409, "acknowledge alr_1", "alert alr_1 is acknowledged, not open"},
		{"/alerts/alr_1/resolve", csrf, 303, "resolve alr_1", "Alert resolved"},
		{"/alerts/alr_9/resolve", csrf, 404, "resolve alr_9", "no alert alr_9"},
		{"/alerts/alr_2/resolve", "forged", 403, "", "the form expired"},
		{"/alerts/alr_2/close", csrf, 404, "", ""},
	} {
		b.mu.Lock()
		b.calls = nil
		b.mu.Unlock()
		status, body, _ := postFollow(t, cl, srv.URL, c.path, url.Values{"csrf": {c.csrf}})
		b.mu.Lock()
		var calls []string
		for _, call := range b.calls {
			if !strings.HasPrefix(call, "list ") {
				calls = append(calls, call)
			}
		}
		b.mu.Unlock()
		if status != c.status || strings.Join(calls, ";") != c.call || !strings.Contains(body, c.says) {
			t.Errorf("POST %s = %d, calls %q; want %d, %q, saying %q", c.path, status, calls, c.status, c.call, c.says)
		}
	}
	res, _ = client(t, srv, exportKey).PostForm(srv.URL+"/alerts/alr_2/resolve", url.Values{"csrf": {csrf}})
	if readAll(t, res); res.StatusCode != 403 {
		t.Errorf("an auditor's resolve = %d; want 403", res.StatusCode)
	}
}

// TestRuleEditor: the editor shows a rule as it is (channels and their
// status, content as text), saves what is typed, keeps the channels (and a
// webhook's secret) when they were not touched, answers a refused value
// with the form as typed and the field marked, and backtests without saving.
func TestRuleEditor(t *testing.T) {
	b, srv := newAlertsConsole(t)
	cl := client(t, srv, adminKey)
	res, _ := cl.Get(srv.URL + "/alerts/rules")
	body := readAll(t, res)
	for _, want := range []string{"Failed logins", "action:user.login status:failure", "5 events within 10m, per actor", "webhook https://hooks.example/a",
		"Failing", "receiver answered 500: &lt;b&gt;down&lt;/b&gt;", "email secops@example.com, oncall@example.com", `href="/alerts/rules/rul_1"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the rules page lacks %q", want)
		}
	}
	res, _ = cl.Get(srv.URL + "/alerts/rules/rul_1")
	body = readAll(t, res)
	csrf := formValue(t, body, "csrf")
	for _, want := range []string{`value="Failed logins"`, `name="version" value="3"`, `value="actor" checked`, `value="10m"`, `value="30m"`,
		`<option value="high" selected>`, "webhook https://hooks.example/a\nemail secops@example.com, oncall@example.com</textarea>", "signed with its secret"} {
		if !strings.Contains(body, want) {
			t.Errorf("the editor lacks %q", want)
		}
	}
	form := func(change func(url.Values)) url.Values {
		f := url.Values{"csrf": {csrf}, "id": {"rul_1"}, "version": {"3"}, "name": {"Failed logins"}, "match": {"action:user.login status:failure"},
			"group_by": {"actor", "ip"}, "threshold": {"8"}, "window": {"15m"}, "suppress_for": {"1h"}, "severity": {"critical"}, "enabled": {"1"},
			"channels":     {"webhook https://hooks.example/a\r\nemail secops@example.com, oncall@example.com"},
			"channels_was": {"webhook https://hooks.example/a\nemail secops@example.com, oncall@example.com"},
			"from":         {"2026-11-20T00:00"}, "to": {"2026-11-26T10:00"}}
		if change != nil {
			change(f)
		}
		return f
	}
	res, _ = cl.PostForm(srv.URL+"/alerts/rules/rul_1", form(nil))
	if loc := res.Header.Get("Location"); readAll(t, res) == "" && res.StatusCode != 303 || !strings.HasPrefix(loc, "/alerts/rules?done=saved") {
		t.Fatalf("save = %d %s; want a redirect to the rules", res.StatusCode, loc)
	}
	got := b.saved[len(b.saved)-1]
	if r := got.Rule; r.ID != "rul_1" || r.Version != 3 || r.Threshold != 8 || r.Window.D() != 15*time.Minute || r.SuppressFor.D() != time.Hour ||
		r.Severity != "critical" || !r.Enabled || strings.Join(r.GroupBy, ",") != "actor,ip" || got.SetChannels {
		t.Errorf("saved %+v, channels set %v; want the form's values, channels untouched", *r, got.SetChannels)
	}
	res, _ = cl.PostForm(srv.URL+"/alerts/rules", form(func(f url.Values) {
		f.Del("id")
		f.Del("enabled")
		f.Set("channels", "slack https://hooks.slack.example/T1\nemail a@example.com")
		f.Set("channels_was", "")
	}))
	if readAll(t, res); res.StatusCode != 303 || !strings.Contains(res.Header.Get("Location"), "done=created") {
		t.Errorf("create = %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	got = b.saved[len(b.saved)-1]
	if r := got.Rule; r.ID != "" || r.Enabled || !got.SetChannels || len(r.Channels) != 2 || r.Channels[0].Type != "slack" ||
		r.Channels[0].URL != "https://hooks.slack.example/T1" || r.Channels[1].To[0] != "a@example.com" {
		t.Errorf("created %+v (channels set %v)", *r, got.SetChannels)
	}
	// Refusals: the form comes back as typed, the field marked.
	for _, c := range []struct {
		change func(url.Values)
		err    error
		status int
		says   string
		field  string
	}{
		{func(f url.Values) { f.Set("threshold", "five") }, nil, 400, "threshold must be a whole number", `id="r-threshold" name="threshold" inputmode="numeric" value="five" aria-invalid="true"`},
		{func(f url.Values) { f.Set("window", "ten minutes") }, nil, 400, "window must be a duration", `value="ten minutes" placeholder="10m" aria-invalid="true"`},
		{func(f url.Values) { f.Set("channels", "pager 555-1234") }, nil, 400, "channels, line 1: start with webhook, slack or email", `name="channels" class="mono" rows="3" spellcheck="false" aria-invalid="true"`},
		{func(f url.Values) { f.Set("condition", "event.action ==") }, auditkeep.FieldErrorf("condition", "condition: Syntax error: mismatched input at 1:15"), 400,
			"condition: Syntax error: mismatched input at 1:15", `aria-invalid="true" aria-describedby="form-error">event.action ==</textarea>`},
		{nil, auditkeep.Errorf(auditkeep.ECONFLICT, "the rule changed meanwhile: reload it"), 409, "the rule changed meanwhile", ""},
	} {
		b.saveErr = c.err
		res, _ := cl.PostForm(srv.URL+"/alerts/rules/rul_1", form(c.change))
		body := readAll(t, res)
		if res.StatusCode != c.status || !strings.Contains(body, c.says) || !strings.Contains(body, c.field) {
			t.Errorf("refused save = %d; want %d saying %q with %q\n%s", res.StatusCode, c.status, c.says, c.field, body)
		}
	}
	b.saveErr = nil
	// Backtest: nothing saved, the count and the first examples shown.
	n := len(b.saved)
	b.backtest = web.AlertBacktest{Alerts: 12, Examples: []*auditkeep.Alert{{RuleID: "rul_1", GroupKey: map[string]string{"actor": "anonymous"}, Count: 9,
		FirstEventAt: time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), LastEventAt: time.Date(2026, 11, 21, 3, 0, 40, 0, time.UTC)}}}
	res, _ = cl.PostForm(srv.URL+"/alerts/rules/test", form(nil))
	body = readAll(t, res)
	if res.StatusCode != 200 || len(b.saved) != n || !strings.Contains(body, "would have raised <strong>12</strong> alerts") ||
		!strings.Contains(body, "actor: anonymous") || !strings.Contains(body, "9 events") || !strings.Contains(body, `value="8"`) {
		t.Errorf("backtest = %d (saved %d rules); want the count and examples, the form as typed\n%s", res.StatusCode, len(b.saved)-n, body)
	}
	if got := b.tested[len(b.tested)-1]; got != "action:user.login status:failure 2026-11-20T00:00:00Z 2026-11-26T10:00:00Z" {
		t.Errorf("backtested %q", got)
	}
	res, _ = cl.PostForm(srv.URL+"/alerts/rules/test", form(func(f url.Values) { f.Set("from", "yesterday") }))
	if body := readAll(t, res); res.StatusCode != 400 || !strings.Contains(body, "from must be a date and time") {
		t.Errorf("backtest from yesterday = %d", res.StatusCode)
	}
	// Enable, disable, delete.
	res, _ = cl.PostForm(srv.URL+"/alerts/rules/rul_1/disable", url.Values{"csrf": {csrf}})
	if readAll(t, res); res.StatusCode != 303 || b.saved[len(b.saved)-1].Rule.Enabled || b.saved[len(b.saved)-1].SetChannels {
		t.Errorf("disable = %d; want the rule saved disabled, channels untouched", res.StatusCode)
	}
	res, _ = cl.PostForm(srv.URL+"/alerts/rules/rul_1/delete", url.Values{"csrf": {csrf}})
	if readAll(t, res); res.StatusCode != 303 || b.calls[len(b.calls)-1] != "delete rul_1" {
		t.Errorf("delete = %d, calls %v", res.StatusCode, b.calls)
	}
}

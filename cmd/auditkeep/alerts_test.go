package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// alertReceiver is a loopback webhook or Slack receiver; a webhook's
// receiver checks each request's Standard Webhooks signature.
type alertReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	bad    int
}

func newAlertReceiver(t *testing.T, secret string) *alertReceiver {
	t.Helper()
	var key []byte
	if secret != "" {
		key, _ = transport.WebhookKey(secret)
	}
	rc := &alertReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if key != nil && r.Header.Get("webhook-signature") != transport.WebhookSignature(key, r.Header.Get("webhook-id"), ts, body) {
			rc.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		rc.bodies = append(rc.bodies, m)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *alertReceiver) got() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.bodies...)
}

// alertsWith lists the tenant's alerts (GET /v1/alerts?query).
func alertsWith(t *testing.T, base, key, query string) []map[string]any {
	t.Helper()
	r := call(t, "GET", base+"/v1/alerts?"+query, key, nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/alerts?%s = %d %s", query, r.status, r.body)
	}
	var out struct {
		Alerts []map[string]any `json:"alerts"`
	}
	json.Unmarshal(r.body, &out)
	return out.Alerts
}

// auditRecords returns the actions of auditkeep's records in the log
// whose action starts with prefix.
func auditRecords(t *testing.T, base, key, prefix string) []map[string]any {
	t.Helper()
	r := call(t, "GET", base+"/v1/events?source=auditkeep&action="+prefix+"*&order=asc&limit=1000", key, nil)
	if r.status != 200 {
		t.Fatalf("list records: %d %s", r.status, r.body)
	}
	var out struct {
		Events []map[string]any `json:"events"`
	}
	json.Unmarshal(r.body, &out)
	return out.Events
}

func TestAlertsAPI(t *testing.T) { forEachStore(t, testAlertsAPI) }

// testAlertsAPI: a rule made over the API raises an alert within seconds
// of the event that crosses its threshold, delivered to a signed webhook,
// Slack and email over STARTTLS; bad rules are refused naming the field;
// acknowledging and resolving are recorded with who did it; a failing
// channel shows on the rule and in /metrics; a backtest counts alerts.
func testAlertsAPI(t *testing.T, cfg Config) {
	smtpSrv := receivertest.NewSMTP(t, true, "alerts", "s3cret")
	caFile := filepath.Join(t.TempDir(), "smtp-ca.pem")
	os.WriteFile(caFile, []byte(smtpSrv.CA), 0o600)
	cfg.Notify = NotifyConfig{SMTPAddr: smtpSrv.Addr, SMTPFrom: "auditkeep@example.com", SMTPUsername: "alerts", SMTPPassword: "s3cret",
		SMTPCA: caFile, PublicURL: "https://audit.example.com"}
	a := testServerAlerts(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	exportKey := createKey(t, base, testRootKey, "acme", "export")
	readKey := createKey(t, base, testRootKey, "acme", "read")
	secret := newWebhookSecret()
	hook, slack := newAlertReceiver(t, secret), newAlertReceiver(t, "")

	// The defaults are there on first listing.
	r := call(t, "GET", base+"/v1/alert-rules", key, nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/alert-rules = %d %s", r.status, r.body)
	}
	var list struct {
		Rules []map[string]any `json:"alert_rules"`
	}
	json.Unmarshal(r.body, &list)
	defaults := map[string]bool{}
	for _, rule := range list.Rules {
		defaults[fmt.Sprint(rule["default"])] = true
	}
	for _, d := range []string{"failed_logins", "mass_deletions", "privilege_escalation", "api_token_created"} {
		if !defaults[d] {
			t.Errorf("default rule %s missing from %s", d, r.body)
		}
	}

	valid := func() map[string]any {
		return map[string]any{"name": "Deploys by one actor", "match": "action:deploy.run", "group_by": []string{"actor"},
			"threshold": 2, "window": "10m", "suppress_for": "1h", "severity": "high",
			"channels": []any{
				map[string]any{"type": "webhook", "url": hook.URL, "secret": secret},
				map[string]any{"type": "slack", "url": slack.URL + "/services/T0/B0/x"},
				map[string]any{"type": "email", "to": []string{"secops@example.com"}},
			}}
	}
	for _, c := range []struct {
		change func(m map[string]any)
		field  string
		msg    string
	}{
		{func(m map[string]any) { delete(m, "name") }, "name", ""},
		{func(m map[string]any) { delete(m, "match") }, "match", ""},
		{func(m map[string]any) { m["match"] = "actr:x" }, "match", "actr"},
		{func(m map[string]any) { m["condition"] = `event.actor.id == ` }, "condition", "at 1:"},
		{func(m map[string]any) { m["condition"] = `evnt.actor.id == "x"` }, "condition", "evnt"},
		{func(m map[string]any) { m["severity"] = "urgent" }, "severity", ""},
		{func(m map[string]any) { m["group_by"] = []string{"actor", "colour"} }, "group_by[1]", ""},
		{func(m map[string]any) { m["threshold"] = 0 }, "threshold", ""},
		{func(m map[string]any) { m["window"] = "soon" }, "window", ""},
		{func(m map[string]any) { m["window"] = "0s" }, "window", ""},
		{func(m map[string]any) { m["channels"].([]any)[0].(map[string]any)["url"] = "ftp://x" }, "channels[0].url", ""},
		{func(m map[string]any) { delete(m["channels"].([]any)[0].(map[string]any), "secret") }, "channels[0].secret", ""},
		{func(m map[string]any) { m["channels"].([]any)[0].(map[string]any)["secret"] = "hunter2" }, "channels[0].secret", ""},
		{func(m map[string]any) { m["channels"].([]any)[1].(map[string]any)["secret"] = secret }, "channels[1].secret", ""},
		{func(m map[string]any) { m["channels"].([]any)[2].(map[string]any)["to"] = []string{"not an address"} }, "channels[2].to[0]", ""},
		{func(m map[string]any) { m["channels"].([]any)[2].(map[string]any)["type"] = "pager" }, "channels[2].type", ""},
		{func(m map[string]any) { m["colour"] = "red" }, "colour", ""},
	} {
		m := valid()
		c.change(m)
		r := call(t, "POST", base+"/v1/alert-rules", key, m)
		code, field := r.errorOf(t)
		if r.status != 400 || code != "invalid" || field != c.field || !strings.Contains(string(r.body), c.msg) {
			t.Errorf("POST /v1/alert-rules %v: %d %s; want 400 invalid naming %s (%q)", m, r.status, r.body, c.field, c.msg)
		}
	}
	if r := call(t, "POST", base+"/v1/alert-rules", exportKey, valid()); r.status != 403 {
		t.Errorf("POST /v1/alert-rules with an export key = %d; want 403", r.status)
	}
	if r := call(t, "GET", base+"/v1/alert-rules", key, nil); r.status != 200 || strings.Count(string(r.body), `"id":`) != 4 {
		t.Errorf("rules after refused creations: %s; want the 4 defaults only", r.body)
	}

	r = call(t, "POST", base+"/v1/alert-rules", key, valid())
	if r.status != 201 {
		t.Fatalf("POST /v1/alert-rules = %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), strings.TrimPrefix(secret, "whsec_")) || !strings.Contains(string(r.body), `"secret_set":true`) {
		t.Errorf("created rule %s: shows its secret, or not that it has one", r.body)
	}
	rule := r.json(t)
	ruleID := rule["id"].(string)
	if rule["enabled"] != true || rule["window"] != "10m" || rule["suppress_for"] != "1h" || rule["version"].(float64) != 1 {
		t.Errorf("created rule = %s", r.body)
	}

	// One deploy does not cross the threshold; two by the same actor do.
	ingestJSON(t, base, key, []any{event("d1", "deploy.run", "usr_1"), event("d2", "deploy.run", "usr_2")})
	ingestJSON(t, base, key, []any{event("d3", "deploy.run", "usr_1")})
	var alert map[string]any
	waitUntil(t, "the alert", func() bool {
		as := alertsWith(t, base, key, "rule="+ruleID)
		if len(as) > 0 {
			alert = as[0]
		}
		return len(as) > 0
	})
	id := alert["id"].(string)
	if alert["state"] != "open" || alert["count"].(float64) != 2 || alert["severity"] != "high" || alert["rule_name"] != "Deploys by one actor" ||
		fmt.Sprint(alert["group_key"]) != "map[actor:usr_1]" || fmt.Sprint(alert["event_ids"]) != "[d1 d3]" {
		t.Errorf("alert = %v", alert)
	}
	waitUntil(t, "the notifications", func() bool { return len(hook.got()) == 1 && len(slack.got()) == 1 && len(smtpSrv.Messages()) == 1 })
	if p := hook.got()[0]; p["type"] != "alert.open" || p["alert"].(map[string]any)["id"] != id ||
		!strings.HasPrefix(fmt.Sprint(p["link"]), "https://audit.example.com/?") {
		t.Errorf("webhook payload = %v", p)
	}
	if s := slack.got()[0]; !strings.Contains(fmt.Sprint(s["text"]), "[HIGH] Deploys by one actor: actor usr_1 (2 events)") || s["blocks"] == nil {
		t.Errorf("slack message = %v", s)
	}
	m := smtpSrv.Messages()[0]
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if !m.TLS || strings.Join(m.To, ",") != "secops@example.com" || subject != "[HIGH] Deploys by one actor: actor usr_1 (2 events)" {
		t.Errorf("email: tls %v, to %v, subject %q", m.TLS, m.To, subject)
	}
	// The channels are ok on the rule.
	waitUntil(t, "the channels ok", func() bool {
		r := call(t, "GET", base+"/v1/alert-rules/"+ruleID, key, nil)
		return strings.Count(string(r.body), `"state":"ok"`) == 3
	})

	// Reading: auditors (export) and admins, not read keys.
	if as := alertsWith(t, base, exportKey, "state=open"); len(as) != 1 {
		t.Errorf("open alerts with an export key = %d; want 1", len(as))
	}
	if r := call(t, "GET", base+"/v1/alerts", readKey, nil); r.status != 403 {
		t.Errorf("GET /v1/alerts with a read key = %d; want 403", r.status)
	}
	for _, q := range []string{"state=closed", "severity=urgent", "limit=0", "colour=red", "cursor=nope"} {
		if r := call(t, "GET", base+"/v1/alerts?"+q, key, nil); r.status != 400 {
			t.Errorf("GET /v1/alerts?%s = %d %s; want 400", q, r.status, r.body)
		}
	}
	if as := alertsWith(t, base, key, "state=resolved,acknowledged"); len(as) != 0 {
		t.Errorf("resolved or acknowledged alerts = %v; want none", as)
	}

	// Acknowledge, then resolve; each once.
	if r := call(t, "POST", base+"/v1/alerts/"+id+"/acknowledge", exportKey, nil); r.status != 403 {
		t.Errorf("acknowledge with an export key = %d; want 403", r.status)
	}
	r = call(t, "POST", base+"/v1/alerts/"+id+"/acknowledge", key, nil)
	if r.status != 200 || r.json(t)["state"] != "acknowledged" || r.json(t)["acknowledged_by"] == nil {
		t.Errorf("acknowledge = %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alerts/"+id+"/acknowledge", key, nil); r.status != 409 {
		t.Errorf("acknowledge again = %d %s; want 409", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alerts/"+id+"/resolve", key, nil); r.status != 200 || r.json(t)["state"] != "resolved" {
		t.Errorf("resolve = %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alerts/"+id+"/resolve", key, nil); r.status != 409 {
		t.Errorf("resolve again = %d %s; want 409", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alerts/alt_nope/resolve", key, nil); r.status != 404 {
		t.Errorf("resolve an unknown alert = %d; want 404", r.status)
	}

	// PATCH keeps the webhook's secret when the channel stays; a channel
	// to nowhere fails, visibly.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "http://" + l.Addr().String() + "/hook"
	l.Close()
	chans := valid()["channels"].([]any)
	delete(chans[0].(map[string]any), "secret")
	chans[1] = map[string]any{"type": "slack", "url": gone}
	r = call(t, "PATCH", base+"/v1/alert-rules/"+ruleID, key, map[string]any{"name": "Deploys", "channels": chans[:2], "suppress_for": "0s"})
	if r.status != 200 || !strings.Contains(string(r.body), `"secret_set":true`) || r.json(t)["version"].(float64) != 2 {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	ingestJSON(t, base, key, []any{event("d4", "deploy.run", "usr_3"), event("d5", "deploy.run", "usr_3")})
	waitUntil(t, "the webhook's second alert", func() bool { return len(hook.got()) == 2 })
	waitUntil(t, "the failing channel", func() bool {
		r := call(t, "GET", base+"/v1/alert-rules/"+ruleID, key, nil)
		var rule struct {
			Channels []struct {
				State     string `json:"state"`
				LastError string `json:"last_error"`
			} `json:"channels"`
		}
		json.Unmarshal(r.body, &rule)
		return len(rule.Channels) == 2 && rule.Channels[1].State == "failing" && rule.Channels[1].LastError != "" && rule.Channels[0].State == "ok"
	})
	metrics := string(call(t, "GET", base+"/metrics", "", nil).body)
	if !strings.Contains(metrics, `auditkeep_alert_channel_failing{channel="1",rule="`+ruleID+`",tenant="acme",type="slack"} 1`) {
		t.Errorf("/metrics lacks the failing channel:\n%s", grepLines(metrics, "auditkeep_alert_channel_failing"))
	}
	if hook.bad != 0 {
		t.Errorf("%d webhook requests had a bad signature", hook.bad)
	}

	// A backtest counts what a rule would have raised, and stores nothing.
	r = call(t, "POST", base+"/v1/alert-rules/test", key, map[string]any{"rule": map[string]any{"name": "t", "match": "action:deploy.run",
		"threshold": 1, "severity": "low"}, "from": time.Now().Add(-time.Hour).UTC(), "to": time.Now().Add(time.Hour).UTC()})
	if r.status != 200 || r.json(t)["alerts"].(float64) != 5 || len(r.json(t)["examples"].([]any)) != 5 {
		t.Errorf("backtest = %d %s; want 5 alerts", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alert-rules/test", key, map[string]any{"rule": map[string]any{"name": "t", "match": "actr:x", "severity": "low"}}); r.status != 400 || !strings.Contains(string(r.body), `"field":"rule.match"`) {
		t.Errorf("backtest of a bad rule = %d %s; want 400 naming rule.match", r.status, r.body)
	}
	if r := call(t, "POST", base+"/v1/alert-rules/test", key, map[string]any{"rule": map[string]any{"name": "t", "match": "x", "severity": "low"},
		"from": "2026-01-01T00:00:00Z", "to": "2026-06-01T00:00:00Z"}); r.status != 400 || !strings.Contains(string(r.body), `"field":"from"`) {
		t.Errorf("backtest of 5 months = %d %s; want 400 naming from", r.status, r.body)
	}

	// Every change is in the log, by who made it; the alerts' raising too.
	if r := call(t, "DELETE", base+"/v1/alert-rules/"+ruleID, key, nil); r.status != 204 {
		t.Errorf("DELETE = %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/v1/alerts/"+id, key, nil); r.status != 200 {
		t.Errorf("the alert of a deleted rule = %d; want it kept", r.status)
	}
	var actions []string
	for _, e := range auditRecords(t, base, key, "alert") {
		actions = append(actions, fmt.Sprint(e["action"]))
		if a := e["actor"].(map[string]any); e["action"] != "alert.open" && a["type"] != "api_token" {
			t.Errorf("record %v by %v; want the key", e["action"], a)
		}
	}
	for _, want := range []string{"alert_rule.create", "alert.open", "alert.acknowledge", "alert.resolve", "alert_rule.update", "alert_rule.delete"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("records %v lack %s", actions, want)
		}
	}
	for _, e := range auditRecords(t, base, key, "alert_rule") {
		if b, _ := json.Marshal(e); strings.Contains(string(b), strings.TrimPrefix(secret, "whsec_")) || strings.Contains(string(b), "/services/T0/B0/x") {
			t.Errorf("record %s holds a channel's secret or Slack URL", b)
		}
	}
}

// storeAlert stores an open alert of the tenant's rule as an evaluator
// would (for a server that evaluates no rules) and returns its id.
func storeAlert(t *testing.T, base, tenant, ruleID string) string {
	t.Helper()
	v, ok := testApps.Load(base)
	if !ok {
		t.Fatal("storeAlert: not a test server")
	}
	as := v.(*app).store.(auditkeep.AlertStore)
	ctx := context.Background()
	held, st, err := as.LeaseAlertEvaluator(ctx, tenant, "test-evaluator", time.Minute)
	if err != nil || !held {
		t.Fatalf("LeaseAlertEvaluator = %v, %v", held, err)
	}
	defer as.ReleaseAlertEvaluator(ctx, tenant, "test-evaluator")
	now := time.Now().UTC()
	id := fmt.Sprintf("alt_test%d", now.UnixNano())
	al := &auditkeep.Alert{ID: id, Tenant: tenant, RuleID: ruleID, RuleName: "stored", Severity: auditkeep.SeverityLow,
		GroupKey: map[string]string{}, Count: 1, FirstEventAt: now, LastEventAt: now, EventIDs: []string{"e"}, FirstSeq: 1, LastSeq: 1,
		State: auditkeep.AlertOpen, CreatedAt: now, UpdatedAt: now}
	if err := as.CommitAlertEvaluation(ctx, tenant, "test-evaluator", &auditkeep.AlertEvaluation{From: st, To: st, Raised: []*auditkeep.Alert{al}}); err != nil {
		t.Fatalf("CommitAlertEvaluation = %v", err)
	}
	return id
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The CLI lists, creates and backtests rules, and lists, acknowledges
// and resolves alerts.
func TestAlertsCLI(t *testing.T) {
	a := testServerAlerts(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	vars := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key}
	hook := newAlertReceiver(t, "")
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte(newWebhookSecret()+"\n"), 0o600)

	code, out, errOut := runCLI(t, vars, "alert-rule", "create", "Deploys", "--match", "action:deploy.run", "--group-by", "actor",
		"--threshold", "2", "--window", "10m", "--severity", "critical", "--webhook", hook.URL, "--secret-file", secretFile, "--email", "a@example.com,b@example.com")
	if code != exitOK {
		t.Fatalf("alert-rule create = %d\n%s%s", code, out, errOut)
	}
	ruleID := strings.TrimSpace(out)
	if !strings.HasPrefix(ruleID, "alr_") || !strings.Contains(errOut, "Created alert rule Deploys (critical, enabled)") {
		t.Errorf("alert-rule create said %q %q", out, errOut)
	}
	// No --suppress-for: a rule counting more than one event extends a
	// burst's alert for 30 minutes.
	if got := call(t, "GET", base+"/v1/alert-rules/"+ruleID, key, nil).json(t)["suppress_for"]; got != "30m" {
		t.Errorf("suppress_for of a rule created without one = %v; want 30m", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"alert-rule", "create", "x"}, "--match is required"},
		{[]string{"alert-rule", "create", "x", "--match", "a", "--group-by", "colour"}, `--group-by "colour"`},
		{[]string{"alert-rule", "create", "x", "--match", "a", "--severity", "urgent"}, `--severity "urgent"`},
		{[]string{"alert-rule", "create", "x", "--match", "a", "--webhook", "https://x.example"}, "--secret-file"},
		{[]string{"alerts", "list", "--state", "closed"}, `--state "closed"`},
		{[]string{"alerts", "ack"}, "give one alert ID"},
	} {
		if code, _, errOut := runCLI(t, vars, c.args...); code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v = %d %q; want exit 2 naming %q", c.args, code, errOut, c.want)
		}
	}
	if code, _, errOut := runCLI(t, vars, "alert-rule", "create", "x", "--match", "actr:x"); code != exitNegative || !strings.Contains(errOut, "match") {
		t.Errorf("alert-rule create with a bad match = %d %q; want exit 1 naming match", code, errOut)
	}

	code, out, _ = runCLI(t, vars, "alert-rule", "list")
	if code != exitOK || !strings.Contains(out, ruleID) || !strings.Contains(out, "2 in 10m by actor") || !strings.Contains(out, "Failed logins") {
		t.Errorf("alert-rule list = %d\n%s", code, out)
	}

	ingestJSON(t, base, key, []any{event("d1", "deploy.run", "usr_1"), event("d2", "deploy.run", "usr_1")})
	var alertID string
	waitUntil(t, "the alert", func() bool {
		code, out, _ := runCLI(t, vars, "alerts", "list", "--state", "open", "--severity", "critical", "--json")
		var as []struct {
			ID     string `json:"id"`
			RuleID string `json:"rule_id"`
		}
		json.Unmarshal([]byte(out), &as)
		if code == exitOK && len(as) == 1 && as[0].RuleID == ruleID {
			alertID = as[0].ID
		}
		return alertID != ""
	})
	code, out, _ = runCLI(t, vars, "alerts", "list")
	if code != exitOK || !strings.Contains(out, alertID) || !strings.Contains(out, "actor usr_1") || !strings.Contains(out, "open") {
		t.Errorf("alerts list = %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, vars, "alerts", "ack", alertID); code != exitOK || !strings.Contains(out, "acknowledged") {
		t.Errorf("alerts ack = %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, vars, "alerts", "ack", alertID); code != exitNegative || errOut == "" {
		t.Errorf("alerts ack again = %d %q; want exit 1 with the conflict", code, errOut)
	}
	if code, out, _ := runCLI(t, vars, "alerts", "resolve", alertID); code != exitOK || !strings.Contains(out, "resolved") {
		t.Errorf("alerts resolve = %d %q", code, out)
	}

	code, out, errOut = runCLI(t, vars, "alert-rule", "test", "--match", "action:deploy.run", "--threshold", "1",
		"--from", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if code != exitOK || !strings.HasPrefix(out, "2 alerts from ") || !strings.Contains(out, "d1") {
		t.Errorf("alert-rule test = %d %q %q", code, out, errOut)
	}
}

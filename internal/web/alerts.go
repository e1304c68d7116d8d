package web

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// AlertBacktest is what a backtest of a rule found: how many alerts it
// would have raised, and the first of them.
type AlertBacktest struct {
	Alerts   int
	Examples []*auditkeep.Alert
}

// AlertRuleChange is a rule to store: a new one when Rule.ID is "",
// otherwise a change of the rule at Rule.Version. Rule.Channels replace
// the rule's channels only when SetChannels is true (a webhook's signing
// secret, which the console never sees, then stays as it is).
type AlertRuleChange struct {
	Rule        *auditkeep.AlertRule
	SetChannels bool
}

// AlertBackend is what the Alerts pages need of the API server. Each call
// is the API's own endpoint for the console's credential: checked,
// done and recorded in the tenant's log exactly as over the API. Each
// returns EFORBIDDEN for a credential whose role may not do it, ENOTFOUND
// for an alert or rule the tenant does not have.
type AlertBackend interface {
	// Alerts returns one page of the tenant's alerts, newest first, as GET
	// /v1/alerts does with q (state, rule, severity, limit, cursor), and
	// the next page's cursor ("" on the last). Returns EINVALID naming a
	// bad parameter.
	Alerts(ctx context.Context, id *Identity, q url.Values) ([]*auditkeep.Alert, string, error)
	// AlertRules returns the tenant's rules, oldest first, with their
	// channels' status, as GET /v1/alert-rules does (for admins only).
	AlertRules(ctx context.Context, id *Identity) ([]*auditkeep.AlertRule, error)
	// SetAlertState acknowledges (action "acknowledge") or resolves
	// ("resolve") the alert, as POST /v1/alerts/{id}/{action} does.
	// Returns ECONFLICT when the alert's state does not allow it.
	SetAlertState(r *http.Request, id *Identity, alertID, action string) error
	// SaveAlertRule creates or changes a rule as POST /v1/alert-rules and
	// PATCH /v1/alert-rules/{id} do, and returns it as stored. Returns
	// EINVALID naming the field (a match's or a condition's error with its
	// position), ECONFLICT when the rule changed meanwhile.
	SaveAlertRule(r *http.Request, id *Identity, ch AlertRuleChange) (*auditkeep.AlertRule, error)
	// DeleteAlertRule deletes the rule as DELETE /v1/alert-rules/{id} does.
	DeleteAlertRule(r *http.Request, id *Identity, ruleID string) error
	// TestAlertRule backtests rule over the events that occurred in
	// [from, to], as POST /v1/alert-rules/test does. Returns EINVALID
	// naming the field.
	TestAlertRule(r *http.Request, id *Identity, rule *auditkeep.AlertRule, from, to time.Time) (AlertBacktest, error)
}

// alertsMayRead reports whether the identity may open the Alerts pages:
// the tenant's auditors and admins (export or admin scope), not a viewer link.
func alertsMayRead(id *Identity) bool {
	return !id.Viewer && (id.HasScope(auditkeep.ScopeAdmin) || id.HasScope(auditkeep.ScopeExport))
}

// alertReader returns who asks for an Alerts page, or answers the request
// itself.
func (c *Console) alertReader(w http.ResponseWriter, r *http.Request, admin bool) (*viewer, bool) {
	if c.Alerts == nil {
		http.NotFound(w, r)
		return nil, false
	}
	v, ok := c.identify(w, r)
	if !ok {
		return nil, false
	}
	switch {
	case !alertsMayRead(v.id):
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the Alerts pages are for the tenant's auditors and admins"))
		return nil, false
	case admin && !v.id.HasScope(auditkeep.ScopeAdmin):
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "changing alerts and rules needs the admin role or a key with admin scope"))
		return nil, false
	}
	return v, true
}

// alertForm checks a form post: its size, the session's CSRF token and
// that it comes from the console's own pages.
func (c *Console) alertForm(w http.ResponseWriter, r *http.Request, v *viewer) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, v, auditkeep.FieldErrorf("body", "the form could not be read"))
		return false
	}
	if v.sess == nil || crossSite(r) || !tokensEqual(v.sess.CSRF, r.PostForm.Get("csrf")) {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "the form expired; reload the page and try again"))
		return false
	}
	return true
}

type alertsPage struct {
	base
	CanChange          bool
	Sections           []alertSection
	Rules              []*auditkeep.AlertRule // for the rule filter
	Severities, States []string
	Severity           string // the filters in force
	RuleID             string
	State              string
	Notice             string
	Error              string
}

type alertSection struct {
	ID, Title string
	Alerts    []alertView
	MoreURL   string // the next page, or all of this state
	MoreText  string
	Empty     string
}

type alertView struct {
	*auditkeep.Alert
	Group     []string // "actor: usr_42"
	EventsURL string   // the matching events as a filtered list
	Ack       bool     // may be acknowledged
	Resolve   bool
}

// alertNotices are what the page says after each action.
var alertNotices = map[string]string{
	"acknowledge": "Alert acknowledged: it stays active, and more matches extend it.",
	"resolve":     "Alert resolved: the next match of its group raises a new alert.",
	"saved":       "Rule saved.",
	"created":     "Rule created.",
	"deleted":     "Rule deleted; its alerts stay.",
	"enabled":     "Rule enabled.",
	"disabled":    "Rule disabled: it raises no alert until enabled.",
}

func (c *Console) handleAlerts(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, false)
	if !ok {
		return
	}
	c.renderAlerts(w, r, v, http.StatusOK, "")
}

func (c *Console) renderAlerts(w http.ResponseWriter, r *http.Request, v *viewer, status int, failure string) {
	q := r.URL.Query()
	p := alertsPage{base: c.base(v, "Alerts"), CanChange: v.id.HasScope(auditkeep.ScopeAdmin), Error: failure,
		Severities: auditkeep.Severities, States: auditkeep.AlertStates,
		Severity: q.Get("severity"), RuleID: q.Get("rule"), State: q.Get("state")}
	p.Notice = alertNotices[q.Get("done")]
	// Rules are for admins: an auditor's page goes without the rule filter,
	// and its events links without the rules' matches.
	rules, err := c.Alerts.AlertRules(r.Context(), v.id)
	if err != nil && auditkeep.ErrorCode(err) != auditkeep.EFORBIDDEN {
		c.fail(w, r, v, err)
		return
	}
	p.Rules = rules
	byID := map[string]*auditkeep.AlertRule{}
	for _, rule := range rules {
		byID[rule.ID] = rule
	}
	filter := url.Values{}
	for _, k := range []string{"severity", "rule"} {
		if s := q.Get(k); s != "" {
			filter.Set(k, s)
		}
	}
	// Open alerts first, then acknowledged ones, then the latest resolved;
	// with a state chosen, that state alone, page by page.
	type part struct {
		state, title, empty string
		limit               int
	}
	parts := []part{
		{auditkeep.AlertOpen, "Open", "No open alert.", 100},
		{auditkeep.AlertAcknowledged, "Acknowledged", "No acknowledged alert.", 100},
		{auditkeep.AlertResolved, "Recently resolved", "No resolved alert.", 10},
	}
	if p.State != "" {
		i := slices.IndexFunc(parts, func(x part) bool { return x.state == p.State })
		if i < 0 {
			c.fail(w, r, v, auditkeep.FieldErrorf("state", "state must be one of %s", strings.Join(auditkeep.AlertStates, ", ")))
			return
		}
		parts = []part{parts[i]}
		parts[0].limit = 50
	}
	for _, pt := range parts {
		aq := url.Values{}
		for k, vals := range filter {
			aq[k] = vals
		}
		aq.Set("state", pt.state)
		aq.Set("limit", strconv.Itoa(pt.limit))
		if p.State != "" && q.Get("cursor") != "" {
			aq.Set("cursor", q.Get("cursor"))
		}
		alerts, next, err := c.Alerts.Alerts(r.Context(), v.id, aq)
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		s := alertSection{ID: "alerts-" + pt.state, Title: pt.title, Empty: pt.empty}
		for _, a := range alerts {
			s.Alerts = append(s.Alerts, newAlertView(a, byID[a.RuleID], p.CanChange))
		}
		if next != "" {
			more := url.Values{}
			for k, vals := range filter {
				more[k] = vals
			}
			more.Set("state", pt.state)
			if p.State != "" {
				more.Set("cursor", next)
			}
			s.MoreURL, s.MoreText = "/alerts?"+more.Encode(), "All "+pt.state+" alerts"
			if p.State != "" {
				s.MoreText = "Next page"
			}
		}
		p.Sections = append(p.Sections, s)
	}
	c.render(w, r, status, "alerts", p, false)
}

func newAlertView(a *auditkeep.Alert, rule *auditkeep.AlertRule, admin bool) alertView {
	v := alertView{Alert: a, EventsURL: alertEventsURL(a, rule)}
	for _, k := range auditkeep.GroupKeys {
		if val, ok := a.GroupKey[k]; ok {
			v.Group = append(v.Group, k+": "+val)
		}
	}
	v.Ack = admin && a.State == auditkeep.AlertOpen
	v.Resolve = admin && a.State != auditkeep.AlertResolved
	return v
}

// alertEventsURL is the events list of an alert: its rule's match, its
// group's values and its span of time, as a q the list takes. (The list
// does not apply the rule's CEL condition, if any.)
func alertEventsURL(a *auditkeep.Alert, rule *auditkeep.AlertRule) string {
	var terms []string
	if rule != nil {
		terms = append(terms, strings.TrimSpace(rule.Match))
	}
	for _, k := range auditkeep.GroupKeys {
		val, ok := a.GroupKey[k]
		if !ok || val == "" {
			continue
		}
		switch k {
		case auditkeep.GroupTarget: // "type:id"
			if typ, id, ok := strings.Cut(val, ":"); ok {
				terms = append(terms, "target_type:"+quoteTerm(typ), "target_id:"+quoteTerm(id))
			}
		default: // actor, ip, scope, team: the q key of the same name
			terms = append(terms, k+":"+quoteTerm(val))
		}
	}
	if !a.FirstEventAt.IsZero() && !a.LastEventAt.IsZero() {
		terms = append(terms, "created:"+a.FirstEventAt.UTC().Format(time.RFC3339Nano)+".."+a.LastEventAt.UTC().Format(time.RFC3339Nano))
	}
	return "/?" + url.Values{"q": {strings.Join(terms, " ")}}.Encode()
}

// quoteTerm quotes a q value unless it is a plain word.
func quoteTerm(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t,\"\\()") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// handleAlertAction runs POST /alerts/{id}/{action}: acknowledge or resolve.
func (c *Console) handleAlertAction(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, true)
	if !ok || !c.alertForm(w, r, v) {
		return
	}
	action := r.PathValue("action")
	if action != "acknowledge" && action != "resolve" {
		http.NotFound(w, r)
		return
	}
	if err := c.Alerts.SetAlertState(r, v.id, r.PathValue("id"), action); err != nil {
		if code := auditkeep.ErrorCode(err); code != auditkeep.ECONFLICT && code != auditkeep.EINVALID {
			c.fail(w, r, v, err)
			return
		}
		c.renderAlerts(w, r, v, c.b.Status(err), auditkeep.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/alerts?done="+action+"#alert-"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

// The rules pages.

type rulesPage struct {
	base
	CanChange bool
	Rules     []ruleView
	Notice    string
	Error     string
}

type ruleView struct {
	*auditkeep.AlertRule
	Window, SuppressFor string
	Channels            []channelView
}

type channelView struct {
	Text    string // "webhook https://…", "email a@example.com, b@example.com"
	Failing bool
	auditkeep.AlertChannel
}

func newRuleView(r *auditkeep.AlertRule) ruleView {
	v := ruleView{AlertRule: r, Window: r.Window.String(), SuppressFor: r.SuppressFor.String()}
	for _, ch := range r.Channels {
		v.Channels = append(v.Channels, channelView{Text: channelText(ch), Failing: ch.State == auditkeep.ChannelFailing, AlertChannel: ch})
	}
	return v
}

func channelText(ch auditkeep.AlertChannel) string {
	if ch.Type == auditkeep.ChannelEmail {
		return ch.Type + " " + strings.Join(ch.To, ", ")
	}
	return ch.Type + " " + ch.URL
}

func (c *Console) handleAlertRules(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, true)
	if !ok {
		return
	}
	c.renderRules(w, r, v, http.StatusOK, alertNotices[r.URL.Query().Get("done")], "")
}

func (c *Console) renderRules(w http.ResponseWriter, r *http.Request, v *viewer, status int, notice, failure string) {
	rules, err := c.Alerts.AlertRules(r.Context(), v.id)
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	p := rulesPage{base: c.base(v, "Alert rules"), CanChange: v.id.HasScope(auditkeep.ScopeAdmin), Notice: notice, Error: failure}
	for _, rule := range rules {
		p.Rules = append(p.Rules, newRuleView(rule))
	}
	c.render(w, r, status, "alert_rules", p, false)
}

// ruleForm is the rule editor's page: the form's values as typed, and the
// backtest's result.
type ruleForm struct {
	base
	New         bool
	ID          string
	Version     int64
	Default     string
	Name        string
	Description string
	Match       string
	Condition   string
	GroupBy     map[string]bool
	GroupKeys   []string
	Threshold   string
	Window      string
	SuppressFor string
	Severity    string
	Severities  []string
	Enabled     bool
	Channels    string // one a line
	ChannelsWas string // as the page showed them, to tell a change
	Status      []channelView
	From, To    string // the backtest's span, datetime-local in UTC
	Error       string
	ErrorField  string // the form field the error names
	Tested      bool
	Span        string // the backtest's span, as people read it
	Backtest    AlertBacktest
	Examples    []alertView
}

// Invalid reports whether the page's error is about the field.
func (f ruleForm) Invalid(field string) bool { return f.ErrorField == field }

const formTime = "2006-01-02T15:04"

func (c *Console) newRuleForm(v *viewer, r *auditkeep.AlertRule) ruleForm {
	now := c.Now().UTC()
	f := ruleForm{base: c.base(v, "New alert rule"), New: r.ID == "", ID: r.ID, Version: r.Version, Default: r.Default,
		Name: r.Name, Description: r.Description, Match: r.Match, Condition: r.Condition, GroupBy: map[string]bool{},
		GroupKeys: auditkeep.GroupKeys, Threshold: strconv.Itoa(r.Threshold), Window: r.Window.String(),
		SuppressFor: r.SuppressFor.String(), Severity: r.Severity, Severities: auditkeep.Severities, Enabled: r.Enabled,
		From: now.Add(-7 * 24 * time.Hour).Format(formTime), To: now.Format(formTime)}
	if r.ID != "" {
		f.Title = "Alert rule " + r.Name
	}
	for _, g := range r.GroupBy {
		f.GroupBy[g] = true
	}
	var lines []string
	for _, ch := range r.Channels {
		lines = append(lines, channelText(ch))
		f.Status = append(f.Status, channelView{Text: channelText(ch), Failing: ch.State == auditkeep.ChannelFailing, AlertChannel: ch})
	}
	f.Channels = strings.Join(lines, "\n")
	f.ChannelsWas = f.Channels
	return f
}

// findRule returns the tenant's rule with the ID.
func (c *Console) findRule(r *http.Request, v *viewer, id string) (*auditkeep.AlertRule, error) {
	rules, err := c.Alerts.AlertRules(r.Context(), v.id)
	if err != nil {
		return nil, err
	}
	for _, rule := range rules {
		if rule.ID == id {
			return rule, nil
		}
	}
	return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "no alert rule %s", id)
}

// handleRuleEditor shows GET /alerts/rules/new and /alerts/rules/{id}.
func (c *Console) handleRuleEditor(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, true)
	if !ok {
		return
	}
	rule := &auditkeep.AlertRule{Threshold: 1, Window: auditkeep.Duration(10 * time.Minute), SuppressFor: auditkeep.Duration(30 * time.Minute),
		Severity: auditkeep.SeverityMedium, Enabled: true, GroupBy: []string{auditkeep.GroupActor}}
	if id := r.PathValue("id"); id != "" {
		var err error
		if rule, err = c.findRule(r, v, id); err != nil {
			c.fail(w, r, v, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "alert_rule", c.newRuleForm(v, rule), false)
}

// handleRuleSave runs POST /alerts/rules (create), /alerts/rules/{id}
// (save), and /alerts/rules/test (the editor's Backtest button, for a new
// or an existing rule): it answers with the editor, the values as typed
// and what went wrong or what the backtest found, or redirects.
func (c *Console) handleRuleSave(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, true)
	if !ok || !c.alertForm(w, r, v) {
		return
	}
	f, rule, err := c.readRuleForm(v, r.PostForm)
	testing := r.URL.Path == "/alerts/rules/test"
	if id := cmp.Or(r.PathValue("id"), r.PostForm.Get("id")); id != "" {
		rule.ID, f.ID, f.New = id, id, false
	}
	if err == nil && testing {
		var from, to time.Time
		if from, to, err = backtestSpan(r.PostForm); err == nil {
			f.Backtest, err = c.Alerts.TestAlertRule(r, v.id, rule, from, to)
			f.Tested = err == nil
			f.Span = from.Format("2006-01-02 15:04") + " to " + to.Format("2006-01-02 15:04") + " UTC"
			for _, a := range f.Backtest.Examples {
				f.Examples = append(f.Examples, newAlertView(a, rule, false))
			}
		}
	}
	if err == nil && !testing {
		var saved *auditkeep.AlertRule
		saved, err = c.Alerts.SaveAlertRule(r, v.id, AlertRuleChange{Rule: rule, SetChannels: f.New || f.Channels != f.ChannelsWas})
		if err == nil {
			done := "saved"
			if f.New {
				done = "created"
			}
			http.Redirect(w, r, "/alerts/rules?done="+done+"#rule-"+url.PathEscape(saved.ID), http.StatusSeeOther)
			return
		}
	}
	status := http.StatusOK
	if err != nil {
		if code := auditkeep.ErrorCode(err); code != auditkeep.EINVALID && code != auditkeep.ECONFLICT {
			c.fail(w, r, v, err)
			return
		}
		status = c.b.Status(err)
		f.Error = auditkeep.ErrorMessage(err)
		var ae *auditkeep.Error
		if errors.As(err, &ae) {
			f.ErrorField = formField(ae.Field)
		}
	}
	if !f.New {
		f.Title = "Alert rule " + f.Name
		if old, err := c.findRule(r, v, f.ID); err == nil {
			f.Status = newRuleView(old).Channels
		}
	}
	c.render(w, r, status, "alert_rule", f, false)
}

// formField names the editor's field for an error's field: "channels[1].url"
// is the channels box, "rule.match" the match.
func formField(field string) string {
	field = strings.TrimPrefix(field, "rule.")
	if i := strings.IndexAny(field, "[."); i >= 0 {
		field = field[:i]
	}
	return field
}

// readRuleForm reads the editor's form into the page (as typed) and a rule.
func (c *Console) readRuleForm(v *viewer, f url.Values) (ruleForm, *auditkeep.AlertRule, error) {
	p := ruleForm{base: c.base(v, "New alert rule"), New: true, GroupBy: map[string]bool{}, GroupKeys: auditkeep.GroupKeys,
		Severities: auditkeep.Severities, Name: f.Get("name"), Description: f.Get("description"), Match: f.Get("match"),
		Condition: f.Get("condition"), Threshold: strings.TrimSpace(f.Get("threshold")), Window: strings.TrimSpace(f.Get("window")),
		SuppressFor: strings.TrimSpace(f.Get("suppress_for")), Severity: f.Get("severity"), Enabled: f.Get("enabled") != "",
		Channels: strings.TrimSpace(strings.ReplaceAll(f.Get("channels"), "\r\n", "\n")), ChannelsWas: f.Get("channels_was"),
		From: f.Get("from"), To: f.Get("to"), Default: f.Get("default")}
	p.Version, _ = strconv.ParseInt(f.Get("version"), 10, 64)
	rule := &auditkeep.AlertRule{Name: p.Name, Description: p.Description, Match: p.Match, Condition: p.Condition,
		Severity: p.Severity, Enabled: p.Enabled, Version: p.Version, GroupBy: []string{}}
	for _, g := range f["group_by"] {
		p.GroupBy[g] = true
		rule.GroupBy = append(rule.GroupBy, g)
	}
	n, err := strconv.Atoi(p.Threshold)
	if err != nil {
		return p, rule, auditkeep.FieldErrorf("threshold", "threshold must be a whole number of events, such as 5")
	}
	rule.Threshold = n
	for _, d := range []struct {
		name, text string
		to         *auditkeep.Duration
	}{{"window", p.Window, &rule.Window}, {"suppress_for", p.SuppressFor, &rule.SuppressFor}} {
		if d.text == "" {
			continue
		}
		x, err := time.ParseDuration(d.text)
		if err != nil {
			return p, rule, auditkeep.FieldErrorf(d.name, "%s must be a duration such as 10m, 1h or 90s", d.name)
		}
		*d.to = auditkeep.Duration(x)
	}
	rule.Channels, err = parseChannels(p.Channels)
	return p, rule, err
}

// parseChannels reads the channels box: one a line, "webhook URL",
// "slack URL" or "email ADDRESS, ADDRESS".
func parseChannels(text string) ([]auditkeep.AlertChannel, error) {
	chans := []auditkeep.AlertChannel{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		ch := auditkeep.AlertChannel{Type: typ}
		switch typ {
		case auditkeep.ChannelWebhook, auditkeep.ChannelSlack:
			ch.URL = rest
		case auditkeep.ChannelEmail:
			for _, a := range strings.Split(rest, ",") {
				if a = strings.TrimSpace(a); a != "" {
					ch.To = append(ch.To, a)
				}
			}
		default:
			return nil, auditkeep.FieldErrorf("channels", "channels, line %d: start with webhook, slack or email, then the URL or the addresses", i+1)
		}
		chans = append(chans, ch)
	}
	return chans, nil
}

// backtestSpan reads the backtest's from and to (UTC).
func backtestSpan(f url.Values) (from, to time.Time, err error) {
	for _, x := range []struct {
		name string
		to   *time.Time
	}{{"from", &from}, {"to", &to}} {
		s := strings.TrimSpace(f.Get(x.name))
		t, perr := time.Parse(formTime, s)
		if perr != nil {
			if t, perr = time.Parse(time.RFC3339, s); perr != nil {
				return from, to, auditkeep.FieldErrorf(x.name, "%s must be a date and time (UTC)", x.name)
			}
		}
		*x.to = t.UTC()
	}
	if to.Before(from) {
		return from, to, auditkeep.FieldErrorf("to", "the backtest's end is before its start")
	}
	return from, to, nil
}

// handleRuleAction runs POST /alerts/rules/{id}/{action}: enable, disable
// or delete.
func (c *Console) handleRuleAction(w http.ResponseWriter, r *http.Request) {
	v, ok := c.alertReader(w, r, true)
	if !ok || !c.alertForm(w, r, v) {
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var err error
	done := ""
	switch action {
	case "enable", "disable":
		var rule *auditkeep.AlertRule
		if rule, err = c.findRule(r, v, id); err == nil {
			rule.Enabled = action == "enable"
			_, err = c.Alerts.SaveAlertRule(r, v.id, AlertRuleChange{Rule: rule})
		}
		done = action + "d"
	case "delete":
		err, done = c.Alerts.DeleteAlertRule(r, v.id, id), "deleted"
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		if code := auditkeep.ErrorCode(err); code != auditkeep.ECONFLICT && code != auditkeep.EINVALID {
			c.fail(w, r, v, err)
			return
		}
		c.renderRules(w, r, v, c.b.Status(err), "", auditkeep.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/alerts/rules?done="+done+"#rule-"+url.PathEscape(id), http.StatusSeeOther)
}

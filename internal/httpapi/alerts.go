package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
	"github.com/auditkeep/auditkeep/internal/alert/notify"
	"github.com/auditkeep/auditkeep/internal/stream/transport"
)

// AlertEngine is what the alert endpoints need of the alerts' evaluation
// beyond the store.
type AlertEngine interface {
	// Check checks a rule whole: its shape (AlertRule.Validate), its match
	// parsed as q and its condition compiled as CEL. Returns EINVALID
	// naming the field, with the position of a match or condition error
	// ("condition: … at 1:14").
	Check(r *auditkeep.AlertRule) error
	// Backtest returns the alerts r would have raised over the tenant's
	// events that occurred in [from, to], oldest first; it stores nothing.
	Backtest(ctx context.Context, tenant string, r *auditkeep.AlertRule, from, to time.Time) ([]*auditkeep.Alert, error)
	// EnsureDefaults gives the tenant the default rules it never had.
	EnsureDefaults(ctx context.Context, tenant string) error
	// RulesChanged tells the evaluator that the tenant's rules changed.
	RulesChanged(tenant string)
}

// ChannelSealer seals a webhook channel's signing secret for the rule.
type ChannelSealer interface {
	Seal(tenant, ruleID, secret string) ([]byte, error)
}

// Alerts is what the alert endpoints serve from.
type Alerts struct {
	Store  auditkeep.AlertStore
	Engine AlertEngine
	Sealer ChannelSealer
}

var _ AlertEngine = (*alert.Evaluator)(nil)

// Limits of the alert endpoints.
const (
	maxAlertRules       = 200                 // rules a tenant may have
	maxBacktestSpan     = 31 * 24 * time.Hour // longest span a backtest reads
	backtestExamples    = 10                  // alerts a backtest shows
	defaultBacktestSpan = 7 * 24 * time.Hour  // a backtest without from reads this far back
)

// alerts returns the alert endpoints' back end, or ENOTFOUND when the
// server runs without one.
func (s *Server) alerts() (*Alerts, error) {
	if s.alertsCfg == nil {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "alerts are not enabled on this server")
	}
	return s.alertsCfg, nil
}

// alertRuleView is a rule as the API shows it: each channel with
// secret_set, never its secret.
func alertRuleView(r *auditkeep.AlertRule) *auditkeep.AlertRule {
	v := *r
	v.Channels = make([]auditkeep.AlertChannel, len(r.Channels))
	for i, ch := range r.Channels {
		ch.SecretSet = len(ch.Secret) > 0
		v.Channels[i] = ch
	}
	if v.GroupBy == nil {
		v.GroupBy = []string{}
	}
	return &v
}

// alertRuleBody is what POST and PATCH /v1/alert-rules take; PATCH
// changes only the members given.
type alertRuleBody struct {
	Name        *string             `json:"name"`
	Description *string             `json:"description"`
	Match       *string             `json:"match"`
	Condition   *string             `json:"condition"`
	GroupBy     *[]string           `json:"group_by"`
	Threshold   *int                `json:"threshold"`
	Window      json.RawMessage     `json:"window"`
	SuppressFor json.RawMessage     `json:"suppress_for"`
	Severity    *string             `json:"severity"`
	Channels    *[]alertChannelBody `json:"channels"`
	Enabled     *bool               `json:"enabled"`
}

// alertChannelBody is one channel as the API takes it. A webhook's
// secret, once set, is kept when the channel at the same place keeps its
// type and URL and gives none.
type alertChannelBody struct {
	Type   string   `json:"type"`
	URL    string   `json:"url,omitempty"`
	To     []string `json:"to,omitempty"`
	Secret *string  `json:"secret,omitempty"`
}

// duration reads a duration member: "10m" or a number of seconds.
// defaultSuppressFor is a new rule's suppress_for when it counts more than
// one event and says none.
const defaultSuppressFor = auditkeep.Duration(30 * time.Minute)

func duration(raw json.RawMessage, field string) (auditkeep.Duration, error) {
	var d auditkeep.Duration
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, auditkeep.FieldErrorf(field, "%s: %v", field, err)
	}
	return d, nil
}

// apply sets r's members from the body (r.ID and r.Tenant set; old is the
// stored rule for PATCH, nil for a new one), seals new secrets, and checks
// the whole rule. Returns EINVALID naming the field.
func (b *alertRuleBody) apply(a *Alerts, r, old *auditkeep.AlertRule) error {
	create := old == nil
	set := func(dst *string, src *string, field string, required bool) error {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		} else if create && required {
			return auditkeep.FieldErrorf(field, "%s is required", field)
		}
		return nil
	}
	if err := set(&r.Name, b.Name, "name", true); err != nil {
		return err
	}
	if err := set(&r.Match, b.Match, "match", true); err != nil {
		return auditkeep.FieldErrorf("match", `match is required: a query such as "action:user.login status:failure"`)
	}
	if err := set(&r.Severity, b.Severity, "severity", true); err != nil {
		return auditkeep.FieldErrorf("severity", "severity is required: low, medium, high or critical")
	}
	set(&r.Description, b.Description, "description", false)
	set(&r.Condition, b.Condition, "condition", false)
	if b.GroupBy != nil {
		r.GroupBy = *b.GroupBy
	}
	if r.GroupBy == nil {
		r.GroupBy = []string{}
	}
	if b.Threshold != nil {
		r.Threshold = *b.Threshold
	} else if create {
		r.Threshold = 1
	}
	var err error
	if b.Window != nil {
		if r.Window, err = duration(b.Window, "window"); err != nil {
			return err
		}
	}
	if b.SuppressFor != nil {
		if r.SuppressFor, err = duration(b.SuppressFor, "suppress_for"); err != nil {
			return err
		}
	} else if create && r.Threshold > 1 {
		// A burst goes on past its threshold: by default its further
		// matches extend its alert, as the default rules' do.
		r.SuppressFor = defaultSuppressFor
	}
	if b.Enabled != nil {
		r.Enabled = *b.Enabled
	} else if create {
		r.Enabled = true
	}
	if b.Channels != nil {
		if r.Channels, err = b.channels(a, r, old); err != nil {
			return err
		}
	}
	if r.Channels == nil {
		r.Channels = []auditkeep.AlertChannel{}
	}
	if err := r.Validate(); err != nil {
		return err
	}
	return a.Engine.Check(r)
}

// channels returns the body's channels, with their secrets sealed (a new
// one) or kept (from old's channel at the same place, same type and URL).
func (b *alertRuleBody) channels(a *Alerts, r, old *auditkeep.AlertRule) ([]auditkeep.AlertChannel, error) {
	out := make([]auditkeep.AlertChannel, 0, len(*b.Channels))
	for i, cb := range *b.Channels {
		field := fmt.Sprintf("channels[%d].secret", i)
		ch := auditkeep.AlertChannel{Type: cb.Type, URL: cb.URL, To: cb.To}
		switch {
		case cb.Type != auditkeep.ChannelWebhook && cb.Secret != nil:
			return nil, auditkeep.FieldErrorf(field, "%s applies to webhook channels only (a Slack URL is its own secret)", field)
		case cb.Type != auditkeep.ChannelWebhook:
		case cb.Secret != nil:
			if _, err := transport.WebhookKey(*cb.Secret); err != nil {
				return nil, auditkeep.FieldErrorf(field, "%s", strings.Replace(auditkeep.ErrorMessage(err), "secret", field, 1))
			}
			sealed, err := a.Sealer.Seal(r.Tenant, r.ID, *cb.Secret)
			if err != nil {
				return nil, err
			}
			ch.Secret = sealed
		case old != nil && i < len(old.Channels) && old.Channels[i].Type == cb.Type && old.Channels[i].URL == cb.URL && len(old.Channels[i].Secret) > 0:
			ch.Secret = old.Channels[i].Secret
		default:
			return nil, auditkeep.FieldErrorf(field, `%s is required for a webhook channel: "whsec_" and the base64 of 24 to 64 random bytes, as Standard Webhooks give it`, field)
		}
		out = append(out, ch)
	}
	return out, nil
}

func alertRuleTarget(r *auditkeep.AlertRule) *auditkeep.Target {
	return &auditkeep.Target{Type: "alert_rule", ID: r.ID, Name: r.Name}
}

// alertRuleMetadata is what a rule's records say of it: its definition,
// and its channels' types and recipients, never their URLs (a Slack URL is
// a credential) nor secrets.
func alertRuleMetadata(r *auditkeep.AlertRule, changed []string) map[string]any {
	channels := make([]map[string]any, len(r.Channels))
	for i, ch := range r.Channels {
		channels[i] = map[string]any{"type": ch.Type}
		if len(ch.To) > 0 {
			channels[i]["to"] = ch.To
		}
	}
	m := map[string]any{"match": r.Match, "condition": r.Condition, "group_by": r.GroupBy, "threshold": r.Threshold,
		"window": r.Window.String(), "suppress_for": r.SuppressFor.String(), "severity": r.Severity,
		"enabled": r.Enabled, "channels": channels}
	if r.Default != "" {
		m["default"] = r.Default
	}
	if changed != nil {
		m["changed"] = changed
	}
	return m
}

// handleCreateAlertRule serves POST /v1/alert-rules (admin scope) → 201
// and the rule. Returns EINVALID naming the field; ECONFLICT past
// maxAlertRules.
func (s *Server) handleCreateAlertRule(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	var b alertRuleBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	now := s.Now().UTC()
	rule := &auditkeep.AlertRule{ID: newID("alr_"), Tenant: tenant, CreatedAt: now, UpdatedAt: now}
	if err := b.apply(a, rule, nil); err != nil {
		return err
	}
	list, err := a.Store.ListAlertRules(r.Context(), tenant)
	if err != nil {
		return err
	}
	if len(list) >= maxAlertRules {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "a tenant may have at most %d alert rules; delete one first", maxAlertRules)
	}
	if err := a.Store.CreateAlertRule(r.Context(), rule); err != nil {
		return err
	}
	a.Engine.RulesChanged(tenant)
	s.recordLogged(r, tenant, Audit{Action: "alert_rule.create", Type: auditkeep.TypeCreate, Target: alertRuleTarget(rule),
		Description: "Created alert rule '" + rule.Name + "' (" + rule.Severity + ")", Metadata: alertRuleMetadata(rule, nil)})
	writeJSON(w, http.StatusCreated, alertRuleView(rule))
	return nil
}

// handleListAlertRules serves GET /v1/alert-rules: the tenant's rules,
// the defaults it never had created first.
func (s *Server) handleListAlertRules(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	if err := a.Engine.EnsureDefaults(r.Context(), tenant); err != nil {
		return err
	}
	list, err := a.Store.ListAlertRules(r.Context(), tenant)
	if err != nil {
		return err
	}
	out := make([]*auditkeep.AlertRule, len(list))
	for i, rule := range list {
		out[i] = alertRuleView(rule)
	}
	writeJSON(w, http.StatusOK, map[string]any{"alert_rules": out})
	return nil
}

// alertRule reads the request's rule. Returns ENOTFOUND.
func (s *Server) alertRule(r *http.Request) (*Alerts, *auditkeep.AlertRule, error) {
	a, err := s.alerts()
	if err != nil {
		return nil, nil, err
	}
	rule, err := a.Store.GetAlertRule(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("id"))
	return a, rule, err
}

// handleGetAlertRule serves GET /v1/alert-rules/{id}.
func (s *Server) handleGetAlertRule(w http.ResponseWriter, r *http.Request) error {
	_, rule, err := s.alertRule(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, alertRuleView(rule))
	return nil
}

// handlePatchAlertRule serves PATCH /v1/alert-rules/{id}: the members
// given change. Returns ECONFLICT when the rule changed meanwhile.
func (s *Server) handlePatchAlertRule(w http.ResponseWriter, r *http.Request) error {
	a, rule, err := s.alertRule(r)
	if err != nil {
		return err
	}
	var b alertRuleBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	old := *rule
	old.Channels = append([]auditkeep.AlertChannel(nil), rule.Channels...)
	if err := b.apply(a, rule, &old); err != nil {
		return err
	}
	changed := changedRuleMembers(&old, rule)
	rule.UpdatedAt = s.Now().UTC()
	if err := a.Store.UpdateAlertRule(r.Context(), rule); err != nil {
		return err
	}
	a.Engine.RulesChanged(rule.Tenant)
	s.recordLogged(r, rule.Tenant, Audit{Action: "alert_rule.update", Type: auditkeep.TypeUpdate, Target: alertRuleTarget(rule),
		Description: "Updated alert rule '" + rule.Name + "': " + describeChanged(changed), Metadata: alertRuleMetadata(rule, changed)})
	writeJSON(w, http.StatusOK, alertRuleView(rule))
	return nil
}

// changedRuleMembers names the members that differ between two versions
// of a rule, in the API's order.
func changedRuleMembers(old, cur *auditkeep.AlertRule) []string {
	changed := []string{}
	same := func(a, b any) bool {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return bytes.Equal(x, y)
	}
	oldCh, curCh := alertRuleView(old).Channels, alertRuleView(cur).Channels
	for _, m := range []struct {
		name string
		a, b any
	}{
		{"name", old.Name, cur.Name}, {"description", old.Description, cur.Description}, {"match", old.Match, cur.Match},
		{"condition", old.Condition, cur.Condition}, {"group_by", old.GroupBy, cur.GroupBy}, {"threshold", old.Threshold, cur.Threshold},
		{"window", old.Window, cur.Window}, {"suppress_for", old.SuppressFor, cur.SuppressFor}, {"severity", old.Severity, cur.Severity},
		{"channels", oldCh, curCh}, {"enabled", old.Enabled, cur.Enabled},
	} {
		if !same(m.a, m.b) {
			changed = append(changed, m.name)
		}
	}
	for i := range cur.Channels {
		if i < len(old.Channels) && !bytes.Equal(old.Channels[i].Secret, cur.Channels[i].Secret) && !slices.Contains(changed, "channels") {
			changed = append(changed, "channels")
		}
	}
	return changed
}

// handleDeleteAlertRule serves DELETE /v1/alert-rules/{id} → 204; its
// alerts stay. A deleted default rule is not created again.
func (s *Server) handleDeleteAlertRule(w http.ResponseWriter, r *http.Request) error {
	a, rule, err := s.alertRule(r)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteAlertRule(r.Context(), rule.Tenant, rule.ID); err != nil {
		return err
	}
	a.Engine.RulesChanged(rule.Tenant)
	s.recordLogged(r, rule.Tenant, Audit{Action: "alert_rule.delete", Type: auditkeep.TypeDelete, Target: alertRuleTarget(rule),
		Description: "Deleted alert rule '" + rule.Name + "'", Metadata: alertRuleMetadata(rule, nil)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleTestAlertRule serves POST /v1/alert-rules/test {"rule": {...},
// "from", "to"}: the alerts the rule would have raised over the events
// that occurred in [from, to] (default: the last 7 days), stored nowhere →
// {"alerts": N, "examples": [the first 10]}.
func (s *Server) handleTestAlertRule(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	var b struct {
		Rule *alertRuleBody `json:"rule"`
		From *time.Time     `json:"from"`
		To   *time.Time     `json:"to"`
	}
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if b.Rule == nil {
		return auditkeep.FieldErrorf("rule", `rule is required: the rule to test, as POST /v1/alert-rules takes it`)
	}
	tenant := principalFrom(r.Context()).tenant()
	rule := &auditkeep.AlertRule{ID: "alr_test", Tenant: tenant}
	b.Rule.Channels = nil // a backtest sends nothing
	if err := b.Rule.apply(a, rule, nil); err != nil {
		var ae *auditkeep.Error
		if errors.As(err, &ae) && ae.Field != "" {
			e := *ae
			e.Field = "rule." + ae.Field
			return &e
		}
		return err
	}
	to := s.Now().UTC()
	if b.To != nil {
		to = b.To.UTC()
	}
	from := to.Add(-defaultBacktestSpan)
	if b.From != nil {
		from = b.From.UTC()
	}
	switch {
	case from.After(to):
		return auditkeep.FieldErrorf("from", "from must not be after to")
	case to.Sub(from) > maxBacktestSpan:
		return auditkeep.FieldErrorf("from", "a backtest reads at most %d days: from and to lie %s apart", int(maxBacktestSpan/(24*time.Hour)), to.Sub(from).Round(time.Hour))
	}
	raised, err := a.Engine.Backtest(r.Context(), tenant, rule, from, to)
	if err != nil {
		return err
	}
	examples := append([]*auditkeep.Alert{}, raised[:min(len(raised), backtestExamples)]...)
	writeJSON(w, http.StatusOK, map[string]any{"alerts": len(raised), "examples": examples, "from": from, "to": to})
	return nil
}

// handleListAlerts serves GET /v1/alerts?state=&rule=&severity=&limit=
// &cursor=: the tenant's alerts, newest first → {"alerts": [...],
// "next_cursor": "..."}.
func (s *Server) handleListAlerts(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "state", "rule", "severity", "limit", "cursor":
		default:
			return auditkeep.FieldErrorf(name, "%s is not a parameter of /v1/alerts (state, rule, severity, limit, cursor)", name)
		}
	}
	var f auditkeep.AlertFilter
	if f.States, err = listParam(q["state"], "state", auditkeep.AlertStates); err != nil {
		return err
	}
	if f.Severities, err = listParam(q["severity"], "severity", auditkeep.Severities); err != nil {
		return err
	}
	f.RuleID, f.Cursor = q.Get("rule"), q.Get("cursor")
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > auditkeep.MaxLimit {
			return auditkeep.FieldErrorf("limit", "limit must be a number from 1 to %d", auditkeep.MaxLimit)
		}
		f.Limit = n
	}
	list, next, err := a.Store.ListAlerts(r.Context(), principalFrom(r.Context()).tenant(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*auditkeep.Alert{}
	}
	out := map[string]any{"alerts": list}
	if next != "" {
		out["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listParam reads a parameter that may repeat or hold comma-separated
// values, each one of allowed.
func listParam(values []string, name string, allowed []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !slices.Contains(allowed, p) {
				return nil, auditkeep.FieldErrorf(name, "%s must be one of %s, not %q", name, strings.Join(allowed, ", "), p)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// handleGetAlert serves GET /v1/alerts/{id}.
func (s *Server) handleGetAlert(w http.ResponseWriter, r *http.Request) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	al, err := a.Store.GetAlert(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, al)
	return nil
}

// handleAcknowledgeAlert serves POST /v1/alerts/{id}/acknowledge (admin):
// an open alert becomes acknowledged, by who asked. ECONFLICT when it is
// not open.
func (s *Server) handleAcknowledgeAlert(w http.ResponseWriter, r *http.Request) error {
	return s.setAlertState(w, r, auditkeep.AlertAcknowledged, "alert.acknowledge", "Acknowledged")
}

// handleResolveAlert serves POST /v1/alerts/{id}/resolve (admin): an open
// or acknowledged alert becomes resolved. ECONFLICT when it is resolved.
func (s *Server) handleResolveAlert(w http.ResponseWriter, r *http.Request) error {
	return s.setAlertState(w, r, auditkeep.AlertResolved, "alert.resolve", "Resolved")
}

func (s *Server) setAlertState(w http.ResponseWriter, r *http.Request, state, action, verb string) error {
	a, err := s.alerts()
	if err != nil {
		return err
	}
	actor := actorOf(principalFrom(r.Context()))
	by := cmp.Or(actor.Email, actor.ID)
	al, err := a.Store.SetAlertState(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("id"), state, by, s.Now().UTC())
	if err != nil {
		return err
	}
	s.recordLogged(r, al.Tenant, Audit{Action: action, Type: auditkeep.TypeUpdate, Target: alertTarget(al),
		Description: verb + " alert '" + al.RuleName + "'" + groupSuffix(al),
		Metadata:    map[string]any{"rule_id": al.RuleID, "severity": al.Severity, "group_key": al.GroupKey, "count": al.Count, "state": al.State}})
	writeJSON(w, http.StatusOK, al)
	return nil
}

func alertTarget(al *auditkeep.Alert) *auditkeep.Target {
	return &auditkeep.Target{Type: "alert", ID: al.ID, Name: al.RuleName}
}

// groupSuffix is " for actor u_42, ip …", or "" for an alert of no group.
func groupSuffix(al *auditkeep.Alert) string {
	if g := notify.DescribeGroup(al.GroupKey); g != "" {
		return " for " + g
	}
	return ""
}

// RecordAlertOpen records the raising of an alert in its tenant's log:
// action alert.open, actor system, the alert as target. The evaluator
// calls it once an alert is committed; the records of alerts (source
// auditkeep, action alert.*) are not evaluated by the rules.
func (s *Server) RecordAlertOpen(ctx context.Context, al *auditkeep.Alert) error {
	return s.recordFrom(ctx, requestOrigin{}, auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "auditkeep", Name: "auditkeep alerts"}, al.Tenant,
		Audit{Action: "alert.open", Type: auditkeep.TypeCreate, Target: alertTarget(al),
			Description: fmt.Sprintf("Alert '%s' (%s) raised%s: %d matching events", al.RuleName, al.Severity, groupSuffix(al), al.Count),
			Metadata: map[string]any{"rule_id": al.RuleID, "severity": al.Severity, "group_key": al.GroupKey, "count": al.Count,
				"first_event_at": al.FirstEventAt, "last_event_at": al.LastEventAt, "event_ids": al.EventIDs[:min(len(al.EventIDs), 10)]}})
}

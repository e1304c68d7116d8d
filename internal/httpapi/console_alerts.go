package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/web"
)

// consoleAlerts gives the console's Alerts pages the API's own alert
// endpoints: each call runs the endpoint's handler for the console's
// credential, checked with the endpoint's scope, done and recorded in the
// tenant's log exactly as over the API.
type consoleAlerts struct{ s *Server }

var _ web.AlertBackend = consoleAlerts{}

// call runs h as the endpoint of scope would for the identity, on a copy
// of r with method, query, the path's {id} and a JSON body (nil: none).
func (c consoleAlerts) call(r *http.Request, id *web.Identity, scope, method string, q url.Values, pathID string, body any,
	h func(http.ResponseWriter, *http.Request) error) ([]byte, error) {
	p, err := principalOf(id)
	if err != nil {
		return nil, err
	}
	if err := authorize(p, scope, r); err != nil {
		return nil, err
	}
	return runAs(r, p, method, q, pathID, body, h)
}

// get is call for a read of the console's context.
func (c consoleAlerts) get(ctx context.Context, id *web.Identity, scope, path string, q url.Values,
	h func(http.ResponseWriter, *http.Request) error) ([]byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return c.call(r, id, scope, http.MethodGet, q, "", nil, h)
}

func (c consoleAlerts) Alerts(ctx context.Context, id *web.Identity, q url.Values) ([]*auditkeep.Alert, string, error) {
	body, err := c.get(ctx, id, scopeExportOrAdmin, "/v1/alerts", q, c.s.handleListAlerts)
	if err != nil {
		return nil, "", err
	}
	var out struct {
		Alerts     []*auditkeep.Alert `json:"alerts"`
		NextCursor string             `json:"next_cursor"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, "", err
	}
	return out.Alerts, out.NextCursor, nil
}

func (c consoleAlerts) AlertRules(ctx context.Context, id *web.Identity) ([]*auditkeep.AlertRule, error) {
	body, err := c.get(ctx, id, scopeAdmin, "/v1/alert-rules", nil, c.s.handleListAlertRules)
	if err != nil {
		return nil, err
	}
	var out struct {
		Rules []*auditkeep.AlertRule `json:"alert_rules"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return out.Rules, nil
}

func (c consoleAlerts) SetAlertState(r *http.Request, id *web.Identity, alertID, action string) error {
	h := c.s.handleAcknowledgeAlert
	if action == "resolve" {
		h = c.s.handleResolveAlert
	}
	_, err := c.call(r, id, scopeAdmin, http.MethodPost, nil, alertID, struct{}{}, h)
	return err
}

// ruleBody is a rule as POST and PATCH /v1/alert-rules take it; channels
// only when they are to be replaced.
func ruleBody(rule *auditkeep.AlertRule, channels bool) map[string]any {
	b := map[string]any{"name": rule.Name, "description": rule.Description, "match": rule.Match, "condition": rule.Condition,
		"group_by": rule.GroupBy, "threshold": rule.Threshold, "window": rule.Window, "suppress_for": rule.SuppressFor,
		"severity": rule.Severity, "enabled": rule.Enabled}
	if channels {
		list := make([]map[string]any, len(rule.Channels))
		for i, ch := range rule.Channels {
			list[i] = map[string]any{"type": ch.Type}
			if ch.URL != "" {
				list[i]["url"] = ch.URL
			}
			if len(ch.To) > 0 {
				list[i]["to"] = ch.To
			}
		}
		b["channels"] = list
	}
	return b
}

func (c consoleAlerts) SaveAlertRule(r *http.Request, id *web.Identity, ch web.AlertRuleChange) (*auditkeep.AlertRule, error) {
	var body []byte
	var err error
	if ch.Rule.ID == "" {
		body, err = c.call(r, id, scopeAdmin, http.MethodPost, nil, "", ruleBody(ch.Rule, true), c.s.handleCreateAlertRule)
	} else {
		body, err = c.call(r, id, scopeAdmin, http.MethodPatch, nil, ch.Rule.ID, ruleBody(ch.Rule, ch.SetChannels), c.s.handlePatchAlertRule)
	}
	if err != nil {
		return nil, err
	}
	var out auditkeep.AlertRule
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c consoleAlerts) DeleteAlertRule(r *http.Request, id *web.Identity, ruleID string) error {
	_, err := c.call(r, id, scopeAdmin, http.MethodDelete, nil, ruleID, nil, c.s.handleDeleteAlertRule)
	return err
}

func (c consoleAlerts) TestAlertRule(r *http.Request, id *web.Identity, rule *auditkeep.AlertRule, from, to time.Time) (web.AlertBacktest, error) {
	body, err := c.call(r, id, scopeAdmin, http.MethodPost, nil, "", map[string]any{"rule": ruleBody(rule, false), "from": from, "to": to},
		c.s.handleTestAlertRule)
	if err != nil {
		return web.AlertBacktest{}, err
	}
	var out struct {
		Alerts   int                `json:"alerts"`
		Examples []*auditkeep.Alert `json:"examples"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return web.AlertBacktest{}, err
	}
	return web.AlertBacktest{Alerts: out.Alerts, Examples: out.Examples}, nil
}

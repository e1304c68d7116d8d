package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// AlertRuleParams are an alert rule's definition as POST
// /v1/alert-rules takes it (admin scope): Match in the q language,
// Condition in CEL over the event, Window and SuppressFor as durations
// such as "10m". Zero members are left to the server's defaults.
type AlertRuleParams struct {
	Name        string               `json:"name,omitempty"`
	Description string               `json:"description,omitempty"`
	Match       string               `json:"match,omitempty"`
	Condition   string               `json:"condition,omitempty"`
	GroupBy     []string             `json:"group_by,omitempty"`
	Threshold   int                  `json:"threshold,omitempty"`
	Window      string               `json:"window,omitempty"`
	SuppressFor string               `json:"suppress_for,omitempty"`
	Severity    string               `json:"severity,omitempty"`
	Channels    []AlertChannelParams `json:"channels,omitempty"`
	Enabled     *bool                `json:"enabled,omitempty"`
}

// AlertChannelParams are one channel of a rule: a webhook (URL and its
// Standard Webhooks Secret, "whsec_…"), a Slack incoming webhook (URL) or
// email (To).
type AlertChannelParams struct {
	Type   string   `json:"type"`
	URL    string   `json:"url,omitempty"`
	To     []string `json:"to,omitempty"`
	Secret string   `json:"secret,omitempty"`
}

// Backtest is what a rule would have raised over a span of the log.
type Backtest struct {
	Alerts   int               `json:"alerts"`   // how many alerts
	Examples []auditkeep.Alert `json:"examples"` // the first 10
	From     time.Time         `json:"from"`
	To       time.Time         `json:"to"`
}

// AlertFilter selects alerts for ListAlerts; zero members select all.
type AlertFilter struct {
	States     []string // open, acknowledged, resolved
	Rule       string   // a rule's id
	Severities []string // low, medium, high, critical
	Limit      int      // 1..1000; 0: the server's default
	Cursor     string   // the previous page's next cursor
}

// ListAlertRules returns the tenant's alert rules with their channels'
// status (admin scope); the tenant's default rules are created first if
// it never had them.
func (c *Client) ListAlertRules(ctx context.Context) ([]auditkeep.AlertRule, error) {
	var out struct {
		Rules []auditkeep.AlertRule `json:"alert_rules"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/alert-rules", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Rules, nil
}

// CreateAlertRule creates a rule. Returns EINVALID naming the field
// ("match", "condition" with the error's position, "channels[0].url").
func (c *Client) CreateAlertRule(ctx context.Context, p AlertRuleParams) (*auditkeep.AlertRule, error) {
	var r auditkeep.AlertRule
	if err := c.do(ctx, http.MethodPost, "/v1/alert-rules", nil, p, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// TestAlertRule backtests a rule over the events that occurred in [from,
// to] (zero times: the server's defaults, the last 7 days); nothing is
// stored or sent. Returns EINVALID naming the field ("rule.match").
func (c *Client) TestAlertRule(ctx context.Context, p AlertRuleParams, from, to time.Time) (*Backtest, error) {
	body := map[string]any{"rule": p}
	if !from.IsZero() {
		body["from"] = from
	}
	if !to.IsZero() {
		body["to"] = to
	}
	var b Backtest
	if err := c.do(ctx, http.MethodPost, "/v1/alert-rules/test", nil, body, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// ListAlerts returns one page of the tenant's alerts, newest first, and
// the next page's cursor ("" on the last); export or admin scope.
func (c *Client) ListAlerts(ctx context.Context, f AlertFilter) ([]auditkeep.Alert, string, error) {
	q := url.Values{}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	if len(f.Severities) > 0 {
		q.Set("severity", strings.Join(f.Severities, ","))
	}
	if f.Rule != "" {
		q.Set("rule", f.Rule)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var out struct {
		Alerts []auditkeep.Alert `json:"alerts"`
		Next   string            `json:"next_cursor"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/alerts", q, nil, &out); err != nil {
		return nil, "", err
	}
	return out.Alerts, out.Next, nil
}

// AcknowledgeAlert acknowledges an open alert (admin scope). Returns
// ENOTFOUND, ECONFLICT when it is not open.
func (c *Client) AcknowledgeAlert(ctx context.Context, id string) (*auditkeep.Alert, error) {
	return c.alertDo(ctx, id, "/acknowledge")
}

// ResolveAlert resolves an open or acknowledged alert (admin scope).
// Returns ENOTFOUND, ECONFLICT when it is resolved already.
func (c *Client) ResolveAlert(ctx context.Context, id string) (*auditkeep.Alert, error) {
	return c.alertDo(ctx, id, "/resolve")
}

func (c *Client) alertDo(ctx context.Context, id, action string) (*auditkeep.Alert, error) {
	var a auditkeep.Alert
	if err := c.do(ctx, http.MethodPost, "/v1/alerts/"+url.PathEscape(id)+action, nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

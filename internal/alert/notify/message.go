package notify

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// WebhookPayload is the JSON body a webhook channel receives: the alert as
// GET /v1/alerts/{id} shows it, and the link to its matching events.
type WebhookPayload struct {
	Type  string           `json:"type"` // "alert.open", or "alert.test" for a channel's test
	Alert *auditkeep.Alert `json:"alert"`
	// Link is the console's list of the matching events; absent when the
	// server has no public URL.
	Link string `json:"link,omitempty"`
}

// AlertMessage renders an alert as a notification: id names it (the
// notification's id, stable across retries), match is its rule's match
// ("" when the rule is gone), base is the console's public URL ("" for no
// link).
func AlertMessage(id string, a *auditkeep.Alert, match, base string) *Message {
	group := DescribeGroup(a.GroupKey)
	subject := fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity), a.RuleName)
	if group != "" {
		subject += ": " + group
	}
	subject += fmt.Sprintf(" (%d %s)", a.Count, plural(a.Count, "event", "events"))
	m := &Message{ID: id, Subject: subject, Link: EventsLink(base, match, a)}
	m.Fields = []Field{{"Severity", a.Severity}, {"Rule", a.RuleName}}
	if group != "" {
		m.Fields = append(m.Fields, Field{"Group", group})
	}
	m.Fields = append(m.Fields,
		Field{"Events", fmt.Sprint(a.Count)},
		Field{"First event", a.FirstEventAt.UTC().Format(time.RFC3339)},
		Field{"Last event", a.LastEventAt.UTC().Format(time.RFC3339)},
		Field{"Alert", a.ID + " (" + a.State + ")"},
	)
	var b strings.Builder
	fmt.Fprintf(&b, "The alert rule %q (%s) matched %d %s", a.RuleName, a.Severity, a.Count, plural(a.Count, "event", "events"))
	if group != "" {
		fmt.Fprintf(&b, " of %s", group)
	}
	fmt.Fprintf(&b, " between %s and %s.\n\n", m.Fields[len(m.Fields)-3].Value, m.Fields[len(m.Fields)-2].Value)
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
	}
	if n := len(a.EventIDs); n > 0 {
		ids := a.EventIDs[:min(n, 10)]
		fmt.Fprintf(&b, "Event ids: %s", strings.Join(ids, ", "))
		if n > len(ids) {
			fmt.Fprintf(&b, " and %d more", n-len(ids))
		}
		b.WriteString("\n")
	}
	m.Text = strings.TrimRight(b.String(), "\n")
	m.Body, _ = json.Marshal(WebhookPayload{Type: "alert.open", Alert: a, Link: m.Link})
	return m
}

// DescribeGroup renders a group key as "actor u_42, ip 203.0.113.7", in
// the order of auditkeep.GroupKeys.
func DescribeGroup(g map[string]string) string {
	var parts []string
	for _, k := range auditkeep.GroupKeys {
		if v, ok := g[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	for k, v := range g { // a key this version does not know
		if !slices.Contains(auditkeep.GroupKeys, k) {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

// EventsLink is the console's list of the alert's matching events: the
// rule's match (q) and the group's filters over the alert's span, from its
// first to its last event. "" when base is "".
func EventsLink(base, match string, a *auditkeep.Alert) string {
	if base == "" {
		return ""
	}
	q := url.Values{}
	if match != "" {
		q.Set("q", match)
	}
	q.Set("from", a.FirstEventAt.UTC().Format(time.RFC3339))
	// to is inclusive to the second; the last event may lie within it.
	q.Set("to", a.LastEventAt.UTC().Add(time.Second).Truncate(time.Second).Format(time.RFC3339))
	for _, k := range auditkeep.GroupKeys {
		v, ok := g(a.GroupKey, k)
		if !ok {
			continue
		}
		switch k {
		case auditkeep.GroupTarget:
			typ, id, _ := strings.Cut(v, ":")
			q.Set("target_type", typ)
			q.Set("target_id", id)
		default:
			q.Set(k, v)
		}
	}
	return strings.TrimRight(base, "/") + "/?" + q.Encode()
}

func g(m map[string]string, k string) (string, bool) {
	v, ok := m[k]
	return v, ok && v != ""
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

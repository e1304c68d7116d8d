package main

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/demo"
)

// TestDefaultRulesOnDemo: a server's evaluator, with the tenant's default
// rules, over a demo history: each default rule raises exactly one alert
// for each incident of its pattern the history holds (an attack's failed
// logins, a project torn down, a role raised to admin, an API token
// created), made of that incident's events, and none on the ordinary
// traffic around them.
func TestDefaultRulesOnDemo(t *testing.T) {
	a := testServerAlerts(t, Config{})
	base := a.URL()
	key := setupTenant(t, base, "acme")
	// The tenant's defaults, before its first event, and a probe rule that
	// tells when the evaluator has read past the history.
	r := call(t, "GET", base+"/v1/alert-rules", key, nil)
	if r.status != 200 {
		t.Fatalf("GET /v1/alert-rules: %d %s", r.status, r.body)
	}
	var rules struct {
		Rules []auditkeep.AlertRule `json:"alert_rules"`
	}
	json.Unmarshal([]byte(r.body), &rules)
	kindOf := map[string]string{}
	for _, rule := range rules.Rules {
		kindOf[rule.ID] = rule.Default
	}
	if len(kindOf) != len(auditkeep.DefaultRuleKeys) {
		t.Fatalf("the tenant has rules %v; want the %d defaults", kindOf, len(auditkeep.DefaultRuleKeys))
	}
	r = call(t, "POST", base+"/v1/alert-rules", key, map[string]any{"name": "probe", "match": "action:test.probe", "severity": "low"})
	if r.status != 201 {
		t.Fatalf("create the probe rule: %d %s", r.status, r.body)
	}
	probe := r.json(t)["id"].(string)

	// Five days of history ending at the last week boundary, so
	// that every run sees the same events, shifted by whole weeks.
	const n, seed = 15000, 12
	end := time.Now().UTC().Truncate(7 * 24 * time.Hour)
	opts := demo.Options{EventsPerDay: 3000}
	gen := demo.New(seed, demo.Start(n, end, opts), opts)
	incidents := gen.CollectIncidents()
	events := make([]any, n)
	demoIDs := map[string]bool{}
	for i := range events {
		e := gen.Next()
		demoIDs[e.ID] = true
		b, _ := json.Marshal(e)
		var m map[string]any
		json.Unmarshal(b, &m)
		for _, server := range []string{"tenant", "seq", "received_at", "hash"} {
			delete(m, server)
		}
		events[i] = m
	}
	ingestJSON(t, base, key, events)

	// The incident each event belongs to, by kind.
	type ref struct {
		kind string
		n    int
	}
	of := map[string]ref{}
	want := map[string]int{}
	for i, in := range incidents() {
		want[in.Kind]++
		for _, id := range in.EventIDs {
			of[id] = ref{in.Kind, i}
		}
	}
	for _, kind := range auditkeep.DefaultRuleKeys {
		if want[kind] == 0 {
			t.Fatalf("the history holds no %s incident; want one of each (incidents %v)", kind, want)
		}
	}
	total := 0
	for _, k := range want {
		total += k
	}
	// The probe's alert comes once the evaluator has read every event
	// committed before it.
	ingestJSON(t, base, key, []any{event("probe-1", "test.probe", "usr_probe")})
	var alerts []auditkeep.Alert
	waitUntil(t, "the probe's alert", func() bool {
		alerts = listAlerts(t, base, key)
		return slices.ContainsFunc(alerts, func(a auditkeep.Alert) bool { return a.RuleID == probe })
	})

	got := map[string]int{}
	seen := map[int]string{} // incident → the alert raised for it
	for _, al := range alerts {
		if al.RuleID == probe || !demoIDs[al.EventIDs[0]] {
			continue // the probe, and auditkeep's own records (the key's creation)
		}
		kind := kindOf[al.RuleID]
		got[kind]++
		first, ok := of[al.EventIDs[0]]
		if !ok || first.kind != kind {
			t.Errorf("%s raised alert %s on ordinary traffic: events %v (group %v)", kind, al.ID, al.EventIDs, al.GroupKey)
			continue
		}
		for _, id := range al.EventIDs {
			if r := of[id]; r != first {
				t.Errorf("%s alert %s holds event %s, outside its incident", kind, al.ID, id)
				break
			}
		}
		if other, dup := seen[first.n]; dup {
			t.Errorf("%s raised two alerts (%s and %s) for one incident", kind, other, al.ID)
		}
		seen[first.n] = al.ID
	}
	for _, kind := range auditkeep.DefaultRuleKeys {
		if got[kind] != want[kind] {
			t.Errorf("%s raised %d alerts on the demo; want %d, one per incident", kind, got[kind], want[kind])
		}
	}
	t.Logf("%d events, incidents %v, alerts %v", n, want, got)
}

// listAlerts returns every alert of the tenant.
func listAlerts(t *testing.T, base, key string) []auditkeep.Alert {
	t.Helper()
	var all []auditkeep.Alert
	q := url.Values{"limit": {"1000"}}
	for {
		r := call(t, "GET", base+"/v1/alerts?"+q.Encode(), key, nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/alerts: %d %s", r.status, r.body)
		}
		var page struct {
			Alerts     []auditkeep.Alert `json:"alerts"`
			NextCursor string            `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.body), &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Alerts...)
		if page.NextCursor == "" {
			return slices.DeleteFunc(all, func(a auditkeep.Alert) bool { return len(a.EventIDs) == 0 })
		}
		q.Set("cursor", page.NextCursor)
	}
}

package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
)

func alertStore(t *testing.T, s auditkeep.Store) auditkeep.AlertStore {
	t.Helper()
	as, ok := s.(auditkeep.AlertStore)
	if !ok {
		t.Fatal("the store does not implement auditkeep.AlertStore")
	}
	return as
}

func sampleRule(tenant, id string, at time.Time) *auditkeep.AlertRule {
	return &auditkeep.AlertRule{ID: id, Tenant: tenant, Name: "Failed logins " + id, Description: "five in ten minutes",
		Match: "action:user.login status:failure", Condition: `event.actor.type == "user"`, GroupBy: []string{"actor", "ip"},
		Threshold: 5, Window: auditkeep.Duration(10 * time.Minute), SuppressFor: auditkeep.Duration(30 * time.Minute),
		Severity: auditkeep.SeverityHigh, Enabled: true,
		Channels: []auditkeep.AlertChannel{
			{Type: auditkeep.ChannelWebhook, URL: "https://siem.example.com/hook", Secret: []byte{0, 1, 255}, SecretSet: true},
			{Type: auditkeep.ChannelEmail, To: []string{"secops@example.com", "oncall@example.com"}},
		},
		CreatedAt: at, UpdatedAt: at, Version: 1}
}

func testAlertRules(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	as := alertStore(t, s)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	at := Base.Add(time.Hour + 123)
	a := sampleRule("acme", "alr_1", at)
	if err := as.CreateAlertRule(ctx, a); err != nil {
		t.Fatalf("CreateAlertRule = %v", err)
	}
	b := sampleRule("acme", "alr_2", at.Add(time.Second))
	b.GroupBy, b.Channels, b.Condition, b.Enabled = nil, nil, "", false
	if err := as.CreateAlertRule(ctx, b); err != nil {
		t.Fatalf("CreateAlertRule(b) = %v", err)
	}
	if err := as.CreateAlertRule(ctx, sampleRule("globex", "alr_1", at)); err != nil {
		t.Fatalf("CreateAlertRule(globex) = %v", err)
	}
	wantCode(t, "CreateAlertRule(taken id)", as.CreateAlertRule(ctx, sampleRule("acme", "alr_1", at)), auditkeep.ECONFLICT)
	wantCode(t, "CreateAlertRule(unknown tenant)", as.CreateAlertRule(ctx, sampleRule("nope", "alr_1", at)), auditkeep.ENOTFOUND)

	got, err := as.GetAlertRule(ctx, "acme", "alr_1")
	if err != nil {
		t.Fatalf("GetAlertRule = %v", err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("GetAlertRule = %+v; want %+v", got, a)
	}
	gotB, _ := as.GetAlertRule(ctx, "acme", "alr_2")
	if gotB == nil || len(gotB.GroupBy) != 0 || len(gotB.Channels) != 0 || gotB.Enabled {
		t.Errorf("GetAlertRule(alr_2) = %+v; want no group_by, no channels, disabled", gotB)
	}
	_, err = as.GetAlertRule(ctx, "globex", "alr_2")
	wantCode(t, "GetAlertRule(other tenant)", err, auditkeep.ENOTFOUND)

	list, err := as.ListAlertRules(ctx, "acme")
	if err != nil || len(list) != 2 || list[0].ID != "alr_1" || list[1].ID != "alr_2" {
		t.Errorf("ListAlertRules(acme) = %v, %v; want alr_1, alr_2", ruleIDs(list), err)
	}
	if all, _ := as.ListAlertRules(ctx, ""); len(all) != 3 {
		t.Errorf("ListAlertRules(\"\") = %d rules; want 3", len(all))
	}

	// Update with the version read; a stale version conflicts.
	got.Name, got.Threshold, got.Channels = "renamed", 7, got.Channels[:1]
	got.UpdatedAt = at.Add(time.Minute)
	if err := as.UpdateAlertRule(ctx, got); err != nil {
		t.Fatalf("UpdateAlertRule = %v", err)
	}
	if got.Version != 2 {
		t.Errorf("after UpdateAlertRule Version = %d; want 2", got.Version)
	}
	again, _ := as.GetAlertRule(ctx, "acme", "alr_1")
	if again.Name != "renamed" || again.Threshold != 7 || len(again.Channels) != 1 || again.Version != 2 || !again.UpdatedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("after update GetAlertRule = %+v", again)
	}
	stale := *again
	stale.Version = 1
	wantCode(t, "UpdateAlertRule(stale version)", as.UpdateAlertRule(ctx, &stale), auditkeep.ECONFLICT)
	missing := *again
	missing.ID = "alr_9"
	wantCode(t, "UpdateAlertRule(missing)", as.UpdateAlertRule(ctx, &missing), auditkeep.ENOTFOUND)

	wantCode(t, "DeleteAlertRule(other tenant)", as.DeleteAlertRule(ctx, "globex", "alr_2"), auditkeep.ENOTFOUND)
	if err := as.DeleteAlertRule(ctx, "acme", "alr_2"); err != nil {
		t.Fatalf("DeleteAlertRule = %v", err)
	}
	_, err = as.GetAlertRule(ctx, "acme", "alr_2")
	wantCode(t, "GetAlertRule(deleted)", err, auditkeep.ENOTFOUND)
	if _, err := as.GetAlertRule(ctx, "globex", "alr_1"); err != nil {
		t.Errorf("globex's rule after acme's changes: %v", err)
	}
}

func ruleIDs(rs []*auditkeep.AlertRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Tenant+"/"+r.ID)
	}
	return out
}

func testAlertDefaults(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	as := alertStore(t, s)
	createTenant(t, s, "acme")
	defaults := func(suffix string) []*auditkeep.AlertRule {
		var out []*auditkeep.AlertRule
		for i, key := range auditkeep.DefaultRuleKeys {
			r := sampleRule("acme", fmt.Sprintf("alr_%s_%d", suffix, i), Base)
			r.Default = key
			out = append(out, r)
		}
		return out
	}
	// Several nodes at once: the defaults are created exactly once.
	var wg sync.WaitGroup
	created := make([]int, 4)
	for i := range created {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := as.EnsureDefaultAlertRules(ctx, "acme", defaults(fmt.Sprint(i)))
			if err != nil {
				t.Errorf("EnsureDefaultAlertRules = %v", err)
			}
			created[i] = len(got)
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range created {
		total += n
	}
	list, _ := as.ListAlertRules(ctx, "acme")
	if total != len(auditkeep.DefaultRuleKeys) || len(list) != len(auditkeep.DefaultRuleKeys) {
		t.Fatalf("EnsureDefaultAlertRules from 4 callers created %d, stored %d; want %d", total, len(list), len(auditkeep.DefaultRuleKeys))
	}
	// A deleted default is not created again.
	var gone string
	for _, r := range list {
		if r.Default == auditkeep.DefaultMassDeletions {
			gone = r.ID
		}
	}
	if err := as.DeleteAlertRule(ctx, "acme", gone); err != nil {
		t.Fatal(err)
	}
	got, err := as.EnsureDefaultAlertRules(ctx, "acme", defaults("z"))
	if err != nil || len(got) != 0 {
		t.Errorf("EnsureDefaultAlertRules after a delete = %v, %v; want none created", ruleIDs(got), err)
	}
	_, err = as.EnsureDefaultAlertRules(ctx, "nope", nil)
	wantCode(t, "EnsureDefaultAlertRules(unknown tenant)", err, auditkeep.ENOTFOUND)
}

func sampleAlert(tenant, id, rule string, at time.Time, seq int64) *auditkeep.Alert {
	return &auditkeep.Alert{ID: id, Tenant: tenant, RuleID: rule, RuleName: "Failed logins", Severity: auditkeep.SeverityHigh,
		GroupKey: map[string]string{"actor": "u_42", "ip": "203.0.113.7"}, Count: 5,
		FirstEventAt: at.Add(-5 * time.Minute), LastEventAt: at, EventIDs: []string{"e1", "e2", "e3", "e4", "e5"},
		FirstSeq: seq - 4, LastSeq: seq, State: auditkeep.AlertOpen, CreatedAt: at.Add(time.Second), UpdatedAt: at.Add(time.Second)}
}

func testAlertEvaluation(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	as := alertStore(t, s)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	if err := as.CreateAlertRule(ctx, sampleRule("acme", "alr_1", Base)); err != nil {
		t.Fatal(err)
	}

	held, st, err := as.LeaseAlertEvaluator(ctx, "acme", "node-a", time.Minute)
	if err != nil || !held || st != (auditkeep.AlertEvaluatorState{}) {
		t.Fatalf("LeaseAlertEvaluator(new) = %v, %+v, %v; want held at zero", held, st, err)
	}
	if held, _, _ := as.LeaseAlertEvaluator(ctx, "acme", "node-b", time.Minute); held {
		t.Error("LeaseAlertEvaluator(node-b) held while node-a's lease runs")
	}
	if held, _, _ := as.LeaseAlertEvaluator(ctx, "globex", "node-b", time.Minute); !held {
		t.Error("LeaseAlertEvaluator(globex, node-b) not held: leases are per tenant")
	}
	_, _, err = as.LeaseAlertEvaluator(ctx, "nope", "node-a", time.Minute)
	wantCode(t, "LeaseAlertEvaluator(unknown tenant)", err, auditkeep.ENOTFOUND)

	at := Base.Add(2 * time.Hour)
	a1 := sampleAlert("acme", "alt_1", "alr_1", at, 10)
	ev := &auditkeep.AlertEvaluation{To: auditkeep.AlertEvaluatorState{Cursor: 12, RebuildFrom: 3}, Raised: []*auditkeep.Alert{a1}}
	wantCode(t, "CommitAlertEvaluation(not the owner)", as.CommitAlertEvaluation(ctx, "acme", "node-b", ev), auditkeep.ECONFLICT)
	if err := as.CommitAlertEvaluation(ctx, "acme", "node-a", ev); err != nil {
		t.Fatalf("CommitAlertEvaluation = %v", err)
	}
	// The same evaluation again (a restart that did not see its commit)
	// conflicts: the cursor moved.
	wantCode(t, "CommitAlertEvaluation(again)", as.CommitAlertEvaluation(ctx, "acme", "node-a", ev), auditkeep.ECONFLICT)
	if _, _, err := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{}); err != nil {
		t.Fatal(err)
	}
	got, err := as.GetAlert(ctx, "acme", "alt_1")
	if err != nil || !reflect.DeepEqual(got, a1) {
		t.Errorf("GetAlert = %+v, %v; want %+v", got, err, a1)
	}
	_, st, _ = as.LeaseAlertEvaluator(ctx, "acme", "node-a", time.Minute)
	if st != ev.To {
		t.Errorf("state after commit = %+v; want %+v", st, ev.To)
	}

	// Extending an alert and raising another.
	a1.Count, a1.LastEventAt, a1.LastSeq, a1.EventIDs = 6, at.Add(time.Minute), 14, append(a1.EventIDs, "e6")
	a1.UpdatedAt = at.Add(2 * time.Minute)
	a2 := sampleAlert("acme", "alt_2", "alr_1", at.Add(time.Hour), 30)
	a2.GroupKey = map[string]string{"actor": "u_7", "ip": "198.51.100.1"}
	ev2 := &auditkeep.AlertEvaluation{From: ev.To, To: auditkeep.AlertEvaluatorState{Cursor: 31, RebuildFrom: 20},
		Raised: []*auditkeep.Alert{a2}, Extended: []*auditkeep.Alert{a1}}
	if err := as.CommitAlertEvaluation(ctx, "acme", "node-a", ev2); err != nil {
		t.Fatalf("CommitAlertEvaluation(2) = %v", err)
	}
	if got, _ := as.GetAlert(ctx, "acme", "alt_1"); got == nil || got.Count != 6 || got.LastSeq != 14 || len(got.EventIDs) != 6 || !got.LastEventAt.Equal(a1.LastEventAt) {
		t.Errorf("extended alert = %+v", got)
	}

	// Another node takes over once the lease is given up.
	if err := as.ReleaseAlertEvaluator(ctx, "acme", "node-a"); err != nil {
		t.Fatal(err)
	}
	held, st, _ = as.LeaseAlertEvaluator(ctx, "acme", "node-b", time.Minute)
	if !held || st != ev2.To {
		t.Errorf("LeaseAlertEvaluator(node-b) after release = %v, %+v; want held at %+v", held, st, ev2.To)
	}
	wantCode(t, "CommitAlertEvaluation(old owner)", as.CommitAlertEvaluation(ctx, "acme", "node-a",
		&auditkeep.AlertEvaluation{From: ev2.To, To: auditkeep.AlertEvaluatorState{Cursor: 40}}), auditkeep.ECONFLICT)

	// Listing: newest first, filters, pages.
	list, next, err := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != "alt_2" || next == "" {
		t.Fatalf("ListAlerts(limit 1) = %v, %q, %v; want alt_2 and a cursor", alertIDs(list), next, err)
	}
	list, next, _ = as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{Limit: 1, Cursor: next})
	if len(list) != 1 || list[0].ID != "alt_1" || next != "" {
		t.Errorf("ListAlerts(page 2) = %v, %q; want alt_1 and no cursor", alertIDs(list), next)
	}
	_, _, err = as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{Cursor: "!!"})
	wantCode(t, "ListAlerts(bad cursor)", err, auditkeep.EINVALID)
	if list, _, _ := as.ListAlerts(ctx, "globex", auditkeep.AlertFilter{}); len(list) != 0 {
		t.Errorf("ListAlerts(globex) = %v; want none", alertIDs(list))
	}
	if list, _, _ := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{LastSeqAfter: 20}); len(list) != 1 || list[0].ID != "alt_2" {
		t.Errorf("ListAlerts(last_seq > 20) = %v; want alt_2", alertIDs(list))
	}

	// Acknowledge, resolve, and what they refuse.
	acked, err := as.SetAlertState(ctx, "acme", "alt_1", auditkeep.AlertAcknowledged, "key:k_1", at.Add(3*time.Hour))
	if err != nil || acked.State != auditkeep.AlertAcknowledged || acked.AcknowledgedBy != "key:k_1" || !acked.AcknowledgedAt.Equal(at.Add(3*time.Hour)) {
		t.Errorf("SetAlertState(acknowledged) = %+v, %v", acked, err)
	}
	_, err = as.SetAlertState(ctx, "acme", "alt_1", auditkeep.AlertAcknowledged, "key:k_1", at)
	wantCode(t, "acknowledge twice", err, auditkeep.ECONFLICT)
	res, err := as.SetAlertState(ctx, "acme", "alt_1", auditkeep.AlertResolved, "alice", at.Add(4*time.Hour))
	if err != nil || res.State != auditkeep.AlertResolved || res.ResolvedBy != "alice" || res.AcknowledgedBy != "key:k_1" {
		t.Errorf("SetAlertState(resolved) = %+v, %v", res, err)
	}
	_, err = as.SetAlertState(ctx, "acme", "alt_1", auditkeep.AlertResolved, "alice", at)
	wantCode(t, "resolve twice", err, auditkeep.ECONFLICT)
	_, err = as.SetAlertState(ctx, "acme", "alt_1", auditkeep.AlertAcknowledged, "alice", at)
	wantCode(t, "acknowledge a resolved alert", err, auditkeep.ECONFLICT)
	_, err = as.SetAlertState(ctx, "acme", "alt_2", auditkeep.AlertOpen, "alice", at)
	wantCode(t, "SetAlertState(open)", err, auditkeep.EINVALID)
	_, err = as.SetAlertState(ctx, "globex", "alt_2", auditkeep.AlertResolved, "alice", at)
	wantCode(t, "SetAlertState(other tenant)", err, auditkeep.ENOTFOUND)
	if list, _, _ := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{States: []string{auditkeep.AlertOpen, auditkeep.AlertAcknowledged}}); len(list) != 1 || list[0].ID != "alt_2" {
		t.Errorf("ListAlerts(open, acknowledged) = %v; want alt_2", alertIDs(list))
	}
	if list, _, _ := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{Severities: []string{auditkeep.SeverityLow}}); len(list) != 0 {
		t.Errorf("ListAlerts(low) = %v; want none", alertIDs(list))
	}
	if list, _, _ := as.ListAlerts(ctx, "acme", auditkeep.AlertFilter{RuleID: "alr_1", States: []string{auditkeep.AlertResolved}}); len(list) != 1 || list[0].ID != "alt_1" {
		t.Errorf("ListAlerts(alr_1, resolved) = %v; want alt_1", alertIDs(list))
	}
}

func alertIDs(as []*auditkeep.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func testAlertNotifications(t *testing.T, s auditkeep.Store) {
	ctx := context.Background()
	as := alertStore(t, s)
	createTenant(t, s, "acme")
	rule := sampleRule("acme", "alr_1", Base)
	if err := as.CreateAlertRule(ctx, rule); err != nil {
		t.Fatal(err)
	}
	if _, _, err := as.LeaseAlertEvaluator(ctx, "acme", "node-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	at := Base.Add(time.Hour)
	a := sampleAlert("acme", "alt_1", "alr_1", at, 10)
	if err := as.CommitAlertEvaluation(ctx, "acme", "node-a", &auditkeep.AlertEvaluation{
		To: auditkeep.AlertEvaluatorState{Cursor: 10}, Raised: []*auditkeep.Alert{a}}); err != nil {
		t.Fatal(err)
	}
	// One notification per channel, with the channel as it was.
	due, err := as.DueNotifications(ctx, "node-a", at.Add(time.Minute), time.Minute, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("DueNotifications = %d, %v; want 2", len(due), err)
	}
	if n := due[0]; n.AlertID != "alt_1" || n.Channel != 0 || n.Target.Type != auditkeep.ChannelWebhook ||
		string(n.Target.Secret) != string(rule.Channels[0].Secret) || n.Alert == nil || n.Alert.ID != "alt_1" || n.Alert.Count != 5 {
		t.Errorf("due[0] = %+v", n)
	}
	if n := due[1]; n.Channel != 1 || n.Target.Type != auditkeep.ChannelEmail || len(n.Target.To) != 2 {
		t.Errorf("due[1] = %+v", n)
	}
	// Claimed: another node sees none; nothing is due before its time.
	if other, _ := as.DueNotifications(ctx, "node-b", at.Add(time.Minute), time.Minute, 10); len(other) != 0 {
		t.Errorf("DueNotifications(node-b) while claimed = %d; want 0", len(other))
	}
	wantCode(t, "NotificationDelivered(not the claimer)", as.NotificationDelivered(ctx, "acme", due[0].ID, "node-b", at), auditkeep.ECONFLICT)
	wantCode(t, "NotificationDelivered(unknown)", as.NotificationDelivered(ctx, "acme", "nope", "node-a", at), auditkeep.ENOTFOUND)

	if err := as.NotificationDelivered(ctx, "acme", due[0].ID, "node-a", at.Add(2*time.Second)); err != nil {
		t.Fatalf("NotificationDelivered = %v", err)
	}
	retry := at.Add(10 * time.Minute)
	if err := as.NotificationFailed(ctx, "acme", due[1].ID, "node-a", "smtp: 550 no such user", at.Add(3*time.Second), retry); err != nil {
		t.Fatalf("NotificationFailed = %v", err)
	}
	got, _ := as.GetAlertRule(ctx, "acme", "alr_1")
	if c := got.Channels[0]; c.State != auditkeep.ChannelOK || !c.LastSuccessAt.Equal(at.Add(2*time.Second)) {
		t.Errorf("webhook channel status = %+v; want ok", c)
	}
	if c := got.Channels[1]; c.State != auditkeep.ChannelFailing || c.LastError != "smtp: 550 no such user" || !c.LastErrorAt.Equal(at.Add(3*time.Second)) {
		t.Errorf("email channel status = %+v; want failing", c)
	}
	if due, _ := as.DueNotifications(ctx, "node-b", retry.Add(-time.Second), time.Minute, 10); len(due) != 0 {
		t.Errorf("DueNotifications before the retry = %d; want 0", len(due))
	}
	due, _ = as.DueNotifications(ctx, "node-b", retry, time.Minute, 10)
	if len(due) != 1 || due[0].Channel != 1 || due[0].Attempts != 1 || due[0].LastError == "" {
		t.Fatalf("DueNotifications at the retry = %+v; want the email one, attempted once", due)
	}
	// Given up: never due again.
	if err := as.NotificationFailed(ctx, "acme", due[0].ID, "node-b", "smtp: 550", retry, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if due, _ := as.DueNotifications(ctx, "node-b", retry.Add(1000*time.Hour), time.Minute, 10); len(due) != 0 {
		t.Errorf("DueNotifications after giving up = %d; want 0", len(due))
	}
	// A channel changed by an update starts with no status.
	got.Channels[1].To = []string{"other@example.com"}
	if err := as.UpdateAlertRule(ctx, got); err != nil {
		t.Fatal(err)
	}
	got, _ = as.GetAlertRule(ctx, "acme", "alr_1")
	if got.Channels[0].State != auditkeep.ChannelOK || got.Channels[1].State != "" {
		t.Errorf("after changing channel 1: states %q, %q; want ok, none", got.Channels[0].State, got.Channels[1].State)
	}
}

// checkMatcher checks that the alert rules' in-memory matcher selects
// from all exactly the events the store returned for f (got, in any
// order): rules match events as search finds them.
func checkMatcher(t *testing.T, all []*auditkeep.Event, f auditkeep.Filter, got []string) {
	t.Helper()
	m, err := alert.NewMatcher(f)
	if err != nil {
		t.Errorf("alert.NewMatcher(%s) = %v", describe(f), err)
		return
	}
	var matched []string
	for _, e := range all {
		if m.Match(e) {
			matched = append(matched, e.ID)
		}
	}
	want := slices.Clone(got)
	slices.Sort(matched)
	slices.Sort(want)
	if !slices.Equal(matched, want) {
		t.Errorf("alert matcher(%s) =\n  %v\nthe store's\n  %v", describe(f), matched, want)
	}
}

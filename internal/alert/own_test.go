package alert_test

import (
	"context"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
)

// auditkeep's records of alerts (alert.open, …) count for no rule, even
// one matching all of auditkeep's own records: an alert never raises
// another. Its other records (a key made) do count.
func TestAlertRecordsRaiseNothing(t *testing.T) {
	f := newFixture(t)
	f.createRule(&auditkeep.AlertRule{ID: "alr_own", Tenant: "acme", Name: "auditkeep's records", Match: "source:auditkeep",
		Threshold: 1, Severity: auditkeep.SeverityLow, Enabled: true, CreatedAt: base, UpdatedAt: base, Version: 1})
	ev := f.evaluator("node-1", alert.Config{})
	own := func(id, action string) *auditkeep.Event {
		e := event(id, base, action, auditkeep.StatusSuccess, "auditkeep")
		e.Source = "auditkeep"
		return e
	}
	evs := []*auditkeep.Event{own("r1", "alert.open"), own("r2", "alert.acknowledge"), own("r3", "key.create")}
	f.add(ev, evs...)
	f.waitCursor(lastSeq(evs))
	as := f.alerts()
	if len(as) != 1 || len(as[0].EventIDs) != 1 || as[0].EventIDs[0] != "r3" {
		t.Fatalf("alerts = %+v; want one, of r3 only", as)
	}
	res, err := alert.Backtest(context.Background(), f.store, "acme", &auditkeep.AlertRule{ID: "t", Tenant: "acme", Name: "t", Match: "source:auditkeep",
		Threshold: 1, Severity: auditkeep.SeverityLow}, base.Add(-time.Hour), base.Add(time.Hour))
	if err != nil || res.Alerts != 1 {
		t.Errorf("Backtest = %+v, %v; want 1 alert (r3)", res, err)
	}
}

package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	configSettings = append(configSettings, configSetting{"alerts", "AUDITKEEP_ALERTS",
		"evaluate the tenants' alert rules on this node (one node evaluates each tenant at a time); true or false"})
}

// alertsFromEnv reads AUDITKEEP_ALERTS.
func alertsFromEnv(dst *bool, getenv func(string) string) error {
	if v := getenv("AUDITKEEP_ALERTS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("AUDITKEEP_ALERTS: %q is not true or false", v)
		}
		*dst = b
	}
	return nil
}

// openEvaluator makes the alert evaluator (not started): every node runs
// one, and the store's leases make one node evaluate each tenant. An alert
// it raises is recorded in the tenant's log (alert.open) and wakes the
// notifier, whose outbox rows were committed with the alert.
func (a *app) openEvaluator(reg prometheus.Registerer) (*alert.Evaluator, error) {
	as, ok := a.store.(alert.Store)
	if !ok {
		return nil, fmt.Errorf("alerts: the store keeps no alerts")
	}
	return alert.New(alert.Config{Store: as, Owner: a.streams.Owner(), Defaults: true, Logger: a.log, Registry: reg,
		Raised: func(ctx context.Context, al *auditkeep.Alert) {
			a.notifier.Notify()
			if err := a.api.RecordAlertOpen(ctx, al); err != nil {
				a.log.Warn("alerts: could not record an alert in the tenant's log", "tenant", al.Tenant, "alert", al.ID, "err", err)
			}
		}}), nil
}

// notifyAlerts wraps a commit hook so that the evaluator of each tenant
// of the commit looks at the new events at once.
func (a *app) notifyAlerts(next func([]*auditkeep.Event, ingest.CommitStats)) func([]*auditkeep.Event, ingest.CommitStats) {
	return func(stored []*auditkeep.Event, st ingest.CommitStats) {
		next(stored, st)
		a.evaluator.NotifyCommit(stored)
	}
}

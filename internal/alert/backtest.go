package alert

import (
	"context"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

// EventScanner is what Backtest needs of a store.
type EventScanner interface {
	ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error
}

// MaxBacktestExamples is how many of the alerts a backtest would raise it
// returns.
const MaxBacktestExamples = 10

// BacktestResult is what a rule would have raised over a span of the log.
type BacktestResult struct {
	Alerts   int                `json:"alerts"`   // how many
	Examples []*auditkeep.Alert `json:"examples"` // the first MaxBacktestExamples, oldest first
	Events   int                `json:"events"`   // events the rule matched
	Errors   int                `json:"errors"`   // events its condition failed to evaluate on
}

// Backtest runs rule r over the tenant's events whose occurred_at lies in
// [from, to], in occurred_at order, as the evaluator would have (with the
// suppression of the alerts it raises itself), and returns what it would
// have raised. It raises and stores nothing. The rule need not be
// enabled. Returns EINVALID for a rule that does not compile.
func Backtest(ctx context.Context, s EventScanner, tenant string, r *auditkeep.AlertRule, from, to time.Time) (*BacktestResult, error) {
	return backtest(ctx, s, tenant, r, from, to, MaxBacktestExamples)
}

// MaxBacktestAlerts is the most alerts the Evaluator's Backtest returns.
const MaxBacktestAlerts = 10000

// backtest is Backtest keeping up to keep examples.
func backtest(ctx context.Context, s EventScanner, tenant string, r *auditkeep.AlertRule, from, to time.Time, keep int) (*BacktestResult, error) {
	c, err := Compile(r)
	if err != nil {
		return nil, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, auditkeep.FieldErrorf("to", "to is before from")
	}
	f, err := search.Parse(r.Match)
	if err != nil {
		return nil, err
	}
	f.From, f.To, f.Sort, f.Order = from, to, auditkeep.SortTime, auditkeep.OrderAsc
	tr := newTracker(func() time.Time { return time.Time{} })
	tr.setRules([]*Rule{c})
	rs := tr.rules[c.ID]
	res := &BacktestResult{Examples: []*auditkeep.Alert{}}
	var in Input
	err = s.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		if alertRecord(e) {
			return nil
		}
		ok, err := c.Matches(e, &in)
		if err != nil {
			res.Errors++
			return nil
		}
		if !ok {
			return nil
		}
		res.Events++
		tr.add(rs, e, false)
		raised, _ := tr.take()
		for _, a := range raised {
			res.Alerts++
			// The alert's time is that of the event that raised it.
			a.CreatedAt, a.UpdatedAt = e.OccurredAt, e.OccurredAt
			if len(res.Examples) < keep {
				res.Examples = append(res.Examples, a)
			}
		}
		if res.Alerts >= 1 && res.Alerts%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, auditkeep.Unavailable(err)
		}
		return nil, err
	}
	return res, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
)

// Planner limits.
const (
	mergeMaxTerms = 16   // a driving term set up to this size is merged in k order; larger ones are read in windows and sorted
	existsMaxIDs  = 8    // a checked term set up to this size is probed per row; larger ones are materialised
	inlineMaxIDs  = 500  // id lists up to this size are bound one parameter each; larger ones as a JSON array
	timeProbeCap  = 4096 // a time range holding fewer events than this (and than the driving terms) drives the query
	countProbeCap = 4096 // postings counted at most for a term set of a field not counted on write
)

// driver names what a query scans in k order.
type driver int

const (
	byScan     driver = iota // the tenant's k range
	byPostings               // one term set
	byTime                   // the occurred_at index, then sorted
	byText                   // the full-text index
)

// choice is a driver the planner chose: what a plan's queries scan in k
// order, and for byPostings the driving term set (an index in plan.pos).
// A scan of many pages chooses once, for its first page, and keeps the
// choice for the next ones.
type choice struct {
	drv  driver
	best int
}

// follow returns ch, or when ch is nil the planner's choice for the keys
// between lo and hi.
func (p *plan) follow(ctx context.Context, q querier, ch *choice, lo, hi int64, limit int) (*choice, error) {
	if ch != nil {
		return ch, nil
	}
	drv, best, err := p.choose(ctx, q, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	return &choice{drv: drv, best: best}, nil
}

// choose picks the driver: the cheapest term set (bestGroup), unless the
// time range holds fewer events than timeProbeCap and than that set, in
// which case the time index drives; without terms, full text or the
// tenant's range, after the same test of the time range.
func (p *plan) choose(ctx context.Context, q querier, lo, hi int64, limit int) (driver, int, error) {
	if p.byTime {
		return p.chooseTime(ctx, q, lo, hi, limit)
	}
	best := p.bestGroup(limit)
	timeBelow := func(limit int64) (bool, error) { return p.timeBelow(ctx, q, limit) }
	switch {
	case best >= 0:
		if ok, err := timeBelow(min(p.pos[best].count, timeProbeCap)); err != nil || ok {
			return byTime, -1, err
		}
		return byPostings, best, nil
	case p.textPos != "":
		if ok, err := timeBelow(timeProbeCap); err != nil || ok {
			return byTime, -1, err
		}
		return byText, -1, nil
	default:
		if ok, err := timeBelow(timeProbeCap); err != nil || ok {
			return byTime, -1, err
		}
		if !p.hasTime {
			return byScan, -1, nil
		}
		// A wide range: scanning keys passes every event outside the range
		// before reaching it. When the range starts (in the scan's
		// direction) far away, and holds fewer events than that distance,
		// sorting the range is cheaper.
		skip, err := p.timeSkip(ctx, q, lo, hi)
		if err != nil {
			return 0, 0, err
		}
		if skip > timeProbeCap {
			if ok, err := timeBelow(min(skip, 1<<20)); err != nil || ok {
				return byTime, -1, err
			}
		}
		return byScan, -1, nil
	}
}

// timeBelow reports whether the time range holds fewer than limit events
// (false without a time range).
func (p *plan) timeBelow(ctx context.Context, q querier, limit int64) (bool, error) {
	if !p.hasTime {
		return false, nil
	}
	var n int64
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events INDEXED BY events_time
		WHERE (k >> 40) = ? AND occurred_at BETWEEN ? AND ? LIMIT ?)`, p.num, p.from, p.to, limit).Scan(&n)
	if err != nil {
		return false, dbError(err)
	}
	return n < limit, nil
}

// timeSkip estimates how many keys a scan from hi down (or lo up) passes
// before the first event of the time range: the distance to the key of the
// range's last (first) event by occurred_at. Occurrence times roughly
// follow seq, so this is close, and it only steers the choice.
func (p *plan) timeSkip(ctx context.Context, q querier, lo, hi int64) (int64, error) {
	dir := "DESC"
	if !p.desc {
		dir = "ASC"
	}
	var k int64
	err := q.QueryRowContext(ctx, `SELECT k FROM events INDEXED BY events_time
		WHERE (k >> 40) = ? AND occurred_at BETWEEN ? AND ? ORDER BY occurred_at `+dir+` LIMIT 1`, p.num, p.from, p.to).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError(err)
	}
	if p.desc {
		return max(hi-k, 0), nil
	}
	return max(k-lo, 0), nil
}

// bestGroup returns the positive term set that should drive the query (-1
// when there is none): the one with the least estimated work, taking
// terms as independent. Driving by set g reads about
// min(count(g), limit / Π selectivity of the others) candidates and checks
// each against the other sets: one index probe per term id for small sets,
// one for a larger set once it is materialised (which costs its count).
func (p *plan) bestGroup(limit int) int {
	n := float64(max(p.events, 1))
	best, bestCost := -1, math.Inf(1)
	for i, g := range p.pos {
		sel, probes, fixed := 1.0, 1.0, 0.0
		for j, o := range p.pos {
			if j == i {
				continue
			}
			sel *= min(1, float64(o.count)/n)
			if len(o.ids) <= existsMaxIDs {
				probes += float64(len(o.ids))
			} else {
				probes++
				fixed += float64(o.count)
			}
		}
		candidates := float64(g.count)
		if sel > 0 {
			candidates = min(candidates, float64(limit+1)/sel)
		}
		perCandidate := probes
		if len(g.ids) > 1 && len(g.ids) <= mergeMaxTerms {
			perCandidate += math.Log2(float64(len(g.ids))) / 4 // the merge
		} else if len(g.ids) > mergeMaxTerms {
			perCandidate += 1 // windows and their sort
		}
		if cost := candidates*perCandidate + fixed; cost < bestCost {
			best, bestCost = i, cost
		}
	}
	return best
}

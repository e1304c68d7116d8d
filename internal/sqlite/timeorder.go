package sqlite

import (
	"context"
	"math"
)

// Reading in time order: events by (occurred_at, k), newest first or
// oldest first. The drivers read keys in that order from
//   - byTime: the (tenant, occurred_at) index of events, whose rows end in
//     k, with every term set and the full text as checks;
//   - byPostings: postings_time of one term set, keyed (term, t, k): one
//     arm per term merged, or, for a set too large to merge, windows of
//     time sized by its density and sorted;
//   - byText: the full-text matches, sorted by time: chosen only when they
//     are fewer than timeProbeCap.

// chooseTime picks the driver of a plan in time order: the cheapest term
// set (bestGroup), unless the time range holds fewer events than
// timeProbeCap and than that set; without terms, the full-text matches
// when they are few, else the time index.
func (p *plan) chooseTime(ctx context.Context, q querier, lo, hi int64, limit int) (driver, int, error) {
	best := p.bestGroup(limit)
	switch {
	case best >= 0:
		if ok, err := p.timeBelow(ctx, q, min(p.pos[best].count, timeProbeCap)); err != nil || ok {
			return byTime, -1, err
		}
		return byPostings, best, nil
	case p.textPos != "":
		if ok, err := p.timeBelow(ctx, q, timeProbeCap); err != nil || ok {
			return byTime, -1, err
		}
		var n int64
		err := q.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events_fts
			WHERE events_fts MATCH ? AND rowid BETWEEN ? AND ? LIMIT ?)`, p.textPos, lo, hi, timeProbeCap).Scan(&n)
		if err != nil {
			return 0, 0, dbError(err)
		}
		if n < timeProbeCap {
			return byText, -1, nil
		}
		return byTime, -1, nil
	default:
		return byTime, -1, nil
	}
}

// span is a range of occurred_at, inclusive, and the page's start within it.
type span struct {
	from, to int64
	after    mark
	afterK   int64 // the key of after.seq; 0 for the first page
}

// timeSpan returns the plan's time range narrowed to what follows after in
// the plan's order; ok is false when nothing does.
func (p *plan) timeSpan(after mark) (sp span, ok bool) {
	sp = span{from: p.from, to: p.to, after: after}
	if after.seq > 0 {
		sp.afterK = p.num<<40 | after.seq
		if p.desc {
			sp.to = min(sp.to, after.at)
		} else {
			sp.from = max(sp.from, after.at)
		}
	}
	return sp, sp.from <= sp.to
}

// timeKeys returns up to limit keys between lo and hi after `after`, in
// time order, driven by drv (and for byPostings, p.pos[best]). A driving
// term set too large to merge is read in windows of time.
func (p *plan) timeKeys(ctx context.Context, q querier, drv driver, best int, after mark, lo, hi int64, limit int) ([]int64, error) {
	sp, ok := p.timeSpan(after)
	if !ok {
		return nil, nil
	}
	if drv != byPostings || len(p.pos[best].ids) <= mergeMaxTerms || p.events == 0 {
		query, args := p.buildTime(drv, best, sp, lo, hi, limit)
		return queryTimeKeys(ctx, q, query, args)
	}
	// Windows: the tenant's time range, spread evenly over its events,
	// gives the time that holds 2 × limit of the set's postings.
	var first, last int64
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT occurred_at FROM events INDEXED BY events_time WHERE (k >> 40) = ?1 ORDER BY occurred_at ASC LIMIT 1),
		(SELECT occurred_at FROM events INDEXED BY events_time WHERE (k >> 40) = ?1 ORDER BY occurred_at DESC LIMIT 1)`, p.num).Scan(&first, &last)
	if err != nil {
		return nil, dbError(err)
	}
	sp.from, sp.to = max(sp.from, first), min(sp.to, last)
	perEvent := float64(last-first) / float64(p.events)
	density := float64(max(p.pos[best].count, 1)) / float64(p.events)
	w := int64(min(math.MaxInt64/8, perEvent*max(float64(2*limit)/density, float64(p.minWindow))))
	w = max(w, 1)
	var keys []int64
	for sp.from <= sp.to && len(keys) < limit {
		win := sp
		if p.desc {
			if sp.to-sp.from >= w {
				win.from = sp.to - w + 1
			}
		} else if sp.to-sp.from >= w {
			win.to = sp.from + w - 1
		}
		query, args := p.buildTime(drv, best, win, lo, hi, limit-len(keys))
		got, err := queryTimeKeys(ctx, q, query, args)
		if err != nil {
			return nil, err
		}
		keys = append(keys, got...)
		if p.desc {
			if win.from == math.MinInt64 {
				break
			}
			sp.to = win.from - 1
		} else {
			if win.to == math.MaxInt64 {
				break
			}
			sp.from = win.to + 1
		}
		w = min(w, math.MaxInt64/8) * 4
	}
	return keys, nil
}

// buildTime returns the statement selecting (occurred_at, k) of up to
// limit events within sp and between keys lo and hi, in time order,
// driven by drv (and for byPostings, p.pos[best]).
func (p *plan) buildTime(drv driver, best int, sp span, lo, hi int64, limit int) (string, []any) {
	dir, cmp := " DESC", "<"
	if !p.desc {
		dir, cmp = " ASC", ">"
	}
	var qq qb
	// within writes the conditions of sp on the columns t and k.
	within := func(t, k string) {
		qq.arg(" AND "+t+" BETWEEN ?", sp.from).arg(" AND ?", sp.to)
		if sp.afterK != 0 {
			qq.arg(" AND ("+t+" "+cmp+" ?", sp.after.at).arg(" OR "+k+" "+cmp+" ?)", sp.afterK)
		}
	}
	switch drv {
	case byPostings:
		g := p.pos[best]
		if len(g.ids) <= mergeMaxTerms {
			// One arm per term, each in (t, k) order by the primary key;
			// SQLite merges them.
			for i, id := range g.ids {
				if i > 0 {
					qq.sql(" UNION ")
				}
				qq.arg("SELECT p.t, p.k FROM postings_time p WHERE p.term = ?", id)
				within("p.t", "p.k")
				qq.arg(" AND p.k BETWEEN ?", lo).arg(" AND ?", hi)
				p.conds(&qq, "p.k", best, lo, hi)
			}
			qq.sql(" ORDER BY 1" + dir + ", 2" + dir)
		} else {
			qq.sql("SELECT DISTINCT p.t, p.k FROM postings_time p WHERE p.term IN ").ids(g.ids)
			within("p.t", "p.k")
			qq.arg(" AND p.k BETWEEN ?", lo).arg(" AND ?", hi)
			p.conds(&qq, "p.k", best, lo, hi)
			qq.sql(" ORDER BY p.t" + dir + ", p.k" + dir)
		}
	case byText:
		qq.sql("SELECT e.occurred_at, e.k FROM events_fts CROSS JOIN events e ON e.k = events_fts.rowid").
			arg(" WHERE events_fts MATCH ?", p.textPos).
			arg(" AND events_fts.rowid BETWEEN ?", lo).arg(" AND ?", hi)
		within("e.occurred_at", "e.k")
		p.conds(&qq, "events_fts.rowid", -1, lo, hi)
		qq.sql(" ORDER BY e.occurred_at" + dir + ", e.k" + dir)
	default:
		qq.arg("SELECT e.occurred_at, e.k FROM events e INDEXED BY events_time WHERE (e.k >> 40) = ?", p.num)
		within("e.occurred_at", "e.k")
		qq.arg(" AND e.k BETWEEN ?", lo).arg(" AND ?", hi)
		p.conds(&qq, "e.k", -1, lo, hi)
		qq.sql(" ORDER BY e.occurred_at" + dir + ", e.k" + dir)
	}
	qq.arg(" LIMIT ?", limit)
	return qq.b.String(), qq.args
}

// queryTimeKeys returns the keys of rows of (occurred_at, k).
func queryTimeKeys(ctx context.Context, q querier, query string, args []any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var t, k int64
		if err := rows.Scan(&t, &k); err != nil {
			return nil, dbError(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return keys, nil
}

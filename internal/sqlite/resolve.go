package sqlite

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/auditkeep/auditkeep"
)

// group is a set of term ids and the number of events posting them.
type group struct {
	ids   []int64
	count int64
}

// plan is a filter resolved against a tenant's dictionary.
type plan struct {
	tenant    string
	num       int64
	desc      bool
	byTime    bool // ordered by (occurred_at, k) instead of k
	hasTime   bool
	from, to  int64 // occurred_at bounds in Unix nanoseconds, inclusive
	pos, neg  []group
	textPos   string // FTS5 MATCH expression the events must match ("" for none)
	textNeg   string // FTS5 MATCH expression the events must not match
	empty     bool   // some condition matches nothing
	events    int64  // the tenant's last seq (about its number of events), read by page
	minWindow int64  // smallest window of keys read for a large term set
}

// resolve turns f into term-id sets and full-text expressions. Returns
// EINVALID for a term the store cannot run.
func resolve(ctx context.Context, q querier, tenant string, num int64, f *auditkeep.Filter) (*plan, error) {
	p := &plan{tenant: tenant, num: num, desc: f.Desc(), byTime: f.ByTime(), from: math.MinInt64, to: math.MaxInt64, minWindow: 4096}
	if !f.From.IsZero() {
		p.hasTime, p.from = true, unixNano(f.From)
	}
	if !f.To.IsZero() {
		p.hasTime, p.to = true, unixNano(f.To)
	}
	if p.from > p.to {
		p.empty = true
	}
	for i, t := range f.Terms {
		g, all, err := resolveTerm(ctx, q, num, t, fmt.Sprintf("terms[%d]", i))
		if err != nil {
			return nil, err
		}
		switch {
		case all && t.Negate:
			p.empty = true
		case all:
		case t.Negate:
			if len(g.ids) > 0 {
				p.neg = append(p.neg, g)
			}
		default:
			if len(g.ids) == 0 {
				p.empty = true
			}
			p.pos = append(p.pos, g)
		}
	}
	var pos, neg []string
	for _, t := range f.Text {
		x := ftsExpr(t)
		if x == "" {
			continue
		}
		if t.Negate {
			neg = append(neg, x)
		} else {
			pos = append(pos, x)
		}
	}
	p.textPos = strings.Join(pos, " AND ")
	p.textNeg = strings.Join(neg, " OR ")
	return p, nil
}

// resolveTerm returns the term ids matching any of t's values; all is true
// when the term matches every event (action "*"). t is valid (see
// auditkeep.Filter.Validate).
func resolveTerm(ctx context.Context, q querier, num int64, t auditkeep.Term, name string) (g group, all bool, err error) {
	field, ok := fieldCodes[t.Field]
	if !ok {
		return g, false, auditkeep.FieldErrorf(name, "unknown filter %q", t.Field)
	}
	seen := map[int64]bool{}
	add := func(query string, args ...any) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return dbError(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, n int64
			if err := rows.Scan(&id, &n); err != nil {
				return dbError(err)
			}
			if !seen[id] {
				seen[id] = true
				g.ids = append(g.ids, id)
				g.count += n
			}
		}
		if err := rows.Err(); err != nil {
			return dbError(err)
		}
		return nil
	}
	const exact = "SELECT id, count FROM terms WHERE tenant = ? AND field = ? AND value = ?"
	const between = "SELECT id, count FROM terms WHERE tenant = ? AND field = ? AND value >= ? AND value <= ?"
	for _, v := range t.Values {
		switch field {
		case fAction:
			if prefix, ok := strings.CutSuffix(v, "*"); ok {
				if prefix == "" {
					return g, true, nil
				}
				// Action names are ASCII: every name with the prefix sorts
				// between the prefix and the prefix followed by 0x7f.
				err = add(between, num, field, prefix, prefix+"\x7f")
			} else {
				err = add(exact, num, field, v)
			}
		case fActor:
			// The event's own id, name or email: never another event's
			// name for the same id.
			if err = add(exact, num, field, v); err == nil {
				err = add(exact, num, fActorName, strings.ToLower(v))
			}
		case fTarget:
			err = add(exact, num, field, strings.ToLower(v))
		case fIP:
			pfx, perr := auditkeep.ParseIPFilter(v)
			if perr != nil {
				return g, false, auditkeep.FieldErrorf(name, "%q is not an IP address or CIDR prefix", v)
			}
			lo, hi := ipRange(pfx)
			err = add(between, num, field, lo, hi)
		default:
			err = add(exact, num, field, v)
		}
		if err != nil {
			return g, false, err
		}
	}
	if !counted(field) && len(g.ids) > 0 {
		// Not counted on write: count the postings, up to countProbeCap.
		if g.count, err = countPostings(ctx, q, num, g.ids); err != nil {
			return g, false, err
		}
	}
	return g, false, nil
}

// countPostings returns the number of the tenant's postings of ids, up to
// countProbeCap.
func countPostings(ctx context.Context, q querier, num int64, ids []int64) (int64, error) {
	lo, hi := tenantRange(num)
	var qq qb
	qq.sql("SELECT count(*) FROM (SELECT 1 FROM postings WHERE term IN ").ids(ids).
		arg(" AND k BETWEEN ?", lo).arg(" AND ?", hi).arg(" LIMIT ?", countProbeCap).sql(")")
	var n int64
	if err := q.QueryRowContext(ctx, qq.b.String(), qq.args...).Scan(&n); err != nil {
		return 0, dbError(err)
	}
	return n, nil
}

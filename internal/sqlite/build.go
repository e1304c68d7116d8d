package sqlite

import (
	"strconv"
	"strings"
)

// qb builds a statement and its arguments. Only fixed SQL goes into the
// text; every value is an argument.
type qb struct {
	b    strings.Builder
	args []any
}

func (q *qb) sql(s string) *qb { q.b.WriteString(s); return q }

func (q *qb) arg(s string, v any) *qb {
	q.b.WriteString(s)
	q.args = append(q.args, v)
	return q
}

// jsonInts returns ids as a JSON array.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, 12*len(ids)+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// ids writes "(?, ?, …)" or, for long lists, "(SELECT value FROM json_each(?))".
func (q *qb) ids(ids []int64) *qb {
	if len(ids) > inlineMaxIDs {
		return q.arg("(SELECT value FROM json_each(?))", jsonInts(ids))
	}
	q.b.WriteByte('(')
	for i, id := range ids {
		if i > 0 {
			q.b.WriteString(", ")
		}
		q.arg("?", id)
	}
	q.b.WriteByte(')')
	return q
}

// args1 records the argument of a "?" already written.
func (q *qb) args1(v any) *qb {
	q.args = append(q.args, v)
	return q
}

// build returns the statement selecting up to limit keys between lo and hi
// in the plan's order, driven by drv (and for byPostings, p.pos[best]).
func (p *plan) build(drv driver, best int, lo, hi int64, limit int) (string, []any) {
	dir := " ASC"
	if p.desc {
		dir = " DESC"
	}
	var qq qb
	switch drv {
	case byPostings:
		g := p.pos[best]
		if len(g.ids) <= mergeMaxTerms {
			// One arm per term, each in k order by the primary key; SQLite
			// merges them (UNION also drops events posted under two of the
			// terms, as scope prefixes are).
			for i, id := range g.ids {
				if i > 0 {
					qq.sql(" UNION ")
				}
				qq.sql("SELECT p.k FROM postings p")
				p.joinTime(&qq, "p.k")
				qq.arg(" WHERE p.term = ?", id).arg(" AND p.k BETWEEN ?", lo).arg(" AND ?", hi)
				p.checks(&qq, "p.k", best, lo, hi)
			}
			qq.sql(" ORDER BY 1" + dir)
		} else {
			qq.sql("SELECT DISTINCT p.k FROM postings p")
			p.joinTime(&qq, "p.k")
			qq.sql(" WHERE p.term IN ").ids(g.ids).arg(" AND p.k BETWEEN ?", lo).arg(" AND ?", hi)
			p.checks(&qq, "p.k", best, lo, hi)
			qq.sql(" ORDER BY p.k" + dir)
		}
	case byTime:
		qq.arg("SELECT e.k FROM events e INDEXED BY events_time WHERE (e.k >> 40) = ?", p.num).
			arg(" AND e.occurred_at BETWEEN ?", p.from).arg(" AND ?", p.to).
			arg(" AND e.k BETWEEN ?", lo).arg(" AND ?", hi)
		p.checks(&qq, "e.k", -1, lo, hi)
		qq.sql(" ORDER BY e.k" + dir)
	case byText:
		qq.sql("SELECT events_fts.rowid FROM events_fts")
		p.joinTime(&qq, "events_fts.rowid")
		qq.arg(" WHERE events_fts MATCH ?", p.textPos).
			arg(" AND events_fts.rowid BETWEEN ?", lo).arg(" AND ?", hi)
		p.checks(&qq, "events_fts.rowid", -1, lo, hi)
		qq.sql(" ORDER BY events_fts.rowid" + dir)
	default:
		return p.scanSQL("e.k", lo, hi, limit)
	}
	qq.arg(" LIMIT ?", limit)
	return qq.b.String(), qq.args

}

// scanSQL returns the statement of the byScan driver: cols (of events e)
// of up to limit events between lo and hi in the plan's order.
func (p *plan) scanSQL(cols string, lo, hi int64, limit int) (string, []any) {
	var qq qb
	qq.arg("SELECT "+cols+" FROM events e WHERE e.k BETWEEN ?", lo).arg(" AND ?", hi)
	if p.hasTime {
		qq.arg(" AND e.occurred_at BETWEEN ?", p.from).arg(" AND ?", p.to)
	}
	p.checks(&qq, "e.k", -1, lo, hi)
	if p.desc {
		qq.sql(" ORDER BY e.k DESC")
	} else {
		qq.sql(" ORDER BY e.k ASC")
	}
	qq.arg(" LIMIT ?", limit)
	return qq.b.String(), qq.args
}

// joinTime joins the events row of k when the time range must be checked.
func (p *plan) joinTime(qq *qb, k string) {
	if p.hasTime {
		qq.sql(" JOIN events e ON e.k = " + k)
	}
}

// checks appends the conditions of every term set but the driving one
// (skip), the full-text conditions not driving, and the time range when
// the events row is joined. k is the SQL expression of the candidate key.
func (p *plan) checks(qq *qb, k string, skip int, lo, hi int64) {
	if p.hasTime && !strings.HasPrefix(k, "e.") {
		qq.arg(" AND e.occurred_at BETWEEN ?", p.from).arg(" AND ?", p.to)
	}
	p.conds(qq, k, skip, lo, hi)
}

// conds appends the conditions of checks but the time range.
func (p *plan) conds(qq *qb, k string, skip int, lo, hi int64) {
	set := func(g group, not bool) {
		neg := ""
		if not {
			neg = "NOT "
		}
		if len(g.ids) <= existsMaxIDs {
			qq.sql(" AND " + neg + "EXISTS (SELECT 1 FROM postings WHERE term IN ").ids(g.ids).sql(" AND k = " + k + ")")
			return
		}
		qq.sql(" AND "+k+" "+neg+"IN (SELECT k FROM postings WHERE term IN ").ids(g.ids).
			arg(" AND k BETWEEN ?", lo).arg(" AND ?", hi).sql(")")
	}
	for i, g := range p.pos {
		if i != skip {
			set(g, false)
		}
	}
	for _, g := range p.neg {
		set(g, true)
	}
	if p.textPos != "" && !strings.HasPrefix(k, "events_fts.") {
		qq.sql(" AND "+k+" IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?").args1(p.textPos).
			arg(" AND rowid BETWEEN ?", lo).arg(" AND ?", hi).sql(")")
	}
	if p.textNeg != "" {
		qq.sql(" AND "+k+" NOT IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?").args1(p.textNeg).
			arg(" AND rowid BETWEEN ?", lo).arg(" AND ?", hi).sql(")")
	}
}

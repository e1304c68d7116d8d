package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/auditkeep/auditkeep"
)

// scanPage is the page size ScanEvents reads at a time.
const scanPage = 1000

// Planner limits.
const (
	mergeMaxTerms = 16   // a driving term set up to this size is merged in k order; larger ones are read in windows and sorted
	existsMaxIDs  = 8    // a checked term set up to this size is probed per row; larger ones are materialised
	inlineMaxIDs  = 500  // id lists up to this size are bound one parameter each; larger ones as a JSON array
	timeProbeCap  = 4096 // a time range holding fewer events than this (and than the driving terms) drives the query
	countProbeCap = 4096 // postings counted at most for a term set of a field not counted on write
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

	// The driver, chosen for the first page and kept for the next ones
	// (ScanEvents reads every page with one plan).
	chosen bool
	drv    driver
	best   int
}

// ListEvents returns one page of the tenant's events matching f, in f's
// order, and the cursor of the next page (nil when this is the last).
// Returns EINVALID for a filter the store cannot run, EUNAVAILABLE when
// storage fails. An unknown tenant has no events.
func (s *Store) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	if err := f.CheckSort(); err != nil {
		return nil, nil, err
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return nil, nil, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, dbError(err)
	}
	defer tx.Rollback()
	p, err := resolve(ctx, tx, tenant, num, &f)
	if err != nil {
		return nil, nil, err
	}
	events, more, err := p.page(ctx, tx, s.rs, markOf(f.Cursor), f.PageSize())
	if err != nil {
		return nil, nil, err
	}
	var next *auditkeep.Cursor
	if more {
		next = f.After(events[len(events)-1])
	}
	return events, next, nil
}

// ScanEvents calls fn for every event of the tenant matching f, in f's
// order, ignoring f.Limit, reading scanPage events at a time (no
// transaction is held while fn runs). It stops at fn's first error and
// returns it. Returns EINVALID for a filter the store cannot run,
// EUNAVAILABLE when storage fails.
func (s *Store) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	if err := f.CheckSort(); err != nil {
		return err
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return err
	}
	var p *plan
	after := markOf(f.Cursor)
	for {
		events, more, err := s.scanPage(ctx, tenant, num, &f, &p, after)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		last := events[len(events)-1]
		after = mark{at: unixNano(last.OccurredAt), seq: last.Seq}
	}
}

func (s *Store) scanPage(ctx context.Context, tenant string, num int64, f *auditkeep.Filter, p **plan, after mark) ([]*auditkeep.Event, bool, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, dbError(err)
	}
	defer tx.Rollback()
	if *p == nil {
		if *p, err = resolve(ctx, tx, tenant, num, f); err != nil {
			return nil, false, err
		}
	}
	return (*p).page(ctx, tx, s.rs, after, scanPage)
}

// GetEvent returns the tenant's event with id. Returns ENOTFOUND,
// EUNAVAILABLE when storage fails.
func (s *Store) GetEvent(ctx context.Context, tenant, id string) (*auditkeep.Event, error) {
	notFound := auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q not found", id)
	num, err := s.tenantNum(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if num == 0 {
		return nil, notFound
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	lo, hi := tenantRange(num)
	rows, err := tx.QueryContext(ctx, sqlFindID, idHash(num, id), lo, hi)
	if err != nil {
		return nil, dbError(err)
	}
	var found *auditkeep.Event
	for rows.Next() {
		var k int64
		var body []byte
		if err := rows.Scan(&k, &body); err != nil {
			rows.Close()
			return nil, dbError(err)
		}
		e, err := decodeBody(body, tenant, k&seqMask)
		if err != nil {
			rows.Close()
			return nil, dbError(err)
		}
		if e.ID == id {
			found = e
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	if found == nil {
		return nil, notFound
	}
	if err := markDeleted(ctx, tx.StmtContext(ctx, s.rs.deleted), num, []*auditkeep.Event{found}); err != nil {
		return nil, dbError(err)
	}
	return found, nil
}

// mark is where a page starts: after the event of seq (occurred_at at,
// for a plan in time order) in the plan's order; seq 0 for the first page.
type mark struct{ at, seq int64 }

func markOf(c *auditkeep.Cursor) mark {
	if c == nil {
		return mark{}
	}
	return mark{at: c.At, seq: c.Seq}
}

// querier is what resolve and page need of a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
// when the term matches every event (action "*").
func resolveTerm(ctx context.Context, q querier, num int64, t auditkeep.Term, name string) (g group, all bool, err error) {
	field, ok := fieldCodes[t.Field]
	if !ok {
		return g, false, auditkeep.FieldErrorf(name, "unknown filter %q", t.Field)
	}
	if len(t.Values) == 0 {
		return g, false, auditkeep.FieldErrorf(name, "filter %q has no value", t.Field)
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
		if err := auditkeep.ValidateTermValue(t.Field, name, v); err != nil {
			return g, false, err
		}
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

// ftsExpr returns the FTS5 expression of a text term: each word (or the
// whole phrase) as an FTS5 string, so that nothing the user typed is FTS5
// syntax; "*" after the last one for a prefix. "" when there is no word.
func ftsExpr(t auditkeep.TextTerm) string {
	var parts []string
	if t.Phrase {
		parts = []string{t.Text}
	} else {
		parts = strings.Fields(t.Text)
	}
	// A word without a letter or digit has no token: drop it.
	parts = slices.DeleteFunc(parts, func(w string) bool { return !strings.ContainsFunc(w, isWordRune) })
	if len(parts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, w := range parts {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		b.WriteByte('"')
		if t.Prefix && i == len(parts)-1 {
			b.WriteString(" *")
		}
	}
	b.WriteByte(')')
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

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

// driver names what a query scans in k order.
type driver int

const (
	byScan     driver = iota // the tenant's k range
	byPostings               // one term set
	byTime                   // the occurred_at index, then sorted
	byText                   // the full-text index
)

// choose picks the driver: the cheapest term set (bestGroup), unless the
// time range holds fewer events than timeProbeCap and than that set, in
// which case the time index drives; without terms, full text or the
// tenant's range, after the same test of the time range.
func (p *plan) choose(ctx context.Context, q querier, lo, hi int64, limit int) (driver, int, error) {
	if p.chosen {
		return p.drv, p.best, nil
	}
	drv, best, err := p.choose1(ctx, q, lo, hi, limit)
	if err == nil {
		p.chosen, p.drv, p.best = true, drv, best
	}
	return drv, best, err
}

// choose1 makes the choice of choose.
func (p *plan) choose1(ctx context.Context, q querier, lo, hi int64, limit int) (driver, int, error) {
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

// page returns up to limit events after `after` (its zero value: from the
// start) in the plan's order, and whether there may be more.
func (p *plan) page(ctx context.Context, q *sql.Tx, rs *readStmts, after mark, limit int) ([]*auditkeep.Event, bool, error) {
	keys, more, err := p.pageKeys(ctx, q, after, limit)
	if err != nil || len(keys) == 0 {
		return nil, false, err
	}
	events, err := loadEvents(ctx, q.StmtContext(ctx, rs.load), p.tenant, keys)
	if err != nil {
		return nil, false, dbError(err)
	}
	if err := markDeleted(ctx, q.StmtContext(ctx, rs.deleted), p.num, events); err != nil {
		return nil, false, dbError(err)
	}
	return events, more, nil
}

// pageKeys returns the keys of page: up to limit keys after `after` in the
// plan's order, and whether there may be more.
func (p *plan) pageKeys(ctx context.Context, q *sql.Tx, after mark, limit int) ([]int64, bool, error) {
	lo, hi, ok, err := p.pageRange(ctx, q, after)
	if err != nil || !ok {
		return nil, false, err
	}
	drv, best, err := p.choose(ctx, q, lo, hi, limit+1)
	if err != nil {
		return nil, false, err
	}
	var keys []int64
	if p.byTime {
		keys, err = p.timeKeys(ctx, q, drv, best, after, lo, hi, limit+1)
	} else {
		keys, err = p.keys(ctx, q, drv, best, lo, hi, limit+1)
	}
	if err != nil {
		return nil, false, dbError(err)
	}
	more := len(keys) > limit
	if more {
		keys = keys[:limit]
	}
	return keys, more, nil
}

// pageRange returns the keys between which the page after `after` lies (in
// time order, the tenant's keys); ok is false when it is empty.
func (p *plan) pageRange(ctx context.Context, q *sql.Tx, after mark) (lo, hi int64, ok bool, err error) {
	if p.empty {
		return 0, 0, false, nil
	}
	if err := q.QueryRowContext(ctx, "SELECT last_seq FROM tenants WHERE num = ?", p.num).Scan(&p.events); err != nil {
		return 0, 0, false, dbError(err)
	}
	lo, hi = tenantRange(p.num)
	hi = min(hi, p.num<<40|p.events)
	if after.seq > 0 && !p.byTime {
		if p.desc {
			hi = p.num<<40 | (after.seq - 1)
		} else {
			lo = p.num<<40 | (after.seq + 1)
		}
	}
	return lo, hi, lo <= hi, nil
}

// keys returns up to limit keys between lo and hi in the plan's order. A
// driving term set too large to merge is read in windows of keys sized by
// its density, so that sorting its postings costs about one page.
func (p *plan) keys(ctx context.Context, q querier, drv driver, best int, lo, hi int64, limit int) ([]int64, error) {
	if drv != byPostings || len(p.pos[best].ids) <= mergeMaxTerms || p.events == 0 {
		query, args := p.build(drv, best, lo, hi, limit)
		return queryKeys(ctx, q, query, args)
	}
	density := float64(max(p.pos[best].count, 1)) / float64(p.events)
	w := max(int64(float64(2*limit)/density), p.minWindow)
	var keys []int64
	for lo <= hi && len(keys) < limit {
		wlo, whi := lo, hi
		if p.desc {
			wlo = max(lo, hi-w+1)
		} else {
			whi = min(hi, lo+w-1)
		}
		query, args := p.build(drv, best, wlo, whi, limit-len(keys))
		got, err := queryKeys(ctx, q, query, args)
		if err != nil {
			return nil, err
		}
		keys = append(keys, got...)
		if p.desc {
			hi = wlo - 1
		} else {
			lo = whi + 1
		}
		w *= 4
	}
	return keys, nil
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

// args1 records the argument of a "?" already written.
func (q *qb) args1(v any) *qb {
	q.args = append(q.args, v)
	return q
}

func queryKeys(ctx context.Context, q querier, query string, args []any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// loadEvents reads the events of keys, in the order of keys. Bodies are
// decoded on every core.
func loadEvents(ctx context.Context, stmt *sql.Stmt, tenant string, keys []int64) ([]*auditkeep.Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := stmt.QueryContext(ctx, jsonInts(keys))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	bodies := make(map[int64][]byte, len(keys))
	for rows.Next() {
		var k int64
		var body []byte
		if err := rows.Scan(&k, &body); err != nil {
			return nil, err
		}
		bodies[k] = body
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	events := make([]*auditkeep.Event, len(keys))
	errs := make([]error, len(keys))
	decode := func(i int) {
		body, ok := bodies[keys[i]]
		if !ok {
			errs[i] = fmt.Errorf("event %d vanished", keys[i])
			return
		}
		events[i], errs[i] = decodeBody(body, tenant, keys[i]&seqMask)
	}
	workers := min(runtime.GOMAXPROCS(0), (len(keys)+15)/16)
	if workers <= 1 {
		for i := range keys {
			decode(i)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(keys); i += workers {
					decode(i)
				}
			})
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return events, nil
}

// Fixed-shape reads, prepared once per connection: lists go in as one JSON
// array.
const (
	sqlLoadEvents = "SELECT k, body FROM events WHERE k IN (SELECT value FROM json_each(?))"
	sqlDeleted    = "SELECT type, id FROM deleted_targets WHERE tenant = ? AND id IN (SELECT value FROM json_each(?))"
)

// readStmts are the readers' prepared statements.
type readStmts struct {
	load, deleted *sql.Stmt
}

func prepareRead(ctx context.Context, db *sql.DB) (*readStmts, error) {
	load, err := db.PrepareContext(ctx, sqlLoadEvents)
	if err != nil {
		return nil, err
	}
	deleted, err := db.PrepareContext(ctx, sqlDeleted)
	if err != nil {
		load.Close()
		return nil, err
	}
	return &readStmts{load: load, deleted: deleted}, nil
}

func (rs *readStmts) close() {
	if rs != nil {
		rs.load.Close()
		rs.deleted.Close()
	}
}

// markDeleted sets Target.Deleted on events whose target a delete event
// named. stmt is sqlDeleted.
func markDeleted(ctx context.Context, stmt *sql.Stmt, num int64, events []*auditkeep.Event) error {
	var ids []string
	seen := map[string]bool{}
	for _, e := range events {
		if e.Target != nil && !seen[e.Target.ID] {
			seen[e.Target.ID] = true
			ids = append(ids, e.Target.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, num, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	type target struct{ typ, id string }
	deleted := map[target]bool{}
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.typ, &t.id); err != nil {
			return err
		}
		deleted[t] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(deleted) == 0 {
		return nil
	}
	for _, e := range events {
		if e.Target != nil && deleted[target{e.Target.Type, e.Target.ID}] {
			e.Target.Deleted = true
		}
	}
	return nil
}

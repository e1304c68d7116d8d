package sqlite

import (
	"context"
	"database/sql"

	"github.com/auditkeep/auditkeep"
)

// scanPage is the page size ScanEvents reads at a time.
const scanPage = 1000

// ListEvents returns one page of the tenant's events matching f, in f's
// order, and the cursor of the next page (nil when this is the last).
// Returns EINVALID for a filter auditkeep.Filter.Validate refuses,
// EUNAVAILABLE when storage fails. An unknown tenant has no events.
func (s *Store) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	if err := f.Validate(); err != nil {
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
	events, more, _, err := p.page(ctx, tx, s.rs, markOf(f.Cursor), f.PageSize(), nil)
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
// returns it. Returns EINVALID for a filter auditkeep.Filter.Validate
// refuses, EUNAVAILABLE when storage fails.
func (s *Store) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return err
	}
	var p *plan
	var ch *choice // the driver chosen for the first page, kept for the next ones
	after := markOf(f.Cursor)
	for {
		events, more, err := s.scanPage(ctx, tenant, num, &f, &p, &ch, after)
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

// scanPage reads the page of ScanEvents after `after`, resolving f into
// *p and choosing *ch for the first page.
func (s *Store) scanPage(ctx context.Context, tenant string, num int64, f *auditkeep.Filter, p **plan, ch **choice, after mark) ([]*auditkeep.Event, bool, error) {
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
	events, more, used, err := (*p).page(ctx, tx, s.rs, after, scanPage, *ch)
	if used != nil {
		*ch = used
	}
	return events, more, err
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

// page returns up to limit events after `after` (its zero value: from the
// start) in the plan's order, whether there may be more, and the choice of
// driver it followed (see pageKeys).
func (p *plan) page(ctx context.Context, q *sql.Tx, rs *readStmts, after mark, limit int, ch *choice) ([]*auditkeep.Event, bool, *choice, error) {
	keys, more, ch, err := p.pageKeys(ctx, q, after, limit, ch)
	if err != nil || len(keys) == 0 {
		return nil, false, ch, err
	}
	events, err := loadEvents(ctx, q.StmtContext(ctx, rs.load), p.tenant, keys)
	if err != nil {
		return nil, false, ch, dbError(err)
	}
	if err := markDeleted(ctx, q.StmtContext(ctx, rs.deleted), p.num, events); err != nil {
		return nil, false, ch, dbError(err)
	}
	return events, more, ch, nil
}

// pageKeys returns the keys of page: up to limit keys after `after` in the
// plan's order, and whether there may be more. It follows ch, or when ch
// is nil the planner's choice for this page, and returns the choice it
// followed (nil when the page was empty before any choice).
func (p *plan) pageKeys(ctx context.Context, q *sql.Tx, after mark, limit int, ch *choice) ([]int64, bool, *choice, error) {
	lo, hi, ok, err := p.pageRange(ctx, q, after)
	if err != nil || !ok {
		return nil, false, ch, err
	}
	if ch, err = p.follow(ctx, q, ch, lo, hi, limit+1); err != nil {
		return nil, false, nil, err
	}
	var keys []int64
	if p.byTime {
		keys, err = p.timeKeys(ctx, q, ch.drv, ch.best, after, lo, hi, limit+1)
	} else {
		keys, err = p.keys(ctx, q, ch.drv, ch.best, lo, hi, limit+1)
	}
	if err != nil {
		return nil, false, ch, dbError(err)
	}
	more := len(keys) > limit
	if more {
		keys = keys[:limit]
	}
	return keys, more, ch, nil
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

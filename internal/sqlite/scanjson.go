package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
)

// ScanEventJSON calls fn for every event of the tenant matching f, in f's
// order, as ScanEvents does, but with the event's JSON instead of the
// event: js is what encoding/json (HTML escaping on) writes for the
// *auditkeep.Event ScanEvents passes, Target.Deleted included, Hash empty
// (hashes come from the ledger). A "hash" member belongs at js[hashAt:],
// where encoding/json writes a non-empty Hash: hashAt is just past the
// received_at value, before the comma that follows it. js is valid until fn
// returns.
//
// Stored JSON is spliced rather than decoded and encoded again: a body is
// the encoding of the event with Tenant, Seq and Target.Deleted cleared,
// and encoding/json writes the same bytes for the decoded event. A body in
// any other shape (see eventjson.Parse), or holding a \ufffd escape (how
// encoding/json writes invalid UTF-8, which decodes to a U+FFFD written
// unescaped), is decoded and encoded.
//
// Pages of scanPage events are read one ahead of fn, on another goroutine;
// no transaction is held while fn runs. It stops at fn's first error and
// returns it. Returns EINVALID for a filter auditkeep.Filter.Validate
// refuses, EUNAVAILABLE when storage fails or ctx ends.
func (s *Store) ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(seq int64, js []byte, hashAt int) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.ByTime() {
		return auditkeep.FieldErrorf("sort", "events are exported in seq order only")
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return err
	}
	page, err := eventjson.NewPage(tenant)
	if err != nil {
		return auditkeep.Errorf(auditkeep.EINTERNAL, "tenant id: %v", err)
	}
	newPage := func() *jsonPage {
		return &jsonPage{Page: *page, num: num, pos: map[int64]int{}, seen: map[string]bool{}, deleted: map[string]bool{}}
	}
	var p *plan
	var ch *choice // the driver chosen for the first page, kept for the next ones
	var after int64
	if f.Cursor != nil {
		after = f.Cursor.Seq
	}
	// fn runs on one page while the next is read into the other.
	err = eventjson.ReadAhead(ctx, [2]*jsonPage{newPage(), newPage()},
		func(ctx context.Context, pg *jsonPage) (bool, error) {
			more, err := s.scanJSONPage(ctx, &f, &p, &ch, after, pg)
			if more = more && err == nil && len(pg.events) > 0; more {
				after = pg.events[len(pg.events)-1].Seq
			}
			return more, err
		},
		func(pg *jsonPage) error {
			for i := range pg.events {
				js, hashAt, err := pg.JSON(&pg.events[i])
				if err != nil {
					return dbError(err)
				}
				if err := fn(pg.events[i].Seq, js, hashAt); err != nil {
					return err
				}
			}
			return nil
		})
	if err == context.Canceled || err == context.DeadlineExceeded { // ctx ended before the last page
		return dbError(err)
	}
	return err
}

// scanJSONPage reads the page after seq `after` into pg and reports whether
// there may be more, resolving f into *p and choosing *ch for the first
// page.
func (s *Store) scanJSONPage(ctx context.Context, f *auditkeep.Filter, p **plan, ch **choice, after int64, pg *jsonPage) (bool, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return false, dbError(err)
	}
	defer tx.Rollback()
	if *p == nil {
		if *p, err = resolve(ctx, tx, pg.Tenant, pg.num, f); err != nil {
			return false, err
		}
	}
	pg.reset(0)
	lo, hi, ok, err := (*p).pageRange(ctx, tx, mark{seq: after})
	if err != nil || !ok {
		return false, err
	}
	if *ch, err = (*p).follow(ctx, tx, *ch, lo, hi, scanPage+1); err != nil {
		return false, err
	}
	drv, best := (*ch).drv, (*ch).best
	var more bool
	if drv == byScan {
		// The keys are read in order: their bodies come with them.
		query, args := (*p).scanSQL("e.k, e.body", lo, hi, scanPage+1)
		more, err = pg.loadRows(ctx, tx, query, args)
	} else {
		var keys []int64
		if keys, err = (*p).keys(ctx, tx, drv, best, lo, hi, scanPage+1); err == nil {
			if more = len(keys) > scanPage; more {
				keys = keys[:scanPage]
			}
			err = pg.load(ctx, tx.StmtContext(ctx, s.rs.load), keys)
		}
	}
	if err == nil {
		err = pg.markDeleted(ctx, tx.StmtContext(ctx, s.rs.deleted))
	}
	if err != nil {
		return false, dbError(err)
	}
	return more, nil
}

// jsonPage is a page of events read by ScanEventJSON. Its buffers are
// reused from page to page.
type jsonPage struct {
	eventjson.Page
	num     int64
	events  []eventjson.PageEvent // in the order of the page's keys
	pos     map[int64]int
	seen    map[string]bool // target ids of the page
	ids     []string
	deleted map[string]bool // targetKey of the page's deleted targets
	key     []byte
}

// reset empties pg for a page of n events.
func (pg *jsonPage) reset(n int) {
	pg.Raw = pg.Raw[:0]
	pg.events = slices.Grow(pg.events[:0], n)[:n]
	clear(pg.events)
}

// loadRows reads into pg the events of query, rows of (k, body) in the
// page's order, up to scanPage of them, and reports whether there are more.
func (pg *jsonPage) loadRows(ctx context.Context, q *sql.Tx, query string, args []any) (more bool, err error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		if len(pg.events) == scanPage {
			return true, nil
		}
		var k int64
		var body sql.RawBytes
		if err := rows.Scan(&k, &body); err != nil {
			return false, err
		}
		pg.events = append(pg.events, eventjson.PageEvent{})
		if err := pg.add(len(pg.events)-1, k&seqMask, body); err != nil {
			return false, fmt.Errorf("event %d: %w", k, err)
		}
	}
	return false, rows.Err()
}

// load reads the bodies of keys into pg, in the order of keys. stmt is
// sqlLoadEvents.
func (pg *jsonPage) load(ctx context.Context, stmt *sql.Stmt, keys []int64) error {
	pg.reset(len(keys))
	if len(keys) == 0 {
		return nil
	}
	clear(pg.pos)
	for i, k := range keys {
		pg.pos[k] = i
	}
	rows, err := stmt.QueryContext(ctx, jsonInts(keys))
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var k int64
		var body sql.RawBytes
		if err := rows.Scan(&k, &body); err != nil {
			return err
		}
		i, ok := pg.pos[k]
		if !ok || pg.events[i].Seq != 0 {
			continue
		}
		if err := pg.add(i, k&seqMask, body); err != nil {
			return fmt.Errorf("event %d: %w", k, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != len(keys) {
		for _, k := range keys {
			if pg.events[pg.pos[k]].Seq == 0 {
				return fmt.Errorf("event %d vanished", k)
			}
		}
	}
	return nil
}

// add stores the body of the page's event i.
func (pg *jsonPage) add(i int, seq int64, body []byte) error {
	start := len(pg.Raw)
	raw, err := appendBodyJSON(pg.Raw, body)
	if err != nil {
		return err
	}
	pg.Raw = raw
	return pg.Add(&pg.events[i], seq, start)
}

// markDeleted sets deleted on the page's events whose target a delete
// event named. stmt is sqlDeleted.
func (pg *jsonPage) markDeleted(ctx context.Context, stmt *sql.Stmt) error {
	clear(pg.seen)
	clear(pg.deleted)
	pg.ids = pg.ids[:0]
	for i := range pg.events {
		_, id, ok, err := pg.Target(&pg.events[i])
		if err != nil {
			return err
		}
		if ok && !pg.seen[string(id)] {
			pg.seen[string(id)] = true
			pg.ids = append(pg.ids, string(id))
		}
	}
	if len(pg.ids) == 0 {
		return nil
	}
	list, err := json.Marshal(pg.ids)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, pg.num, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, id sql.RawBytes
		if err := rows.Scan(&typ, &id); err != nil {
			return err
		}
		pg.deleted[string(pg.targetKey(typ, id))] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(pg.deleted) == 0 {
		return nil
	}
	for i := range pg.events {
		typ, id, ok, err := pg.Target(&pg.events[i])
		if err != nil {
			return err
		}
		pg.events[i].Deleted = ok && pg.deleted[string(pg.targetKey(typ, id))]
	}
	return nil
}

// targetKey returns a key of a target's type and id, in a buffer reused by
// the next call.
func (pg *jsonPage) targetKey(typ, id []byte) []byte {
	pg.key = eventjson.AppendTargetKey(pg.key[:0], typ, id)
	return pg.key
}

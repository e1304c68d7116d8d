package postgres

import (
	"context"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
	"github.com/jackc/pgx/v5/pgtype"
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
// A body (the event's JSON as it was stored) is spliced rather than decoded
// and encoded again: it is the encoding of the event with Tenant, Seq and
// Target.Deleted cleared, and encoding/json writes the same bytes for the
// decoded event. A body in any other shape (see eventjson.ParseStored) is
// decoded and encoded.
//
// Pages of scanPage events are read one ahead of fn, on another goroutine;
// no connection is held while fn runs. It stops at fn's first error and
// returns it. Returns EINVALID for a filter auditkeep.Filter.Validate
// refuses and EUNAVAILABLE when the database cannot be reached or ctx ends.
func (s *Store) ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(seq int64, js []byte, hashAt int) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.ByTime() {
		return auditkeep.FieldErrorf("sort", "events are exported in seq order only")
	}
	page, err := eventjson.NewPage(tenant)
	if err != nil {
		return auditkeep.Errorf(auditkeep.EINTERNAL, "tenant id: %v", err)
	}
	// fn runs on one page while the next is read into the other.
	err = eventjson.ReadAhead(ctx, [2]*jsonPage{{Page: *page}, {Page: *page}},
		func(ctx context.Context, pg *jsonPage) (bool, error) {
			err := s.scanJSONPage(ctx, f, pg)
			more := err == nil && len(pg.events) == scanPage
			if more {
				f.Cursor = f.After(&auditkeep.Event{Seq: pg.events[len(pg.events)-1].Seq})
			}
			return more, err
		},
		func(pg *jsonPage) error {
			for i := range pg.events {
				js, hashAt, err := pg.JSON(&pg.events[i])
				if err != nil {
					return fmt.Errorf("postgres: %w", err)
				}
				if err := fn(pg.events[i].Seq, js, hashAt); err != nil {
					return err
				}
			}
			return nil
		})
	if err == context.Canceled || err == context.DeadlineExceeded { // ctx ended before the last page
		return unavailable(err)
	}
	return err
}

// scanJSONPage reads into pg the first scanPage events of the tenant
// matching f, with listEvents' statement.
func (s *Store) scanJSONPage(ctx context.Context, f auditkeep.Filter, pg *jsonPage) error {
	q, args, err := listQuery(pg.Tenant, f, scanPage)
	if err != nil {
		return err
	}
	return s.retry(ctx, idempotent, func() error {
		pg.reset()
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var seq int64
		var body pgtype.DriverBytes
		var deleted bool
		for rows.Next() {
			if err := rows.Scan(&seq, &body, &deleted); err != nil {
				return err
			}
			if err := pg.add(seq, body, deleted); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
		}
		return rows.Err()
	})
}

// jsonPage is a page of events read by ScanEventJSON. Its buffers are
// reused from page to page.
type jsonPage struct {
	eventjson.Page
	events []eventjson.PageEvent // in the page's order
}

// reset empties pg.
func (pg *jsonPage) reset() {
	pg.Raw = pg.Raw[:0]
	clear(pg.events)
	pg.events = pg.events[:0]
}

// add appends an event to pg: its seq, its body (copied) and whether its
// target is deleted.
func (pg *jsonPage) add(seq int64, body []byte, deleted bool) error {
	start := len(pg.Raw)
	pg.Raw = append(pg.Raw, body...)
	pg.events = append(pg.events, eventjson.PageEvent{Deleted: deleted})
	return pg.Add(&pg.events[len(pg.events)-1], seq, start)
}

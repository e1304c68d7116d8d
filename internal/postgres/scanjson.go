package postgres

import (
	"context"
	"encoding/json"
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
	tj, err := json.Marshal(tenant)
	if err != nil {
		return auditkeep.Errorf(auditkeep.EINTERNAL, "tenant id: %v", err)
	}
	// fn runs on one page while the next is read into the other.
	err = eventjson.ReadAhead(ctx, [2]*jsonPage{{tenant: tenant, tenantJSON: tj}, {tenant: tenant, tenantJSON: tj}},
		func(ctx context.Context, pg *jsonPage) (bool, error) {
			err := s.scanJSONPage(ctx, f, pg)
			more := err == nil && len(pg.events) == scanPage
			if more {
				f.Cursor = f.After(&auditkeep.Event{Seq: pg.events[len(pg.events)-1].seq})
			}
			return more, err
		},
		func(pg *jsonPage) error {
			for i := range pg.events {
				js, hashAt, err := pg.eventJSON(i)
				if err != nil {
					return fmt.Errorf("postgres: %w", err)
				}
				if err := fn(pg.events[i].seq, js, hashAt); err != nil {
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
	q, args, err := listQuery(pg.tenant, f, scanPage)
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
	tenant     string
	tenantJSON []byte      // tenant as a JSON string
	raw        []byte      // the page's bodies, one after another
	events     []jsonEvent // in the page's order
	out        []byte      // the JSON of the event last returned by eventJSON
}

// jsonEvent is one event of a jsonPage.
type jsonEvent struct {
	seq        int64
	start, end int // its body: raw[start:end]
	shape      eventjson.Shape
	spliced    bool             // the body is spliced; otherwise e is encoded
	e          *auditkeep.Event // when not spliced
	deleted    bool
}

// reset empties pg.
func (pg *jsonPage) reset() {
	pg.raw = pg.raw[:0]
	clear(pg.events)
	pg.events = pg.events[:0]
}

// add appends an event to pg: its seq, its body (copied) and whether its
// target is deleted.
func (pg *jsonPage) add(seq int64, body []byte, deleted bool) error {
	ev := jsonEvent{seq: seq, deleted: deleted, start: len(pg.raw)}
	pg.raw = append(pg.raw, body...)
	ev.end = len(pg.raw)
	if ev.shape, ev.spliced = eventjson.ParseStored(pg.raw[ev.start:ev.end]); !ev.spliced {
		pg.raw = pg.raw[:ev.start]
		ev.start, ev.end = 0, 0
		e := &auditkeep.Event{}
		if err := json.Unmarshal(body, e); err != nil {
			return fmt.Errorf("stored event: %w", err)
		}
		e.Tenant, e.Seq = pg.tenant, seq
		ev.e = e
	}
	pg.events = append(pg.events, ev)
	return nil
}

// eventJSON returns the JSON of the page's event i and where its hash
// belongs (see ScanEventJSON). The JSON is valid until the next call.
func (pg *jsonPage) eventJSON(i int) ([]byte, int, error) {
	ev := &pg.events[i]
	if !ev.spliced {
		return eventjson.Encode(ev.e, ev.deleted)
	}
	var hashAt int
	pg.out, hashAt = eventjson.AppendSpliced(pg.out[:0], pg.raw[ev.start:ev.end], &ev.shape, pg.tenantJSON, ev.seq, ev.deleted)
	return pg.out, hashAt, nil
}

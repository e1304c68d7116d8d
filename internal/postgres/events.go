package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
	"github.com/jackc/pgx/v5"
)

// maxIndexed is the most bytes of a value that an index column holds.
const maxIndexed = 1024

// eventColumns are the columns Append copies, in row order.
var eventColumns = []string{"tenant_no", "seq", "id", "received_at", "occurred_at", "occurred_nsec",
	"action", "type", "status", "actor_type", "actor_id", "actor_email", "actor_name",
	"target_type", "target_id", "target_name", "scope_path", "team", "source", "ip", "tsv", "body",
	"snapshot", "metadata"}

// Append stores events in one transaction: all of them or, on error, none.
// For each tenant it locks the tenant's row (its sequence counter) until the
// commit, so appends of one tenant from any number of nodes are serialised
// and seqs follow commit order; under that lock it checks which ids are
// already stored. Stored events get Seq 1, 2, 3, … per tenant; an id already
// stored or repeated earlier in events gets Seq 0. A successful delete event
// marks its target deleted for every read. A zero ReceivedAt is set
// to now (auditkeep.SetReceived). Returns ENOTFOUND when a tenant does not exist and EUNAVAILABLE
// when the database cannot be reached; on error every Seq is 0.
func (s *Store) Append(ctx context.Context, events []*auditkeep.Event) (err error) {
	if len(events) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			for _, e := range events {
				e.Seq = 0
			}
		}
	}()
	now := s.now().UTC()
	// Rows are built before the transaction, to hold the tenants' locks
	// briefly; append sets their tenant_no and seq.
	rows := make([][]any, len(events))
	auditkeep.SetReceived(events, now)
	for i, e := range events {
		if rows[i], err = eventRow(e); err != nil {
			return err
		}
	}
	// A transaction whose connection broke before COMMIT was rolled back:
	// running it again is safe.
	if err := s.retry(ctx, idempotent, func() error { return s.append(ctx, events, rows) }); err != nil {
		return err
	}
	stored := 0
	for _, e := range events {
		if e.Seq > 0 {
			stored++
		}
	}
	s.appended(stored)
	return nil
}

// append is one attempt of Append; rows[i] is the row of events[i].
func (s *Store) append(ctx context.Context, events []*auditkeep.Event, rows [][]any) error {
	var tenants []string
	for _, e := range events {
		e.Seq = 0
		if !slices.Contains(tenants, e.Tenant) {
			tenants = append(tenants, e.Tenant)
		}
	}
	// Lock tenants in one order everywhere, so batches that span tenants
	// cannot deadlock.
	slices.Sort(tenants)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)

	// One round trip: lock the counters, then (under the locks) look up the
	// ids already stored.
	b := &pgx.Batch{}
	type counter struct {
		no          int32
		first, last int64 // the first seq this batch stores, and the last
	}
	counters := map[string]*counter{}
	b.Queue(`SELECT id, no, last_seq FROM tenants WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, tenants).
		Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				c := &counter{}
				if err := rows.Scan(&id, &c.no, &c.last); err != nil {
					return err
				}
				c.first = c.last + 1
				counters[id] = c
			}
			return rows.Err()
		})
	seen := map[string]map[string]bool{}
	for _, t := range tenants {
		var ids []string
		for _, e := range events {
			if e.Tenant == t {
				ids = append(ids, e.ID)
			}
		}
		stored := map[string]bool{}
		seen[t] = stored
		// One index probe per id, whatever the statistics: as id = ANY($2),
		// a plan made while the tenant looked small reads every event of
		// the tenant through another index and filters the ids.
		b.Queue(`SELECT i.id FROM tenants t CROSS JOIN unnest($2::text[]) AS i(id)
			CROSS JOIN LATERAL (SELECT FROM events e WHERE e.tenant_no = t.no AND e.id = i.id LIMIT 1) e
			WHERE t.id = $1`, t, ids).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						return err
					}
					stored[id] = true
				}
				return rows.Err()
			})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, t := range tenants {
		if counters[t] == nil {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", t)
		}
	}

	stored := make([][]any, 0, len(events))
	// Targets of delete events, as columns for unnest.
	var delNos []int32
	var delTypes, delIDs []string
	for i, e := range events {
		c := counters[e.Tenant]
		if seen[e.Tenant][e.ID] {
			continue
		}
		seen[e.Tenant][e.ID] = true
		c.last++
		e.Seq = c.last
		rows[i][0], rows[i][1] = c.no, e.Seq
		stored = append(stored, rows[i])
		if e.DeletesTarget() {
			delNos, delTypes, delIDs = append(delNos, c.no), append(delTypes, e.Target.Type), append(delIDs, e.Target.ID)
		}
	}
	if len(stored) == 0 {
		return nil // every event was stored before
	}

	b = &pgx.Batch{}
	nos, lasts := make([]int32, 0, len(tenants)), make([]int64, 0, len(tenants))
	for _, t := range tenants {
		nos, lasts = append(nos, counters[t].no), append(lasts, counters[t].last)
	}
	b.Queue(`UPDATE tenants t SET last_seq = u.last FROM unnest($1::integer[], $2::bigint[]) AS u(no, last) WHERE t.no = u.no`, nos, lasts)
	if len(delNos) > 0 {
		b.Queue(`INSERT INTO deleted_targets (tenant_no, target_type, target_id)
			SELECT * FROM unnest($1::integer[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`, delNos, delTypes, delIDs)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(stored)); err != nil {
		return err
	}
	// The facets' counts, from the rows just written: each tenant's new
	// seqs are one range.
	firsts := make([]int64, len(tenants))
	for i, t := range tenants {
		firsts[i] = counters[t].first
	}
	if _, err := tx.Exec(ctx, sqlAddFacetCounts, nos, firsts, lasts); err != nil {
		return err
	}
	committing := time.Now()
	if err := tx.Commit(ctx); err != nil {
		// Whether COMMIT reached the server is unknown. (pgconn.SafeToRetry
		// cannot tell: a read that fails after the send is reported as
		// "conn closed", which it calls safe.)
		return &commitError{err}
	}
	s.ObserveCommit(committing)
	return nil
}

// eventRow returns e's row of events, in eventColumns order, with tenant_no
// and seq left 0 for the caller to set.
func eventRow(e *auditkeep.Event) ([]any, error) {
	body, err := encodeEvent(e)
	if err != nil {
		return nil, err
	}
	occurred := e.OccurredAt.UTC()
	var ip *netip.Addr
	if a, err := netip.ParseAddr(e.Context.IP); err == nil {
		a = a.Unmap()
		ip = &a
	}
	var targetType, targetID, targetName *string
	if e.Target != nil {
		targetType, targetID, targetName = optional(e.Target.Type), optional(e.Target.ID), optional(strings.ToLower(e.Target.Name))
	}
	return []any{
		int32(0), int64(0), e.ID, e.ReceivedAt, occurred.Truncate(time.Microsecond), int16(occurred.Nanosecond() % 1000),
		cut(e.Action, maxIndexed), e.Type, e.Status, cut(e.Actor.Type, maxIndexed), cut(strings.ToLower(e.Actor.ID), maxIndexed),
		optional(strings.ToLower(e.Actor.Email)), optional(strings.ToLower(e.Actor.Name)),
		targetType, targetID, targetName, optional(auditkeep.ScopePath(e.Scope)),
		optional(e.Team), optional(e.Source), ip, searchVector(e), body,
		jsonbValue(e.Snapshot), jsonbValue(e.Metadata),
	}, nil
}

// jsonbValue returns a document for a jsonb column, or nil (NULL) when there
// is none or when jsonb cannot hold it: it refuses the NUL character
// ("\u0000"), which senders may send, and the event must still be stored
// (body keeps it whole).
func jsonbValue(doc json.RawMessage) any {
	if len(doc) == 0 || bytes.Contains(doc, []byte(`\u0000`)) {
		return nil
	}
	return []byte(doc)
}

// optional returns nil for "", else s cut for an index.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	s = cut(s, maxIndexed)
	return &s
}

// encodeEvent returns the stored JSON of e (eventjson.EncodeStored).
func encodeEvent(e *auditkeep.Event) ([]byte, error) {
	b, err := eventjson.EncodeStored(e)
	if err != nil {
		return nil, auditkeep.Errorf(auditkeep.EINVALID, "event %q cannot be encoded: %v", e.ID, err)
	}
	return b, nil
}

// selectEvents is the head of every query that reads events; e is the alias.
const selectEvents = `SELECT e.seq, e.body, EXISTS (SELECT 1 FROM deleted_targets d
	WHERE d.tenant_no = e.tenant_no AND d.target_type = e.target_type AND d.target_id = e.target_id)
	FROM events e `

// eventScanner returns the decoder of rows of selectEvents of the tenant.
func eventScanner(tenant string) pgx.RowToFunc[*auditkeep.Event] {
	return func(row pgx.CollectableRow) (*auditkeep.Event, error) {
		var seq int64
		var body []byte
		var deleted bool
		if err := row.Scan(&seq, &body, &deleted); err != nil {
			return nil, err
		}
		e := &auditkeep.Event{}
		if err := json.Unmarshal(body, e); err != nil {
			return nil, fmt.Errorf("stored event: %w", err)
		}
		e.Tenant, e.Seq = tenant, seq
		if e.Target != nil {
			e.Target.Deleted = deleted
		}
		return e, nil
	}
}

// GetEvent returns the tenant's event with id. Returns ENOTFOUND, and
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) GetEvent(ctx context.Context, tenant, id string) (*auditkeep.Event, error) {
	var e *auditkeep.Event
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, selectEvents+`WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = $1) AND e.id = $2`, tenant, id)
		var err error
		e, err = pgx.CollectOneRow(rows, eventScanner(tenant))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q not found", id)
	}
	return e, err
}

// ListEvents returns one page of the tenant's events matching f, in f's
// order, and the cursor of the next page (nil when no more events match).
// Returns EINVALID for a filter auditkeep.Filter.Validate refuses (an
// unknown field, a malformed value, a cursor made for the other order) and
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) ListEvents(ctx context.Context, tenant string, f auditkeep.Filter) ([]*auditkeep.Event, *auditkeep.Cursor, error) {
	limit := f.PageSize()
	events, err := s.listEvents(ctx, tenant, f, limit+1)
	if err != nil {
		return nil, nil, err
	}
	if len(events) <= limit {
		return events, nil, nil
	}
	events = events[:limit]
	return events, f.After(events[limit-1]), nil
}

// scanPage is how many events ScanEvents reads per query.
const scanPage = 500

// ScanEvents calls fn for every event matching f, in f's order, ignoring
// f.Limit. It reads a page at a time, holding no connection while fn runs,
// and stops at fn's first error, which it returns. Returns EINVALID and
// EUNAVAILABLE as ListEvents does.
func (s *Store) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	for {
		events, err := s.listEvents(ctx, tenant, f, scanPage)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(events) < scanPage {
			return nil
		}
		f.Cursor = f.After(events[len(events)-1])
	}
}

// listEvents returns up to limit events of the tenant matching f.
func (s *Store) listEvents(ctx context.Context, tenant string, f auditkeep.Filter, limit int) ([]*auditkeep.Event, error) {
	q, args, err := listQuery(tenant, f, limit)
	if err != nil {
		return nil, err
	}
	var events []*auditkeep.Event
	err = s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, q, args...)
		var err error
		events, err = pgx.CollectRows(rows, eventScanner(tenant))
		return err
	})
	return events, err
}

// listQuery returns the statement of listEvents and its arguments.
func listQuery(tenant string, f auditkeep.Filter, limit int) (string, []any, error) {
	where, args, err := whereClause(tenant, f)
	if err != nil {
		return "", nil, err
	}
	args = append(args, limit)
	// Deleted targets are looked up after the limit, one index probe per
	// row of the page: an EXISTS in the select list lets the planner hash
	// the whole of deleted_targets (every tenant's) for each query.
	inner, outer := orderBy(&f)
	q := fmt.Sprintf(`SELECT e.seq, e.body, d.deleted IS NOT NULL
	FROM (SELECT e.tenant_no, e.seq, e.body, e.target_type, e.target_id, e.occurred_at, e.occurred_nsec FROM events e
		WHERE %s ORDER BY %s LIMIT $%d) e
	LEFT JOIN LATERAL (SELECT true AS deleted FROM deleted_targets d
		WHERE d.tenant_no = e.tenant_no AND d.target_type = e.target_type AND d.target_id = e.target_id LIMIT 1) d ON true
	ORDER BY %s`, where, inner, len(args), outer)
	return q, args, nil
}

// orderBy returns the ORDER BY of f's sort and order, on the events e and
// on the page's rows: seq, or (occurred_at, occurred_nsec, seq).
func orderBy(f *auditkeep.Filter) (inner, outer string) {
	dir := " DESC"
	if !f.Desc() {
		dir = " ASC"
	}
	if f.ByTime() {
		return "e.occurred_at" + dir + ", e.occurred_nsec" + dir + ", e.seq" + dir,
			"e.occurred_at" + dir + ", e.occurred_nsec" + dir + ", e.seq" + dir
	}
	return "e.seq" + dir, "e.seq" + dir
}

var _ auditkeep.StatsStore = (*Store)(nil)

// Stats implements auditkeep.StatsStore.
func (s *Store) Stats(ctx context.Context, tenant string) (auditkeep.TenantStats, error) {
	var st auditkeep.TenantStats
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, `SELECT t.last_seq, (SELECT count(*) FROM events e WHERE e.tenant_no = t.no)
			FROM tenants t WHERE t.id = $1`, tenant).Scan(&st.LastSeq, &st.Events)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return st, auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", tenant)
	}
	return st, err
}

// query builds a WHERE clause from bound arguments.
type query struct {
	conds []string
	args  []any
}

// arg binds v and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

func (q *query) where(format string, args ...any) {
	q.conds = append(q.conds, fmt.Sprintf(format, args...))
}

// whereClause returns the condition and arguments that select the tenant's
// events matching f (but for Limit). Every value is a bound argument.
func whereClause(tenant string, f auditkeep.Filter) (string, []any, error) {
	if err := f.Validate(); err != nil {
		return "", nil, err
	}
	q := &query{}
	q.where("e.tenant_no = (SELECT no FROM tenants WHERE id = %s)", q.arg(tenant))
	// Each bound is also stated on occurred_at alone (implied by the row
	// comparison): the planner estimates a row comparison as a third of the
	// table whatever the range, but a range of occurred_at from its
	// histogram, and so can tell an hour from a month.
	if !f.From.IsZero() {
		t := f.From.UTC()
		at := q.arg(t.Truncate(time.Microsecond))
		q.where("e.occurred_at >= %[1]s AND (e.occurred_at, e.occurred_nsec) >= (%[1]s, %[2]s)", at, q.arg(int16(t.Nanosecond()%1000)))
	}
	if !f.To.IsZero() {
		t := f.To.UTC()
		at := q.arg(t.Truncate(time.Microsecond))
		q.where("e.occurred_at <= %[1]s AND (e.occurred_at, e.occurred_nsec) <= (%[1]s, %[2]s)", at, q.arg(int16(t.Nanosecond()%1000)))
	}
	if c := f.Cursor; c != nil {
		cmp := "<"
		if !f.Desc() {
			cmp = ">"
		}
		if f.ByTime() {
			// The row comparison is what the time indexes' (…,
			// occurred_at, occurred_nsec, seq) serve; the bound on
			// occurred_at alone gives the planner its estimate.
			t := time.Unix(0, c.At).UTC()
			at := q.arg(t.Truncate(time.Microsecond))
			q.where("e.occurred_at %[1]s= %[2]s AND (e.occurred_at, e.occurred_nsec, e.seq) %[1]s (%[2]s, %[3]s, %[4]s)",
				cmp, at, q.arg(int16(t.Nanosecond()%1000)), q.arg(c.Seq))
		} else {
			q.where("e.seq %s %s", cmp, q.arg(c.Seq))
		}
	}
	for _, t := range f.Terms {
		cond, err := q.term(t)
		if err != nil {
			return "", nil, err
		}
		if t.Negate {
			cond = "NOT coalesce(" + cond + ", false)"
		}
		q.conds = append(q.conds, cond)
	}
	var match []string
	for _, t := range f.Text {
		tq := textQuery(t)
		if tq == "" {
			continue
		}
		if t.Negate {
			q.where("NOT (e.tsv @@ %s::tsquery)", q.arg(tq))
		} else {
			match = append(match, tq)
		}
	}
	if len(match) > 0 {
		q.where("e.tsv @@ %s::tsquery", q.arg(strings.Join(match, " & ")))
	}
	return strings.Join(q.conds, " AND "), q.args, nil
}

// term returns the condition of one term, ignoring Negate. t is valid (see
// auditkeep.Filter.Validate).
func (q *query) term(t auditkeep.Term) (string, error) {
	lower := func() []string {
		out := make([]string, len(t.Values))
		for i, v := range t.Values {
			out[i] = strings.ToLower(v)
		}
		return out
	}
	switch t.Field {
	case auditkeep.FieldAction:
		var exact, conds []string
		for _, v := range t.Values {
			p, ok := strings.CutSuffix(v, "*")
			switch {
			case !ok:
				exact = append(exact, v)
			case p == "":
				return "true", nil
			default:
				// A prefix as a range, which an index serves with any plan.
				cond := "e.action >= " + q.arg(p)
				if hi, ok := successor(p); ok {
					cond += " AND e.action < " + q.arg(hi)
				}
				conds = append(conds, "("+cond+")")
			}
		}
		if len(exact) > 0 {
			conds = append(conds, q.in("e.action", exact))
		}
		return "(" + strings.Join(conds, " OR ") + ")", nil
	case auditkeep.FieldActor:
		v := lower()
		return "(" + q.in("e.actor_id", v) + " OR " + q.in("e.actor_email", v) + " OR " + q.in("e.actor_name", v) + ")", nil
	case auditkeep.FieldTarget:
		return q.in("e.target_name", lower()), nil
	case auditkeep.FieldScope:
		var conds []string
		for _, v := range t.Values {
			// The path itself, or a path below it: v/… sorts from v+"/"
			// up to v+"0" ('0' follows '/').
			conds = append(conds, fmt.Sprintf("e.scope_path = %s OR (e.scope_path >= %s AND e.scope_path < %s)",
				q.arg(v), q.arg(v+"/"), q.arg(v+"0")))
		}
		return "(" + strings.Join(conds, " OR ") + ")", nil
	case auditkeep.FieldIP:
		var conds []string
		for _, v := range t.Values {
			p, _ := auditkeep.ParseIPFilter(v) // validated by Filter.Validate
			lo, hi := auditkeep.IPRange(p)
			if lo == hi {
				conds = append(conds, "e.ip = "+q.arg(lo))
			} else {
				conds = append(conds, fmt.Sprintf("(e.ip >= %s AND e.ip <= %s)", q.arg(lo), q.arg(hi)))
			}
		}
		return "(" + strings.Join(conds, " OR ") + ")", nil
	}
	if t.Field == auditkeep.FieldStatus && len(t.Values) == 1 && t.Values[0] == auditkeep.StatusFailure {
		// A constant rather than an argument (the value was validated
		// by Filter.Validate), so that even a generic plan can use the partial index
		// events_failure.
		return "e.status = 'failure'", nil
	}
	col := map[string]string{
		auditkeep.FieldType:       "e.type",
		auditkeep.FieldActorType:  "e.actor_type",
		auditkeep.FieldTargetType: "e.target_type",
		auditkeep.FieldTargetID:   "e.target_id",
		auditkeep.FieldTeam:       "e.team",
		auditkeep.FieldSource:     "e.source",
		auditkeep.FieldStatus:     "e.status",
	}[t.Field]
	if col == "" {
		return "", auditkeep.FieldErrorf(t.Field, "unknown filter %q", t.Field)
	}
	return q.in(col, t.Values), nil
}

// in returns the condition that col is one of values (at least one). A
// single value is compared with =, not = ANY: only then can an index on
// (tenant_no, col, seq) return the rows in seq order, so that a first page
// reads its rows and stops instead of reading every match and sorting them,
// whatever the planner's statistics say.
func (q *query) in(col string, values []string) string {
	if len(values) == 1 {
		return col + " = " + q.arg(values[0])
	}
	return col + " = ANY(" + q.arg(values) + ")"
}

// successor returns the least string greater than every string with prefix
// p, and false when there is none (p is all 0xff bytes).
func successor(p string) (string, bool) {
	b := []byte(p)
	for len(b) > 0 && b[len(b)-1] == 0xff {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "", false
	}
	b[len(b)-1]++
	return string(b), true
}

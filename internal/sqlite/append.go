package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// tenantState is the writer's view of a tenant.
type tenantState struct {
	num     int64
	lastSeq int64
}

const (
	sqlFindTerm = "SELECT id FROM terms WHERE tenant = ? AND field = ? AND value = ?"
	// sqlBumpTerms adds counts to terms: [[id, n], …] as a JSON array.
	sqlBumpTerms = `UPDATE terms SET count = count + j.n
		FROM (SELECT value ->> 0 AS id, value ->> 1 AS n FROM json_each(?)) AS j WHERE terms.id = j.id`
	sqlFindID = "SELECT k, body FROM events WHERE id_hash = ? AND k BETWEEN ? AND ?"
)

// Rows per multi-row INSERT.
const (
	eventRows   = 16
	postingRows = 256
	ftsRows     = 32
	idChunk     = 500 // id hashes per idempotency query
)

// Append stores events atomically: all of them or, on error, none. An event
// whose (Tenant, ID) is already stored, or repeated earlier in events, is
// not stored again. On return, stored events carry their Seq (1, 2, 3, …
// per tenant, with no gaps, in the order of events) and duplicates carry
// Seq 0; a zero ReceivedAt is set to now (auditkeep.SetReceived), and
// nothing else of the events is changed. The transaction is fsynced
// before Append returns. Returns ENOTFOUND when a tenant does not exist,
// EINVALID naming the event when one cannot be encoded (a RawMessage that
// is not JSON), and EUNAVAILABLE when storage fails (including a
// cancelled ctx).
func (s *Store) Append(ctx context.Context, events []*auditkeep.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return dbError(err)
	}
	auditkeep.SetReceived(events, time.Now())
	bodies, err := encodeBodies(events)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs, states, err := s.appendTx(ctx, events, bodies)
	if err != nil {
		// Forget what the writer cached: should the commit have happened
		// after all (an error reported after it), the next Append reads
		// seqs and terms from the database again.
		s.dict.rollback()
		clear(s.tenants)
		var ae *auditkeep.Error
		if errors.As(err, &ae) {
			return err
		}
		return dbError(err)
	}
	s.dict.commit()
	for id, st := range states {
		s.tenants[id] = st
	}
	for i, e := range events {
		e.Seq = seqs[i]
	}
	return nil
}

// posting is one row of the inverted index.
// posting is one row of postings and of postings_time: the term, the
// event's key and its occurred_at.
type posting struct{ term, k, t int64 }

// insertPostings writes ps into postings, in (term, k) order, and into
// postings_time, in (term, t, k) order: each term's new rows go in one run
// at the end of its range of either table, as occurrence times mostly
// follow seq. ps is sorted in place.
func insertPostings(ctx context.Context, st *writeStmts, tx *sql.Tx, ps []posting) error {
	slices.SortFunc(ps, func(a, b posting) int { return cmp.Or(cmp.Compare(a.term, b.term), cmp.Compare(a.k, b.k)) })
	ins := st.batch(ctx, tx, "INSERT INTO postings (term, k) VALUES ", 2, postingRows)
	for _, p := range ps {
		if err := ins.add(p.term, p.k); err != nil {
			return err
		}
	}
	if err := ins.flush(); err != nil {
		return err
	}
	slices.SortFunc(ps, func(a, b posting) int {
		return cmp.Or(cmp.Compare(a.term, b.term), cmp.Compare(a.t, b.t), cmp.Compare(a.k, b.k))
	})
	ins = st.batch(ctx, tx, "INSERT INTO postings_time (term, t, k) VALUES ", 3, postingRows)
	for _, p := range ps {
		if err := ins.add(p.term, p.t, p.k); err != nil {
			return err
		}
	}
	return ins.flush()
}

// appendTx writes events in one transaction and returns their seqs (0 for
// duplicates) and the tenants' new states.
func (s *Store) appendTx(ctx context.Context, events []*auditkeep.Event, bodies [][]byte) ([]int64, map[string]*tenantState, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	st, err := prepareWrite(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	defer st.close()

	states := map[string]*tenantState{}
	for _, e := range events {
		if _, ok := states[e.Tenant]; ok {
			continue
		}
		ts, err := s.tenantState(ctx, tx, e.Tenant)
		if err != nil {
			return nil, nil, err
		}
		states[e.Tenant] = ts
		if err := s.dict.load(ctx, tx, ts.num); err != nil {
			return nil, nil, err
		}
	}

	// Idempotency: drop ids repeated in the batch, then those stored.
	hashes := make([]int64, len(events))
	fresh := make([]bool, len(events))
	seen := make(map[string]struct{}, len(events))
	byTenant := map[int64][]int{}
	for i, e := range events {
		key := e.Tenant + "\x00" + e.ID
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		num := states[e.Tenant].num
		hashes[i] = idHash(num, e.ID)
		fresh[i] = true
		byTenant[num] = append(byTenant[num], i)
	}
	for num, idx := range byTenant {
		if err := dropStored(ctx, tx, events, hashes, fresh, num, idx); err != nil {
			return nil, nil, err
		}
	}

	evRows := st.batch(ctx, tx, "INSERT INTO events (k, occurred_at, id_hash, body) VALUES ", 4, eventRows)
	ftsIns := st.batch(ctx, tx, "INSERT INTO events_fts (rowid, actor_name, actor_email, target, action, team, ip, description) VALUES ", 8, ftsRows)
	seqs := make([]int64, len(events))
	counts := map[int64]int64{}
	var postings []posting
	var terms []termKey
	var termIDs []int64
	pairs := pairCounts{}
	for i, e := range events {
		if !fresh[i] {
			continue
		}
		ts := states[e.Tenant]
		seq := ts.lastSeq + 1
		k := ts.num<<40 | seq
		at := unixNano(e.OccurredAt)
		if err := evRows.add(k, at, hashes[i], bodies[i]); err != nil {
			return nil, nil, err
		}
		terms, termIDs = eventTerms(terms[:0], ts.num, e), termIDs[:0]
		for _, tk := range terms {
			id, err := s.dict.id(ctx, st, tk)
			if err != nil {
				return nil, nil, err
			}
			postings = append(postings, posting{id, k, at})
			termIDs = append(termIDs, id)
			if counted(tk.field) {
				counts[id]++
			}
		}
		pairs.add(terms, termIDs, k)
		if e.DeletesTarget() {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO deleted_targets (tenant, type, id) VALUES (?, ?, ?)",
				ts.num, e.Target.Type, e.Target.ID); err != nil {
				return nil, nil, err
			}
		}
		if err := ftsIns.add(k, e.Actor.Name, e.Actor.Email, targetName(e), e.Action, e.Team, e.Context.IP, e.Description); err != nil {
			return nil, nil, err
		}
		ts.lastSeq = seq
		seqs[i] = seq
	}
	if err := evRows.flush(); err != nil {
		return nil, nil, err
	}
	if err := ftsIns.flush(); err != nil {
		return nil, nil, err
	}
	if err := insertPostings(ctx, st, tx, postings); err != nil {
		return nil, nil, err
	}
	if err := s.dict.insertCreated(ctx, st, counts); err != nil {
		return nil, nil, err
	}
	if err := bumpTerms(ctx, st, counts); err != nil {
		return nil, nil, err
	}
	if err := upsertPairs(ctx, tx, pairs); err != nil {
		return nil, nil, err
	}
	for id, ts := range states {
		if _, err := tx.ExecContext(ctx, "UPDATE tenants SET last_seq = ? WHERE id = ?", ts.lastSeq, id); err != nil {
			return nil, nil, err
		}
	}
	if err := st.closeBatches(); err != nil {
		return nil, nil, err
	}
	committing := time.Now()
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	s.ObserveCommit(committing)
	return seqs, states, nil
}

// bumpTerms adds counts to the terms' counts, in id order, in one statement.
func bumpTerms(ctx context.Context, st *writeStmts, counts map[int64]int64) error {
	if len(counts) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := make([]byte, 0, 16*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, counts[id], 10)
		b = append(b, ']')
	}
	b = append(b, ']')
	_, err := st.bumpTerms.ExecContext(ctx, string(b))
	return err
}

// dropStored clears fresh[i] for the events idx of tenant num whose id is
// already stored.
func dropStored(ctx context.Context, tx *sql.Tx, events []*auditkeep.Event, hashes []int64, fresh []bool, num int64, idx []int) error {
	lo, hi := tenantRange(num)
	for len(idx) > 0 {
		chunk := idx[:min(idChunk, len(idx))]
		idx = idx[len(chunk):]
		var q qb
		q.sql("SELECT k, body FROM events WHERE id_hash IN (")
		for j, i := range chunk {
			if j > 0 {
				q.sql(", ")
			}
			q.arg("?", hashes[i])
		}
		q.arg(") AND k BETWEEN ?", lo).arg(" AND ?", hi)
		rows, err := tx.QueryContext(ctx, q.b.String(), q.args...)
		if err != nil {
			return err
		}
		stored := map[string]bool{}
		for rows.Next() {
			var k int64
			var body []byte
			if err := rows.Scan(&k, &body); err != nil {
				rows.Close()
				return err
			}
			e, err := decodeBody(body, "", k&seqMask)
			if err != nil {
				rows.Close()
				return err
			}
			stored[e.ID] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, i := range chunk {
			if stored[events[i].ID] {
				fresh[i] = false
			}
		}
	}
	return nil
}

// seqMask extracts the seq from a key.
const seqMask = 1<<40 - 1

// tenantState returns a copy of the tenant's state, from the cache or the
// database. Returns ENOTFOUND for an unknown tenant.
func (s *Store) tenantState(ctx context.Context, tx *sql.Tx, id string) (*tenantState, error) {
	if ts, ok := s.tenants[id]; ok {
		c := *ts
		return &c, nil
	}
	var ts tenantState
	err := tx.QueryRowContext(ctx, "SELECT num, last_seq FROM tenants WHERE id = ?", id).Scan(&ts.num, &ts.lastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFoundTenant(id)
	}
	if err != nil {
		return nil, err
	}
	return &ts, nil
}

// writeStmts are the writer's statements, prepared in a transaction.
type writeStmts struct {
	tx                  *sql.Tx
	findTerm, bumpTerms *sql.Stmt
	batches             []*batcher
}

func prepareWrite(ctx context.Context, tx *sql.Tx) (*writeStmts, error) {
	st := &writeStmts{tx: tx}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.findTerm, sqlFindTerm}, {&st.bumpTerms, sqlBumpTerms},
	} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			st.close()
			return nil, err
		}
		*p.dst = stmt
	}
	return st, nil
}

func (st *writeStmts) close() {
	for _, s := range []*sql.Stmt{st.findTerm, st.bumpTerms} {
		if s != nil {
			s.Close()
		}
	}
	st.closeBatches()
}

func (st *writeStmts) closeBatches() error {
	var errs []error
	for _, b := range st.batches {
		for _, s := range []*sql.Stmt{b.one, b.many} {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		b.one, b.many = nil, nil
	}
	return errors.Join(errs...)
}

// batcher inserts rows with multi-row INSERT statements of rows rows,
// prepared on first use.
type batcher struct {
	ctx        context.Context
	tx         *sql.Tx
	prefix     string
	cols, rows int
	one, many  *sql.Stmt
	buf        []any
}

func (st *writeStmts) batch(ctx context.Context, tx *sql.Tx, prefix string, cols, rows int) *batcher {
	b := &batcher{ctx: ctx, tx: tx, prefix: prefix, cols: cols, rows: rows}
	st.batches = append(st.batches, b)
	return b
}

func (b *batcher) stmt(rows int) string {
	tuple := "(?" + strings.Repeat(", ?", b.cols-1) + ")"
	return b.prefix + tuple + strings.Repeat(", "+tuple, rows-1)
}

func (b *batcher) add(vals ...any) error {
	b.buf = append(b.buf, vals...)
	if len(b.buf) < b.cols*b.rows {
		return nil
	}
	if b.many == nil {
		s, err := b.tx.PrepareContext(b.ctx, b.stmt(b.rows))
		if err != nil {
			return err
		}
		b.many = s
	}
	_, err := b.many.ExecContext(b.ctx, b.buf...)
	b.buf = b.buf[:0]
	return err
}

// flush writes the rows left: in one statement of their own when there
// are several (cheaper than one execution per row, even prepared each time).
func (b *batcher) flush() error {
	n := len(b.buf) / b.cols
	switch {
	case n == 0:
		return nil
	case n > 1:
		_, err := b.tx.ExecContext(b.ctx, b.stmt(n), b.buf...)
		b.buf = b.buf[:0]
		return err
	}
	if b.one == nil {
		s, err := b.tx.PrepareContext(b.ctx, b.stmt(1))
		if err != nil {
			return err
		}
		b.one = s
	}
	_, err := b.one.ExecContext(b.ctx, b.buf...)
	b.buf = b.buf[:0]
	return err
}

// idHash is the first 8 bytes of SHA-256(tenant num, id): a strong hash,
// so that chosen ids cannot pile up on one index entry.
func idHash(num int64, id string) int64 {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(num))
	h.Write(b[:])
	h.Write([]byte(id))
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// unixNano returns t in Unix nanoseconds, clamped to the int64 range.
func unixNano(t time.Time) int64 {
	if t.Before(minTime) {
		return math.MinInt64
	}
	if t.After(maxTime) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func targetName(e *auditkeep.Event) string {
	if e.Target == nil {
		return ""
	}
	return e.Target.Name
}

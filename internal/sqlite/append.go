package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
	sqlFindTerm      = "SELECT id FROM terms WHERE tenant = ? AND field = ? AND value = ?"
	sqlInsertTerm    = "INSERT INTO terms (tenant, field, value) VALUES (?, ?, ?)"
	sqlBumpTerm      = "UPDATE terms SET count = count + ? WHERE id = ?"
	sqlInsertEvent   = "INSERT INTO events (k, occurred_at, id_hash, body) VALUES (?, ?, ?, ?)"
	sqlInsertPosting = "INSERT INTO postings (term, k) VALUES (?, ?)"
	sqlInsertFTS     = "INSERT INTO events_fts (rowid, actor_name, actor_email, target, action, team, ip, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	sqlInsertName    = "INSERT OR IGNORE INTO actor_names (tenant, name, term) VALUES (?, ?, ?)"
	sqlFindID        = "SELECT body FROM events WHERE id_hash = ? AND k BETWEEN ? AND ?"
)

// Append stores events atomically: all of them or, on error, none. An event
// whose (Tenant, ID) is already stored, or repeated earlier in events, is
// not stored again. On return, stored events carry their Seq (1, 2, 3, …
// per tenant, with no gaps, in commit order) and duplicates carry Seq 0;
// nothing else of the events is changed. The transaction is fsynced before
// Append returns. Returns ENOTFOUND when a tenant does not exist and
// EUNAVAILABLE when storage fails (including a cancelled ctx).
func (s *Store) Append(ctx context.Context, events []*auditkeep.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return auditkeep.Unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs, states, err := s.appendTx(ctx, events)
	if err != nil {
		s.dict.rollback()
		var ae *auditkeep.Error
		if errors.As(err, &ae) {
			return err
		}
		return auditkeep.Unavailable(err)
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

// appendTx writes events in one transaction and returns their seqs (0 for
// duplicates) and the tenants' new states.
func (s *Store) appendTx(ctx context.Context, events []*auditkeep.Event) ([]int64, map[string]*tenantState, error) {
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
	}

	seqs := make([]int64, len(events))
	seen := make(map[string]struct{}, len(events))
	counts := map[int64]int64{}
	var terms []termKey
	for i, e := range events {
		ts := states[e.Tenant]
		key := e.Tenant + "\x00" + e.ID
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		h := idHash(ts.num, e.ID)
		if found, err := findByID(ctx, st.findID, ts.num, h, e.ID); err != nil {
			return nil, nil, err
		} else if found != nil {
			continue
		}
		seq := ts.lastSeq + 1
		k := ts.num<<40 | seq
		body, err := encodeBody(e, seq)
		if err != nil {
			return nil, nil, fmt.Errorf("encode event %d: %w", i, err)
		}
		if _, err := st.insertEvent.ExecContext(ctx, k, unixNano(e.OccurredAt), h, body); err != nil {
			return nil, nil, err
		}
		terms = eventTerms(terms[:0], ts.num, e)
		for _, tk := range terms {
			id, err := s.dict.id(ctx, st, tk)
			if err != nil {
				return nil, nil, err
			}
			if _, err := st.insertPosting.ExecContext(ctx, id, k); err != nil {
				return nil, nil, err
			}
			counts[id]++
			if tk.field == fActor {
				for _, n := range []string{e.Actor.Name, e.Actor.Email} {
					if err := s.dict.addName(ctx, st, actorName{ts.num, strings.ToLower(n), id}); err != nil {
						return nil, nil, err
					}
				}
			}
		}
		if e.Type == auditkeep.TypeDelete && e.Target != nil && e.Status != auditkeep.StatusFailure {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO deleted_targets (tenant, type, id) VALUES (?, ?, ?)",
				ts.num, e.Target.Type, e.Target.ID); err != nil {
				return nil, nil, err
			}
		}
		if _, err := st.insertFTS.ExecContext(ctx, k, e.Actor.Name, e.Actor.Email, targetName(e), e.Action, e.Team, e.Context.IP, e.Description); err != nil {
			return nil, nil, err
		}
		ts.lastSeq = seq
		seqs[i] = seq
	}
	for id, n := range counts {
		if _, err := st.bumpTerm.ExecContext(ctx, n, id); err != nil {
			return nil, nil, err
		}
	}
	for id, ts := range states {
		if _, err := tx.ExecContext(ctx, "UPDATE tenants SET last_seq = ? WHERE id = ?", ts.lastSeq, id); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, err
	}
	return seqs, states, nil
}

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

func prepareWrite(ctx context.Context, tx *sql.Tx) (*writeStmts, error) {
	st := &writeStmts{}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.findTerm, sqlFindTerm}, {&st.insertTerm, sqlInsertTerm}, {&st.bumpTerm, sqlBumpTerm},
		{&st.insertEvent, sqlInsertEvent}, {&st.insertPosting, sqlInsertPosting}, {&st.insertFTS, sqlInsertFTS},
		{&st.insertName, sqlInsertName}, {&st.findID, sqlFindID},
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
	for _, s := range []*sql.Stmt{st.findTerm, st.insertTerm, st.bumpTerm, st.insertEvent, st.insertPosting, st.insertFTS, st.insertName, st.findID} {
		if s != nil {
			s.Close()
		}
	}
}

// findByID returns the stored event of the tenant with the id, or nil.
func findByID(ctx context.Context, stmt *sql.Stmt, num, hash int64, id string) (*stored, error) {
	lo, hi := tenantRange(num)
	rows, err := stmt.QueryContext(ctx, hash, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		e, err := decodeBody(body)
		if err != nil {
			return nil, err
		}
		if e.ID == id {
			return &stored{e: e}, nil
		}
	}
	return nil, rows.Err()
}

// stored is an event read back from the database.
type stored struct {
	e *auditkeep.Event
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

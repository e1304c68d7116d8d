package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
)

var _ auditkeep.StreamStore = (*Store)(nil)

const streamColumns = `tenant, id, name, type, format, filters, settings, secret, state, cursor, stream_seq,
	last_success_at, last_error, last_error_at, created_at, updated_at, version`

// CreateStream stores a new stream. Returns ECONFLICT when the tenant has a
// stream with the ID, ENOTFOUND for an unknown tenant, EUNAVAILABLE when
// storage fails.
func (s *Store) CreateStream(ctx context.Context, st *auditkeep.Stream) error {
	filters, err := json.Marshal(st.Filters)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	if err := requireTenant(ctx, tx, st.Tenant); err != nil {
		return err
	}
	if st.Version == 0 {
		st.Version = 1
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO streams (`+streamColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		st.Tenant, st.ID, st.Name, st.Type, st.Format, string(filters), string(settingsOf(st)), st.Secret, st.State,
		st.Cursor, st.StreamSeq, nanos(st.LastSuccessAt), st.LastError, nanos(st.LastErrorAt),
		nanos(st.CreatedAt), nanos(st.UpdatedAt), st.Version)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "stream %q already exists", st.ID)
	}
	return dbError(tx.Commit())
}

// settingsOf is the stream's settings, {} when it has none.
func settingsOf(st *auditkeep.Stream) json.RawMessage {
	if len(st.Settings) == 0 {
		return json.RawMessage("{}")
	}
	return st.Settings
}

// nanos is t in Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type rowScanner interface{ Scan(dest ...any) error }

func scanStream(r rowScanner) (*auditkeep.Stream, error) {
	st := &auditkeep.Stream{}
	var filters, settings string
	var success, errAt, created, updated int64
	if err := r.Scan(&st.Tenant, &st.ID, &st.Name, &st.Type, &st.Format, &filters, &settings, &st.Secret, &st.State,
		&st.Cursor, &st.StreamSeq, &success, &st.LastError, &errAt, &created, &updated, &st.Version); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(filters), &st.Filters); err != nil {
		return nil, err
	}
	st.Settings = json.RawMessage(settings)
	st.LastSuccessAt, st.LastErrorAt = fromNanos(success), fromNanos(errAt)
	st.CreatedAt, st.UpdatedAt = fromNanos(created), fromNanos(updated)
	return st, nil
}

// GetStream returns the tenant's stream. Returns ENOTFOUND, EUNAVAILABLE
// when storage fails.
func (s *Store) GetStream(ctx context.Context, tenant, id string) (*auditkeep.Stream, error) {
	st, err := scanStream(s.r.QueryRowContext(ctx, "SELECT "+streamColumns+" FROM streams WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return st, nil
}

// ListStreams returns the tenant's streams (every tenant's for ""),
// oldest first. Returns EUNAVAILABLE when storage fails.
func (s *Store) ListStreams(ctx context.Context, tenant string) ([]*auditkeep.Stream, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+streamColumns+" FROM streams WHERE ? = '' OR tenant = ? ORDER BY created_at, tenant, id", tenant, tenant)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := []*auditkeep.Stream{}
	for rows.Next() {
		st, err := scanStream(rows)
		if err != nil {
			return nil, dbError(err)
		}
		out = append(out, st)
	}
	return out, dbError(rows.Err())
}

// UpdateStream stores the stream's configuration if its Version is still
// the stored one, and increments Version. Returns ENOTFOUND, ECONFLICT,
// EUNAVAILABLE when storage fails.
func (s *Store) UpdateStream(ctx context.Context, st *auditkeep.Stream) error {
	filters, err := json.Marshal(st.Filters)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `UPDATE streams SET name = ?, type = ?, format = ?, filters = ?, settings = ?, secret = ?,
		state = ?, updated_at = ?, version = version + 1
		WHERE tenant = ? AND id = ? AND version = ?`,
		st.Name, st.Type, st.Format, string(filters), string(settingsOf(st)), st.Secret, st.State,
		nanos(st.UpdatedAt), st.Tenant, st.ID, st.Version)
	if err != nil {
		return err
	}
	if res == 0 {
		return s.streamConflict(ctx, st.Tenant, st.ID, "stream %q changed meanwhile; read it again")
	}
	st.Version++
	return nil
}

// streamConflict returns ENOTFOUND when the stream does not exist, else
// ECONFLICT with the message.
func (s *Store) streamConflict(ctx context.Context, tenant, id, msg string) error {
	if _, err := s.GetStream(ctx, tenant, id); err != nil {
		return err
	}
	return auditkeep.Errorf(auditkeep.ECONFLICT, msg, id)
}

// ReplayStream moves the stream's cursor and increments its Version.
// Returns ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) ReplayStream(ctx context.Context, tenant, id string, cursor int64, at time.Time) error {
	n, err := s.exec(ctx, "UPDATE streams SET cursor = ?, updated_at = ?, version = version + 1 WHERE tenant = ? AND id = ?", cursor, nanos(at), tenant, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	return nil
}

// DeleteStream deletes the tenant's stream. Returns ENOTFOUND, EUNAVAILABLE
// when storage fails.
func (s *Store) DeleteStream(ctx context.Context, tenant, id string) error {
	n, err := s.exec(ctx, "DELETE FROM streams WHERE tenant = ? AND id = ?", tenant, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	return nil
}

// LeaseStream takes or renews owner's lease of the stream. Returns
// ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) LeaseStream(ctx context.Context, tenant, id, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	n, err := s.exec(ctx, `UPDATE streams SET lease_owner = ?, lease_until = ?
		WHERE tenant = ? AND id = ? AND (lease_owner = ? OR lease_until < ?)`,
		owner, now.Add(ttl).UnixNano(), tenant, id, owner, now.UnixNano())
	if err != nil {
		return false, err
	}
	if n == 0 {
		if _, err := s.GetStream(ctx, tenant, id); err != nil {
			return false, err
		}
	}
	return n > 0, nil
}

// ReleaseStream gives up owner's lease. Returns EUNAVAILABLE when storage
// fails.
func (s *Store) ReleaseStream(ctx context.Context, tenant, id, owner string) error {
	_, err := s.exec(ctx, `UPDATE streams SET lease_owner = '', lease_until = 0 WHERE tenant = ? AND id = ? AND lease_owner = ?`, tenant, id, owner)
	return err
}

// AdvanceStream moves the stream's position after an accepted delivery.
// Returns ECONFLICT, ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) AdvanceStream(ctx context.Context, tenant, id, owner string, from, to auditkeep.StreamPosition, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE streams SET cursor = ?, stream_seq = ?, last_success_at = ?,
		state = CASE state WHEN 'failing' THEN 'active' ELSE state END
		WHERE tenant = ? AND id = ? AND lease_owner = ? AND cursor = ? AND stream_seq = ?`,
		to.Cursor, to.StreamSeq, nanos(at), tenant, id, owner, from.Cursor, from.StreamSeq)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.streamConflict(ctx, tenant, id, "stream %q moved or is delivered by another node")
	}
	return nil
}

// FailStream records a failed delivery. Returns ECONFLICT, ENOTFOUND,
// EUNAVAILABLE when storage fails.
func (s *Store) FailStream(ctx context.Context, tenant, id, owner, state, message string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE streams SET last_error = ?, last_error_at = ?,
		state = CASE WHEN state IN ('active', 'failing') THEN ? ELSE state END
		WHERE tenant = ? AND id = ? AND lease_owner = ?`,
		message, nanos(at), state, tenant, id, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.streamConflict(ctx, tenant, id, "stream %q is delivered by another node")
	}
	return nil
}

// exec runs one statement on the writer and returns the rows it changed.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, dbError(err)
	}
	n, err := res.RowsAffected()
	return n, dbError(err)
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ auditkeep.StreamStore = (*Store)(nil)

const streamColumns = `tenant, id, name, type, format, filters, settings, secret, state, cursor, stream_seq,
	last_success_at, last_error, last_error_at, created_at, updated_at, version`

// CreateStream stores a new stream. Returns ECONFLICT when the tenant has a
// stream with the ID, ENOTFOUND for an unknown tenant, EUNAVAILABLE when
// the database cannot be reached.
func (s *Store) CreateStream(ctx context.Context, st *auditkeep.Stream) error {
	filters, err := json.Marshal(st.Filters)
	if err != nil {
		return err
	}
	if st.Version == 0 {
		st.Version = 1
	}
	err = s.retry(ctx, once, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO streams (`+streamColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			st.Tenant, st.ID, st.Name, st.Type, st.Format, string(filters), string(settingsOf(st)), st.Secret, st.State,
			st.Cursor, st.StreamSeq, nanos(st.LastSuccessAt), st.LastError, nanos(st.LastErrorAt),
			nanos(st.CreatedAt), nanos(st.UpdatedAt), st.Version)
		return err
	})
	switch {
	case isCode(err, "23503"):
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", st.Tenant)
	case isCode(err, "23505"):
		return auditkeep.Errorf(auditkeep.ECONFLICT, "stream %q already exists", st.ID)
	}
	return err
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

func scanStream(r pgx.Row) (*auditkeep.Stream, error) {
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
// when the database cannot be reached.
func (s *Store) GetStream(ctx context.Context, tenant, id string) (*auditkeep.Stream, error) {
	var st *auditkeep.Stream
	err := s.retry(ctx, idempotent, func() (err error) {
		st, err = scanStream(s.pool.QueryRow(ctx, "SELECT "+streamColumns+" FROM streams WHERE tenant = $1 AND id = $2", tenant, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	return st, err
}

// ListStreams returns the tenant's streams (every tenant's for ""),
// oldest first. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) ListStreams(ctx context.Context, tenant string) ([]*auditkeep.Stream, error) {
	var out []*auditkeep.Stream
	err := s.retry(ctx, idempotent, func() error {
		out = []*auditkeep.Stream{}
		rows, err := s.pool.Query(ctx, "SELECT "+streamColumns+" FROM streams WHERE $1 = '' OR tenant = $1 ORDER BY created_at, tenant, id", tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			st, err := scanStream(rows)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return rows.Err()
	})
	return out, err
}

// UpdateStream stores the stream's configuration if its Version is still
// the stored one, and increments Version. Returns ENOTFOUND, ECONFLICT,
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) UpdateStream(ctx context.Context, st *auditkeep.Stream) error {
	filters, err := json.Marshal(st.Filters)
	if err != nil {
		return err
	}
	n, err := s.execStream(ctx, `UPDATE streams SET name = $1, type = $2, format = $3, filters = $4, settings = $5, secret = $6,
		state = $7, updated_at = $8, version = version + 1
		WHERE tenant = $9 AND id = $10 AND version = $11`,
		st.Name, st.Type, st.Format, string(filters), string(settingsOf(st)), st.Secret, st.State,
		nanos(st.UpdatedAt), st.Tenant, st.ID, st.Version)
	if err != nil {
		return err
	}
	if n == 0 {
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
// Returns ENOTFOUND, EUNAVAILABLE when the database cannot be reached.
func (s *Store) ReplayStream(ctx context.Context, tenant, id string, cursor int64, at time.Time) error {
	n, err := s.execStream(ctx, "UPDATE streams SET cursor = $1, updated_at = $2, version = version + 1 WHERE tenant = $3 AND id = $4", cursor, nanos(at), tenant, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	return nil
}

// DeleteStream deletes the tenant's stream. Returns ENOTFOUND, EUNAVAILABLE
// when the database cannot be reached.
func (s *Store) DeleteStream(ctx context.Context, tenant, id string) error {
	n, err := s.execStream(ctx, "DELETE FROM streams WHERE tenant = $1 AND id = $2", tenant, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "stream %q not found", id)
	}
	return nil
}

// LeaseStream takes or renews owner's lease of the stream, by the
// database's clock. Returns ENOTFOUND, EUNAVAILABLE when the database
// cannot be reached.
func (s *Store) LeaseStream(ctx context.Context, tenant, id, owner string, ttl time.Duration) (bool, error) {
	n, err := s.execStream(ctx, `UPDATE streams SET lease_owner = $1, lease_until = now() + $2 * interval '1 microsecond'
		WHERE tenant = $3 AND id = $4 AND (lease_owner = $1 OR lease_until < now())`,
		owner, ttl.Microseconds(), tenant, id)
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

// ReleaseStream gives up owner's lease. Returns EUNAVAILABLE when the
// database cannot be reached.
func (s *Store) ReleaseStream(ctx context.Context, tenant, id, owner string) error {
	_, err := s.execStream(ctx, `UPDATE streams SET lease_owner = '', lease_until = '-infinity'
		WHERE tenant = $1 AND id = $2 AND lease_owner = $3`, tenant, id, owner)
	return err
}

// AdvanceStream moves the stream's position after an accepted delivery.
// Returns ECONFLICT, ENOTFOUND, EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) AdvanceStream(ctx context.Context, tenant, id, owner string, from, to auditkeep.StreamPosition, at time.Time) error {
	n, err := s.execStream(ctx, `UPDATE streams SET cursor = $1, stream_seq = $2, last_success_at = $3,
		state = CASE state WHEN 'failing' THEN 'active' ELSE state END
		WHERE tenant = $4 AND id = $5 AND lease_owner = $6 AND cursor = $7 AND stream_seq = $8`,
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
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) FailStream(ctx context.Context, tenant, id, owner, state, message string, at time.Time) error {
	n, err := s.execStream(ctx, `UPDATE streams SET last_error = $1, last_error_at = $2,
		state = CASE WHEN state IN ('active', 'failing') THEN $3 ELSE state END
		WHERE tenant = $4 AND id = $5 AND lease_owner = $6`,
		message, nanos(at), state, tenant, id, owner)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.streamConflict(ctx, tenant, id, "stream %q is delivered by another node")
	}
	return nil
}

// execStream runs one statement (each of them may run twice) and returns
// the rows it changed.
func (s *Store) execStream(ctx context.Context, query string, args ...any) (int64, error) {
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, query, args...)
		return err
	})
	return tag.RowsAffected(), err
}

package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CreateSession stores a new session. Returns ECONFLICT when a session has
// the ID, ENOTFOUND when the tenant has no key with the session's KeyID (or,
// for a person's session, when there is no such tenant), and EUNAVAILABLE when the database cannot be reached.
func (s *Store) CreateSession(ctx context.Context, ss *auditkeep.Session) error {
	created, createdNsec := splitTime(ss.CreatedAt)
	expires, expiresNsec := splitTime(ss.ExpiresAt)
	err := s.retry(ctx, once, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, tenant, key_id, created_at, created_nsec, expires_at, expires_nsec,
				subject, name, email, role, last_seen_at, ip, user_agent)
			VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			ss.ID, ss.Tenant, ss.KeyID, created, createdNsec, expires, expiresNsec, ss.Subject, ss.Name, ss.Email, ss.Role,
			ss.SeenMinute(), ss.IP, ss.UserAgent)
		return err
	})
	switch {
	case isCode(err, "23503") && ss.KeyID == "":
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", ss.Tenant)
	case isCode(err, "23503"):
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "key %q of tenant %q not found", ss.KeyID, ss.Tenant)
	case isCode(err, "23505"):
		return auditkeep.Errorf(auditkeep.ECONFLICT, "session already exists")
	}
	return err
}

// GetSession returns the session with the ID, expired or not. Returns
// ENOTFOUND, and EUNAVAILABLE when the database cannot be reached.
func (s *Store) GetSession(ctx context.Context, id string) (*auditkeep.Session, error) {
	var ss *auditkeep.Session
	err := s.retry(ctx, idempotent, func() (err error) {
		ss, err = scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	if err != nil {
		return nil, err
	}
	return ss, nil
}

// DeleteSession deletes the session with the ID, if there is one. Returns
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.deleteSessions(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return err
}

// DeleteKeySessions deletes the sessions of the tenant's key and returns
// how many there were. Returns EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) DeleteKeySessions(ctx context.Context, tenant, keyID string) (int, error) {
	return s.deleteSessions(ctx, `DELETE FROM sessions WHERE tenant = $1 AND key_id = $2`, tenant, keyID)
}

// DeleteExpiredSessions deletes the sessions that expired before now and
// returns how many there were. Returns EUNAVAILABLE when the database
// cannot be reached.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	at, nsec := splitTime(now)
	return s.deleteSessions(ctx, `DELETE FROM sessions WHERE (expires_at, expires_nsec) < ($1, $2)`, at, nsec)
}

func (s *Store) deleteSessions(ctx context.Context, query string, args ...any) (int, error) {
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, query, args...)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

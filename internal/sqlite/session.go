package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
)

// CreateSession stores a new session. Returns ECONFLICT when a session has
// the ID, ENOTFOUND when the tenant has no key with the session's KeyID (or,
// for a person's session, when there is no such tenant), EUNAVAILABLE when
// storage fails.
func (s *Store) CreateSession(ctx context.Context, ss *auditkeep.Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	var n int
	if ss.KeyID == "" {
		if err := requireTenant(ctx, tx, ss.Tenant); err != nil {
			return err
		}
	} else {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM api_keys WHERE tenant = ? AND id = ?", ss.Tenant, ss.KeyID).Scan(&n); err != nil {
			return dbError(err)
		}
		if n == 0 {
			return auditkeep.Errorf(auditkeep.ENOTFOUND, "key %q of tenant %q not found", ss.KeyID, ss.Tenant)
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, tenant, key_id, created_at, expires_at, subject, name, email, role,
			last_seen_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		ss.ID, ss.Tenant, ss.KeyID, ss.CreatedAt.UnixNano(), ss.ExpiresAt.UnixNano(), ss.Subject, ss.Name, ss.Email, ss.Role,
		ss.SeenMinute().UnixNano(), ss.IP, ss.UserAgent)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "session already exists")
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// GetSession returns the session with the ID, expired or not. Returns
// ENOTFOUND, EUNAVAILABLE when storage fails.
func (s *Store) GetSession(ctx context.Context, id string) (*auditkeep.Session, error) {
	ss, err := scanSession(s.r.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	if err != nil {
		return nil, dbError(err)
	}
	return ss, nil
}

// DeleteSession deletes the session with the ID, if there is one. Returns
// EUNAVAILABLE when storage fails.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.deleteSessions(ctx, "DELETE FROM sessions WHERE id = ?", id)
	return err
}

// DeleteKeySessions deletes the sessions of the tenant's key and returns
// how many there were. Returns EUNAVAILABLE when storage fails.
func (s *Store) DeleteKeySessions(ctx context.Context, tenant, keyID string) (int, error) {
	return s.deleteSessions(ctx, "DELETE FROM sessions WHERE tenant = ? AND key_id = ?", tenant, keyID)
}

// DeleteExpiredSessions deletes the sessions that expired before now and
// returns how many there were. Returns EUNAVAILABLE when storage fails.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return s.deleteSessions(ctx, "DELETE FROM sessions WHERE expires_at < ?", now.UnixNano())
}

func (s *Store) deleteSessions(ctx context.Context, query string, args ...any) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbError(err)
	}
	return int(n), nil
}

package postgres

import (
	"context"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sessionColumns are the columns scanSession reads, in its order.
const sessionColumns = "id, tenant, COALESCE(key_id, ''), created_at, created_nsec, expires_at, expires_nsec, subject, name, email, role, last_seen_at, ip, user_agent"

// scanSession reads one row of sessionColumns.
func scanSession(row pgx.Row) (*auditkeep.Session, error) {
	ss := &auditkeep.Session{}
	var createdNsec, expiresNsec int16
	var seen *time.Time
	if err := row.Scan(&ss.ID, &ss.Tenant, &ss.KeyID, &ss.CreatedAt, &createdNsec, &ss.ExpiresAt, &expiresNsec,
		&ss.Subject, &ss.Name, &ss.Email, &ss.Role, &seen, &ss.IP, &ss.UserAgent); err != nil {
		return nil, err
	}
	ss.CreatedAt = joinTime(ss.CreatedAt, createdNsec)
	ss.ExpiresAt = joinTime(ss.ExpiresAt, expiresNsec)
	ss.LastSeenAt = ss.CreatedAt.Truncate(time.Minute)
	if seen != nil {
		ss.LastSeenAt = seen.UTC()
	}
	return ss, nil
}

// ListSessions returns the tenant's sessions, expired ones too, newest
// first. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) ListSessions(ctx context.Context, tenant string) ([]*auditkeep.Session, error) {
	var list []*auditkeep.Session
	err := s.retry(ctx, idempotent, func() error {
		list = []*auditkeep.Session{}
		rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE tenant = $1
			ORDER BY created_at DESC, created_nsec DESC, id`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ss, err := scanSession(rows)
			if err != nil {
				return err
			}
			list = append(list, ss)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// TouchSession sets the session's last request to the minute of seen and
// its expiry to expires. Returns ENOTFOUND when there is no such session
// and EUNAVAILABLE when the database cannot be reached.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	at, nsec := splitTime(expires)
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2, expires_at = $3, expires_nsec = $4 WHERE id = $1`,
			id, seen.UTC().Truncate(time.Minute), at, nsec)
		return err
	})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	return nil
}

package sqlite

import (
	"context"
	"time"

	"github.com/auditkeep/auditkeep"
)

// sessionColumns are the columns scanSession reads, in its order.
const sessionColumns = "id, tenant, key_id, created_at, expires_at, subject, name, email, role, last_seen_at, ip, user_agent"

// scanSession reads one row of sessionColumns.
func scanSession(row interface{ Scan(...any) error }) (*auditkeep.Session, error) {
	ss := &auditkeep.Session{}
	var created, expires, seen int64
	if err := row.Scan(&ss.ID, &ss.Tenant, &ss.KeyID, &created, &expires, &ss.Subject, &ss.Name, &ss.Email, &ss.Role, &seen, &ss.IP, &ss.UserAgent); err != nil {
		return nil, err
	}
	ss.CreatedAt = time.Unix(0, created).UTC()
	ss.ExpiresAt = time.Unix(0, expires).UTC()
	ss.LastSeenAt = ss.CreatedAt.Truncate(time.Minute)
	if seen != 0 {
		ss.LastSeenAt = time.Unix(0, seen).UTC()
	}
	return ss, nil
}

// ListSessions returns the tenant's sessions, expired ones too, newest
// first. Returns EUNAVAILABLE when storage fails.
func (s *Store) ListSessions(ctx context.Context, tenant string) ([]*auditkeep.Session, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE tenant = ? ORDER BY created_at DESC, id", tenant)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	list := []*auditkeep.Session{}
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, dbError(err)
		}
		list = append(list, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return list, nil
}

// TouchSession sets the session's last request to the minute of seen and
// its expiry to expires. Returns ENOTFOUND when there is no such session,
// EUNAVAILABLE when storage fails.
func (s *Store) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?",
		seen.UTC().Truncate(time.Minute).UnixNano(), expires.UnixNano(), id)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "session not found")
	}
	return nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/auditkeep/auditkeep"
)

// keyColumns are the columns scanKey reads, in its order.
const keyColumns = "tenant, id, name, scopes, hash, created_at, revoked_at, expires_at, last_used_at"

// scanKey reads one row of keyColumns.
func scanKey(row interface{ Scan(...any) error }) (*auditkeep.APIKey, error) {
	k := &auditkeep.APIKey{}
	var scopes string
	var created int64
	var revoked, expires, used sql.NullInt64
	if err := row.Scan(&k.Tenant, &k.ID, &k.Name, &scopes, &k.Hash, &created, &revoked, &expires, &used); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, err
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	k.RevokedAt, k.ExpiresAt, k.LastUsedAt = timeOrNil(revoked), timeOrNil(expires), timeOrNil(used)
	return k, nil
}

func timeOrNil(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.Unix(0, n.Int64).UTC()
	return &t
}

func nanosOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

// ListKeys returns the tenant's keys, revoked and expired ones too, oldest
// first. Returns ENOTFOUND for an unknown tenant, EUNAVAILABLE when storage
// fails.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]*auditkeep.APIKey, error) {
	if err := requireTenant(ctx, s.r, tenant); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE tenant = ? ORDER BY created_at, id", tenant)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	keys := []*auditkeep.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, dbError(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return keys, nil
}

// TouchKey sets the key's last use to the minute of at, unless a later
// minute is stored. Returns ENOTFOUND when the tenant has no such key,
// EUNAVAILABLE when storage fails.
func (s *Store) TouchKey(ctx context.Context, tenant, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := at.UTC().Truncate(time.Minute).UnixNano()
	res, err := s.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?), ?)
		WHERE tenant = ? AND id = ?`, m, m, tenant, id)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "key %q not found", id)
	}
	return nil
}

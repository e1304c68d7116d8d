package postgres

import (
	"context"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// keyColumns are the columns scanKey reads, in its order.
const keyColumns = "tenant, id, name, scopes, hash, created_at, created_nsec, revoked_at, revoked_nsec, expires_at, expires_nsec, last_used_at"

// scanKey reads one row of keyColumns.
func scanKey(row pgx.Row) (*auditkeep.APIKey, error) {
	k := &auditkeep.APIKey{}
	var nsec, revokedNsec, expiresNsec int16
	var revoked, expires, used *time.Time
	if err := row.Scan(&k.Tenant, &k.ID, &k.Name, &k.Scopes, &k.Hash, &k.CreatedAt, &nsec, &revoked, &revokedNsec, &expires, &expiresNsec, &used); err != nil {
		return nil, err
	}
	k.CreatedAt = joinTime(k.CreatedAt, nsec)
	if revoked != nil {
		r := joinTime(*revoked, revokedNsec)
		k.RevokedAt = &r
	}
	if expires != nil {
		e := joinTime(*expires, expiresNsec)
		k.ExpiresAt = &e
	}
	if used != nil {
		u := used.UTC()
		k.LastUsedAt = &u
	}
	return k, nil
}

// ListKeys returns the tenant's keys, revoked and expired ones too, oldest
// first. Returns ENOTFOUND for an unknown tenant and EUNAVAILABLE when the
// database cannot be reached.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]*auditkeep.APIKey, error) {
	if _, err := s.GetTenant(ctx, tenant); err != nil {
		return nil, err
	}
	var keys []*auditkeep.APIKey
	err := s.retry(ctx, idempotent, func() error {
		keys = []*auditkeep.APIKey{}
		rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE tenant = $1
			ORDER BY created_at, created_nsec, id`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// TouchKey sets the key's last use to the minute of at, unless a later
// minute is stored. Returns ENOTFOUND when the tenant has no such key and
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) TouchKey(ctx context.Context, tenant, id string, at time.Time) error {
	m := at.UTC().Truncate(time.Minute)
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = greatest(last_used_at, $3)
			WHERE tenant = $1 AND id = $2`, tenant, id, m)
		return err
	})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "key %q not found", id)
	}
	return nil
}

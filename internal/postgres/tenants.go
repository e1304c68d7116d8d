package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL keeps microseconds; the nanoseconds below them are stored in a
// column of their own so that times round-trip exactly.

// splitTime returns t in UTC cut to microseconds, and the nanoseconds cut off.
func splitTime(t time.Time) (time.Time, int16) {
	t = t.UTC()
	return t.Truncate(time.Microsecond), int16(t.Nanosecond() % 1000)
}

// joinTime is the inverse of splitTime.
func joinTime(t time.Time, nsec int16) time.Time {
	return t.UTC().Add(time.Duration(nsec))
}

// isCode reports whether err is a PostgreSQL error with the SQLSTATE code.
func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

// CreateTenant stores a new tenant; a zero CreatedAt is set to now. Returns
// ECONFLICT if the ID is taken and EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) CreateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	at, nsec := splitTime(t.CreatedAt)
	err := s.retry(ctx, once, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO tenants (id, retention_days, plan, created_at, created_nsec) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, t.RetentionDays, t.Plan, at, nsec)
		return err
	})
	if isCode(err, "23505") {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tenant %q already exists", t.ID)
	}
	return err
}

// GetTenant returns the tenant. Returns ENOTFOUND for an unknown tenant and
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) GetTenant(ctx context.Context, id string) (*auditkeep.Tenant, error) {
	t := &auditkeep.Tenant{}
	var nsec int16
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, `SELECT id, retention_days, plan, created_at, created_nsec FROM tenants WHERE id = $1`, id).
			Scan(&t.ID, &t.RetentionDays, &t.Plan, &t.CreatedAt, &nsec)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	t.CreatedAt = joinTime(t.CreatedAt, nsec)
	return t, nil
}

// UpdateTenant stores the tenant's retention and plan. Returns ENOTFOUND for
// an unknown tenant and EUNAVAILABLE when the database cannot be reached.
func (s *Store) UpdateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `UPDATE tenants SET retention_days = $2, plan = $3 WHERE id = $1`, t.ID, t.RetentionDays, t.Plan)
		return err
	})
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", t.ID)
	}
	return nil
}

// CreateKey stores a key (its hash); a zero CreatedAt is set to now. Returns
// ENOTFOUND for an unknown tenant, ECONFLICT when the tenant already has a
// key with the ID or another key has the hash, and EUNAVAILABLE when the
// database cannot be reached.
func (s *Store) CreateKey(ctx context.Context, k *auditkeep.APIKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now().UTC()
	}
	at, nsec := splitTime(k.CreatedAt)
	var revoked *time.Time
	var revokedNsec int16
	if k.RevokedAt != nil {
		r, n := splitTime(*k.RevokedAt)
		revoked, revokedNsec = &r, n
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	var expires *time.Time
	var expiresNsec int16
	if k.ExpiresAt != nil {
		e, n := splitTime(*k.ExpiresAt)
		expires, expiresNsec = &e, n
	}
	err := s.retry(ctx, once, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (tenant, id, name, scopes, hash, created_at, created_nsec, revoked_at, revoked_nsec,
				expires_at, expires_nsec, last_used_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			k.Tenant, k.ID, k.Name, scopes, k.Hash, at, nsec, revoked, revokedNsec, expires, expiresNsec, k.LastUsedAt)
		return err
	})
	switch {
	case isCode(err, "23503"):
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", k.Tenant)
	case isCode(err, "23505"):
		return auditkeep.Errorf(auditkeep.ECONFLICT, "key %q already exists", k.ID)
	}
	return err
}

// KeyByHash returns the key with the SHA-256 hex hash, revoked or not.
// Returns ENOTFOUND, and EUNAVAILABLE when the database cannot be reached.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*auditkeep.APIKey, error) {
	var k *auditkeep.APIKey
	err := s.retry(ctx, idempotent, func() (err error) {
		k, err = scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "key not found")
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// RevokeKey marks a key revoked at the time given; revoking a revoked key
// keeps its first revocation time. Returns ENOTFOUND when the tenant has no
// such key and EUNAVAILABLE when the database cannot be reached.
func (s *Store) RevokeKey(ctx context.Context, tenant, id string, at time.Time) error {
	t, nsec := splitTime(at)
	var tag pgconn.CommandTag
	err := s.retry(ctx, idempotent, func() (err error) {
		tag, err = s.pool.Exec(ctx, `UPDATE api_keys
			SET revoked_at = coalesce(revoked_at, $3), revoked_nsec = CASE WHEN revoked_at IS NULL THEN $4 ELSE revoked_nsec END
			WHERE tenant = $1 AND id = $2`, tenant, id, t, nsec)
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

// GetSetting returns a setting's value; tenant "" holds the server's own.
// Returns ENOTFOUND when it was never set and EUNAVAILABLE when the database
// cannot be reached.
func (s *Store) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	var v []byte
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE tenant = $1 AND name = $2`, tenant, name).Scan(&v)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "setting %q not found", name)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// PutSetting stores a setting's value, replacing any earlier one. Returns
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) PutSetting(ctx context.Context, tenant, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	return s.retry(ctx, idempotent, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO settings (tenant, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value`, tenant, name, value)
		return err
	})
}

// InitSetting stores value only if the setting is absent, and returns the
// value stored now: value, or the earlier one. Nodes racing to initialise a
// setting all get the one that was stored first. Returns EUNAVAILABLE when
// the database cannot be reached.
func (s *Store) InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error) {
	if value == nil {
		value = []byte{}
	}
	for {
		var tag pgconn.CommandTag
		err := s.retry(ctx, idempotent, func() (err error) {
			tag, err = s.pool.Exec(ctx, `INSERT INTO settings (tenant, name, value) VALUES ($1, $2, $3)
				ON CONFLICT (tenant, name) DO NOTHING`, tenant, name, value)
			return err
		})
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			return value, nil
		}
		// Another writer got there first; this statement sees its commit.
		v, err := s.GetSetting(ctx, tenant, name)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			continue // cannot happen while settings are never deleted
		}
		return v, err
	}
}

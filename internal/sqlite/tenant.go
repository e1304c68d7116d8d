package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/auditkeep/auditkeep"
)

// maxTenantNum bounds tenant numbers so that num<<40 | seq fits an int64.
const maxTenantNum = 1<<23 - 1

func notFoundTenant(id string) error {
	return auditkeep.Errorf(auditkeep.ENOTFOUND, "tenant %q not found", id)
}

// CreateTenant stores a new tenant. Returns ECONFLICT if the ID is taken,
// EINVALID for an invalid ID, EUNAVAILABLE when storage fails.
func (s *Store) CreateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	if !auditkeep.ValidTenantID(t.ID) {
		return auditkeep.FieldErrorf("id", "tenant id %q is not valid", t.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback()
	var next int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(num), 0) + 1 FROM tenants").Scan(&next); err != nil {
		return dbError(err)
	}
	if next > maxTenantNum {
		return auditkeep.Errorf(auditkeep.EINVALID, "too many tenants")
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO tenants (num, id, retention_days, plan, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		next, t.ID, t.RetentionDays, t.Plan, t.CreatedAt.UnixNano())
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "tenant %q already exists", t.ID)
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// GetTenant returns the tenant. Returns ENOTFOUND for an unknown tenant,
// EUNAVAILABLE when storage fails.
func (s *Store) GetTenant(ctx context.Context, id string) (*auditkeep.Tenant, error) {
	t := &auditkeep.Tenant{ID: id}
	var created int64
	err := s.r.QueryRowContext(ctx, "SELECT retention_days, plan, created_at FROM tenants WHERE id = ?", id).
		Scan(&t.RetentionDays, &t.Plan, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFoundTenant(id)
	}
	if err != nil {
		return nil, dbError(err)
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	return t, nil
}

// UpdateTenant stores the tenant's retention and plan. Returns ENOTFOUND
// for an unknown tenant, EUNAVAILABLE when storage fails.
func (s *Store) UpdateTenant(ctx context.Context, t *auditkeep.Tenant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, "UPDATE tenants SET retention_days = ?, plan = ? WHERE id = ?", t.RetentionDays, t.Plan, t.ID)
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return notFoundTenant(t.ID)
	}
	return nil
}

// CreateKey stores a key (its hash). Returns ENOTFOUND for an unknown
// tenant, ECONFLICT when the tenant already has a key with this ID or any
// key has this hash, EUNAVAILABLE when storage fails.
func (s *Store) CreateKey(ctx context.Context, k *auditkeep.APIKey) error {
	scopes, err := json.Marshal(k.Scopes)
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
	if err := requireTenant(ctx, tx, k.Tenant); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (tenant, id, name, scopes, hash, created_at, revoked_at, expires_at, last_used_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		k.Tenant, k.ID, k.Name, string(scopes), k.Hash, k.CreatedAt.UnixNano(), nanosOrNull(k.RevokedAt), nanosOrNull(k.ExpiresAt), nanosOrNull(k.LastUsedAt))
	if err != nil {
		return dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbError(err)
	} else if n == 0 {
		return auditkeep.Errorf(auditkeep.ECONFLICT, "key %q already exists", k.ID)
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// KeyByHash returns the key with the SHA-256 hex hash, revoked or not.
// Returns ENOTFOUND, or EUNAVAILABLE when storage fails.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*auditkeep.APIKey, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "key not found")
	}
	if err != nil {
		return nil, dbError(err)
	}
	return k, nil
}

// RevokeKey marks a key revoked at the given time; revoking a revoked key
// keeps the first time. Returns ENOTFOUND when the tenant has no such key,
// EUNAVAILABLE when storage fails.
func (s *Store) RevokeKey(ctx context.Context, tenant, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.w.ExecContext(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant = ? AND id = ?",
		at.UnixNano(), tenant, id)
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

// GetSetting returns a setting's value; tenant "" holds the server's own.
// Returns ENOTFOUND when it was never set, EUNAVAILABLE when storage fails.
func (s *Store) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE tenant = ? AND name = ?", tenant, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "setting %q not found", name)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return v, nil
}

// PutSetting stores a setting's value, replacing any earlier one. Returns
// EUNAVAILABLE when storage fails.
func (s *Store) PutSetting(ctx context.Context, tenant, name string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (tenant, name, value) VALUES (?, ?, ?)
		ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value`, tenant, name, nonNil(value))
	if err != nil {
		return dbError(err)
	}
	return nil
}

// InitSetting stores value only if the setting is absent, and returns the
// value stored now (value, or the earlier one). Returns EUNAVAILABLE when
// storage fails.
func (s *Store) InitSetting(ctx context.Context, tenant, name string, value []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, dbError(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (tenant, name, value) VALUES (?, ?, ?)
		ON CONFLICT (tenant, name) DO NOTHING`, tenant, name, nonNil(value)); err != nil {
		return nil, dbError(err)
	}
	var v []byte
	if err := tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE tenant = ? AND name = ?", tenant, name).Scan(&v); err != nil {
		return nil, dbError(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, dbError(err)
	}
	return v, nil
}

// nonNil returns b, or an empty slice for nil (NOT NULL columns).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// tenantNum returns the tenant's number for readers, or 0 when the tenant
// does not exist.
func (s *Store) tenantNum(ctx context.Context, tenant string) (int64, error) {
	s.numMu.RLock()
	num, ok := s.nums[tenant]
	s.numMu.RUnlock()
	if ok {
		return num, nil
	}
	err := s.r.QueryRowContext(ctx, "SELECT num FROM tenants WHERE id = ?", tenant).Scan(&num)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbError(err)
	}
	s.numMu.Lock()
	s.nums[tenant] = num
	s.numMu.Unlock()
	return num, nil
}

// tenantRange returns the first and last possible key of a tenant.
func tenantRange(num int64) (lo, hi int64) { return num<<40 | 1, num<<40 | (1<<40 - 1) }

// requireTenant returns ENOTFOUND when tx sees no tenant id, EUNAVAILABLE
// when storage fails.
func requireTenant(ctx context.Context, tx interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ?", id).Scan(&n); err != nil {
		return dbError(err)
	}
	if n == 0 {
		return notFoundTenant(id)
	}
	return nil
}

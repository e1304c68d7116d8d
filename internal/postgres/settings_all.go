package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// TenantSettings returns every tenant's value of the setting name. Returns
// EUNAVAILABLE when the database cannot be reached.
func (s *Store) TenantSettings(ctx context.Context, name string) (map[string][]byte, error) {
	var out map[string][]byte
	err := s.retry(ctx, idempotent, func() error {
		out = map[string][]byte{}
		rows, _ := s.pool.Query(ctx, `SELECT tenant, value FROM settings WHERE name = $1 AND tenant <> ''`, name)
		var t string
		var v []byte
		_, err := pgx.ForEachRow(rows, []any{&t, &v}, func() error {
			out[t] = append([]byte(nil), v...)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

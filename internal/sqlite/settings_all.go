package sqlite

import "context"

// TenantSettings returns every tenant's value of the setting name. Returns
// EUNAVAILABLE when storage fails.
func (s *Store) TenantSettings(ctx context.Context, name string) (map[string][]byte, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT tenant, value FROM settings WHERE name = ? AND tenant <> ''", name)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var t string
		var v []byte
		if err := rows.Scan(&t, &v); err != nil {
			return nil, dbError(err)
		}
		out[t] = v
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

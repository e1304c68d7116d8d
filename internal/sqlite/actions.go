package sqlite

import (
	"context"
)

// ActionCounts returns how many of the tenant's stored events carry each
// action. It reads the counts that Append keeps in the term dictionary, so it
// costs one index range read whatever the number of events. An unknown
// tenant, or one without events, has none. Returns EUNAVAILABLE when storage
// fails.
func (s *Store) ActionCounts(ctx context.Context, tenant string) (map[string]int64, error) {
	out := map[string]int64{}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return out, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT value, count FROM terms WHERE tenant = ? AND field = ? AND count > 0", num, fAction)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var action string
		var n int64
		if err := rows.Scan(&action, &n); err != nil {
			return nil, dbError(err)
		}
		out[action] = n
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

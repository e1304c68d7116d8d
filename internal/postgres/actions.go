package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ActionCounts returns how many of the tenant's stored events carry each
// action. It counts with an index-only scan of events_action (tenant_no,
// action, seq) — or a parallel sequential scan when the tenant holds most of
// the table — so its cost grows with the tenant's events: 0.26–0.44 s for
// 200,000 events on a busy 2-core machine. An unknown tenant, or one without
// events, has none. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) ActionCounts(ctx context.Context, tenant string) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.retry(ctx, idempotent, func() error {
		clear(out)
		rows, err := s.pool.Query(ctx, `SELECT e.action, count(*) FROM events e
			WHERE e.tenant_no = (SELECT no FROM tenants WHERE id = $1)
			GROUP BY e.action`, tenant)
		if err != nil {
			return err
		}
		var action string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&action, &n}, func() error {
			out[action] = n
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

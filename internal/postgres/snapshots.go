package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/jackc/pgx/v5"
)

// snapshotLookback is how many of a target's latest events
// PreviousSnapshots looks through, as the change tracker does when it pages
// through ListEvents (10, then four pages of 100).
const snapshotLookback = 410

// previousSnapshots finds, for each wanted target, its latest event with a
// snapshot among the target id's latest snapshotLookback events. A stored
// row has a snapshot when its snapshot column is set, or, for the rows whose
// jsonb column could not hold it (a "\u0000") and rows stored before the
// column existed, when its body has one at the top level: the body is parsed
// as jsonb with every \u0000 escape made another (a six-character escape
// for another, so the JSON stays valid whatever precedes it).
const previousSnapshots = `SELECT w.i, p.body
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS w(tenant, type, id, event, i)
JOIN tenants t ON t.id = w.tenant
CROSS JOIN LATERAL (
	SELECT x.body FROM (
		SELECT e.seq, e.id, e.target_type, e.snapshot, e.body FROM events e
		WHERE e.tenant_no = t.no AND e.target_id = w.id
		ORDER BY e.seq DESC LIMIT $5) x
	WHERE x.id <> w.event AND x.target_type = w.type
		AND (x.snapshot IS NOT NULL
			OR (position('"snapshot"'::bytea IN x.body) > 0
				AND replace(convert_from(x.body, 'UTF8'), '\u0000', '\u0020')::jsonb ? 'snapshot'))
	ORDER BY x.seq DESC LIMIT 1) p`

// PreviousSnapshots returns, for each event, the snapshot of the latest
// stored event of its target (same tenant, target type and id) other than
// the event itself, looking back through at most the target id's latest 410
// events; nil when there is none or the event has no target. It reads every
// target in one query. Returns EUNAVAILABLE when the database cannot be
// reached.
func (s *Store) PreviousSnapshots(ctx context.Context, events []*auditkeep.Event) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(events))
	var tenants, types, ids, eventIDs []string
	var index []int // index[k] is the event of the query's row k+1
	for i, e := range events {
		if e.Target == nil || e.Target.ID == "" {
			continue
		}
		tenants, types, ids, eventIDs = append(tenants, e.Tenant), append(types, cut(e.Target.Type, maxIndexed)),
			append(ids, cut(e.Target.ID, maxIndexed)), append(eventIDs, e.ID)
		index = append(index, i)
	}
	if len(index) == 0 {
		return out, nil
	}
	err := s.retry(ctx, idempotent, func() error {
		clear(out)
		rows, err := s.pool.Query(ctx, previousSnapshots, tenants, types, ids, eventIDs, snapshotLookback)
		if err != nil {
			return err
		}
		var i int64
		var body []byte
		_, err = pgx.ForEachRow(rows, []any{&i, &body}, func() error {
			var stored struct {
				Snapshot json.RawMessage `json:"snapshot"`
			}
			if err := json.Unmarshal(body, &stored); err != nil {
				return fmt.Errorf("stored event: %w", err)
			}
			out[index[i-1]] = stored.Snapshot
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/auditkeep/auditkeep"
)

// queryKeys runs a statement selecting keys and returns them in its order.
func queryKeys(ctx context.Context, q querier, query string, args []any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// loadEvents reads the events of keys, in the order of keys. Bodies are
// decoded on every core.
func loadEvents(ctx context.Context, stmt *sql.Stmt, tenant string, keys []int64) ([]*auditkeep.Event, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := stmt.QueryContext(ctx, jsonInts(keys))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	bodies := make(map[int64][]byte, len(keys))
	for rows.Next() {
		var k int64
		var body []byte
		if err := rows.Scan(&k, &body); err != nil {
			return nil, err
		}
		bodies[k] = body
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	events := make([]*auditkeep.Event, len(keys))
	errs := make([]error, len(keys))
	decode := func(i int) {
		body, ok := bodies[keys[i]]
		if !ok {
			errs[i] = fmt.Errorf("event %d vanished", keys[i])
			return
		}
		events[i], errs[i] = decodeBody(body, tenant, keys[i]&seqMask)
	}
	workers := min(runtime.GOMAXPROCS(0), (len(keys)+15)/16)
	if workers <= 1 {
		for i := range keys {
			decode(i)
		}
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(keys); i += workers {
					decode(i)
				}
			})
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return events, nil
}

// Fixed-shape reads, prepared once per connection: lists go in as one JSON
// array.
const (
	sqlLoadEvents = "SELECT k, body FROM events WHERE k IN (SELECT value FROM json_each(?))"
	sqlDeleted    = "SELECT type, id FROM deleted_targets WHERE tenant = ? AND id IN (SELECT value FROM json_each(?))"
)

// readStmts are the readers' prepared statements.
type readStmts struct {
	load, deleted *sql.Stmt
}

func prepareRead(ctx context.Context, db *sql.DB) (*readStmts, error) {
	load, err := db.PrepareContext(ctx, sqlLoadEvents)
	if err != nil {
		return nil, err
	}
	deleted, err := db.PrepareContext(ctx, sqlDeleted)
	if err != nil {
		load.Close()
		return nil, err
	}
	return &readStmts{load: load, deleted: deleted}, nil
}

func (rs *readStmts) close() {
	if rs != nil {
		rs.load.Close()
		rs.deleted.Close()
	}
}

// markDeleted sets Target.Deleted on events whose target a delete event
// named. stmt is sqlDeleted.
func markDeleted(ctx context.Context, stmt *sql.Stmt, num int64, events []*auditkeep.Event) error {
	var ids []string
	seen := map[string]bool{}
	for _, e := range events {
		if e.Target != nil && !seen[e.Target.ID] {
			seen[e.Target.ID] = true
			ids = append(ids, e.Target.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, num, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	type target struct{ typ, id string }
	deleted := map[target]bool{}
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.typ, &t.id); err != nil {
			return err
		}
		deleted[t] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(deleted) == 0 {
		return nil
	}
	for _, e := range events {
		if e.Target != nil && deleted[target{e.Target.Type, e.Target.ID}] {
			e.Target.Deleted = true
		}
	}
	return nil
}

//go:build driverbench

package driverbench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// row is one event as the store writes it: the events row, its postings
// (term ids) and its full-text columns (actor name, email, target, action,
// team, IP, description).
type row struct {
	k, occurredAt, idHash int64
	body                  []byte
	terms                 []int64
	doc                   [7]string
}

// makeRows builds n audit-shaped rows of tenant 1 with realistic term
// cardinalities: 50 actions, 200 actors, 10,000 targets, 500 IPs, scopes
// three levels deep.
func makeRows(n int) []row {
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([]row, n)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range rows {
		seq := int64(i + 1)
		action := r.IntN(50)
		actor := r.IntN(200)
		target := r.IntN(10000)
		prj, env, svc := r.IntN(10), r.IntN(50), r.IntN(200)
		ip := r.IntN(500)
		ev := map[string]any{
			"tenant": "acme", "seq": seq, "received_at": time.Unix(0, base+seq*1e6).UTC(),
			"id":          fmt.Sprintf("evt_%016x", r.Uint64()),
			"occurred_at": time.Unix(0, base+seq*1e6).UTC(),
			"action":      fmt.Sprintf("resource%d.update", action),
			"type":        "update",
			"actor":       map[string]any{"type": "user", "id": fmt.Sprintf("usr_%d", actor), "name": fmt.Sprintf("User %d", actor), "email": fmt.Sprintf("user%d@example.com", actor)},
			"target":      map[string]any{"type": "service", "id": fmt.Sprintf("svc_%d", target), "name": fmt.Sprintf("service-%d", target)},
			"scope": []any{
				map[string]any{"type": "project", "id": fmt.Sprintf("prj_%d", prj), "name": "Shop"},
				map[string]any{"type": "environment", "id": fmt.Sprintf("env_%d", env), "name": "production"},
				map[string]any{"type": "service", "id": fmt.Sprintf("svc_%d", svc)},
			},
			"team": "platform", "source": "console",
			"context":     map[string]any{"ip": fmt.Sprintf("203.0.%d.%d", ip/250, ip%250), "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
			"status":      "success",
			"description": fmt.Sprintf("Updated service 'service-%d': cpu changed from 250 to 500", target),
			"changes":     []any{map[string]any{"field": "settings.cpu", "op": "changed", "old": 250, "new": 500}},
			"snapshot":    map[string]any{"id": fmt.Sprintf("svc_%d", target), "cpu": 500, "memory": 512, "min_instances": 1, "max_instances": 3, "ports": []int{8080, 9090}},
		}
		body, _ := json.Marshal(ev)
		rows[i] = row{
			k:          1<<40 | seq,
			occurredAt: base + seq*1e6,
			idHash:     int64(r.Uint64()),
			body:       body,
			// Term ids: disjoint ranges per field, as the dictionary assigns them.
			terms: []int64{
				1 + int64(action), 100 + int64(r.IntN(8)), 200 + int64(actor), 500 + 1, 1000 + int64(target),
				20000 + int64(r.IntN(20)), 30000 + int64(target/2), 40000 + int64(prj), 40100 + int64(env),
				40200 + int64(svc), 41000 + int64(r.IntN(5)), 42000 + int64(ip), 43000 + int64(r.IntN(6)), 44000 + int64(r.IntN(2)),
			},
			doc: [7]string{fmt.Sprintf("User %d", actor), fmt.Sprintf("user%d@example.com", actor), fmt.Sprintf("service-%d", target),
				fmt.Sprintf("resource%d.update", action), "platform", fmt.Sprintf("203.0.%d.%d", ip/250, ip%250),
				fmt.Sprintf("Updated service 'service-%d': cpu changed from 250 to 500", target)},
		}
	}
	return rows
}

func openDB(b *testing.B) *sql.DB {
	dir := b.TempDir()
	db, err := sql.Open(driverName, "file:"+filepath.Join(dir, "bench.db")+dsnSuffix)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	schema, err := os.ReadFile("../migration/0001_init.sql")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		b.Fatal(err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		b.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var sync int
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		b.Fatalf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	return db
}

// BenchmarkInsert inserts rows in transactions of 1,000 (events, postings,
// full-text) and reports rows/s and bytes on disk per row.
func BenchmarkInsert(b *testing.B) {
	const batch = 1000
	const total = 50_000
	rows := makeRows(total)
	var raw int
	for _, r := range rows {
		raw += len(r.body) + 1
	}
	for b.Loop() {
		b.StopTimer()
		db := openDB(b)
		ctx := context.Background()
		b.StartTimer()
		start := time.Now()
		var commit time.Duration
		for i := 0; i < total; i += batch {
			c, err := insertBatch(ctx, db, rows[i:i+batch])
			if err != nil {
				b.Fatal(err)
			}
			commit += c
		}
		el := time.Since(start)
		b.ReportMetric(float64(total)/el.Seconds(), "rows/s")
		b.ReportMetric(float64(commit)/float64(el), "commit-share")
		b.StopTimer()
		var pages, size int64
		db.QueryRow("PRAGMA page_count").Scan(&pages)
		db.QueryRow("PRAGMA page_size").Scan(&size)
		b.ReportMetric(float64(pages*size)/total, "B/row")
		b.ReportMetric(float64(pages*size)/float64(raw), "x-ndjson")
		db.Close()
		b.StartTimer()
	}
}

// insertBatch inserts rows in one transaction and returns the time its
// commit took.
func insertBatch(ctx context.Context, db *sql.DB, rows []row) (time.Duration, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ev, err := tx.PrepareContext(ctx, "INSERT INTO events(k, occurred_at, id_hash, body) VALUES (?, ?, ?, ?)")
	if err != nil {
		return 0, err
	}
	po, err := tx.PrepareContext(ctx, "INSERT INTO postings(term, k) VALUES (?, ?)")
	if err != nil {
		return 0, err
	}
	ft, err := tx.PrepareContext(ctx, "INSERT INTO events_fts(rowid, actor_name, actor_email, target, action, team, ip, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if _, err := ev.ExecContext(ctx, r.k, r.occurredAt, r.idHash, r.body); err != nil {
			return 0, err
		}
		for _, t := range r.terms {
			if _, err := po.ExecContext(ctx, t, r.k); err != nil {
				return 0, err
			}
		}
		if _, err := ft.ExecContext(ctx, r.k, r.doc[0], r.doc[1], r.doc[2], r.doc[3], r.doc[4], r.doc[5], r.doc[6]); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	err = tx.Commit()
	return time.Since(start), err
}

package sqlite

import (
	"context"
	"database/sql"

	"github.com/auditkeep/auditkeep"
)

// goMigrations holds the work of migrations that SQL alone cannot do (event
// bodies are decoded in Go), run in the migration's transaction after its
// SQL.
var goMigrations = map[string]func(ctx context.Context, tx *sql.Tx) error{
	"migration/0005_actor_name_terms.sql": backfillActorNames,
	"migration/0014_facet_counts.sql":     backfillFacetPairs,
}

// backfillActorNames posts the actor name and email terms (fActorName) of
// every stored event, reading the events a page at a time.
func backfillActorNames(ctx context.Context, tx *sql.Tx) error {
	ids := map[termKey]int64{}
	termID := func(k termKey) (int64, error) {
		if id, ok := ids[k]; ok {
			return id, nil
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO terms (tenant, field, value) VALUES (?, ?, ?)", k.tenant, k.field, k.value); err != nil {
			return 0, err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, sqlFindTerm, k.tenant, k.field, k.value).Scan(&id); err != nil {
			return 0, err
		}
		ids[k] = id
		return id, nil
	}
	var terms []termKey
	return eachStoredEvent(ctx, tx, func(k int64, e *auditkeep.Event) error {
		terms = eventTerms(terms[:0], k>>40, e)
		for _, tk := range terms {
			if tk.field != fActorName {
				continue
			}
			id, err := termID(tk)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO postings (term, k) VALUES (?, ?)", id, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachStoredEvent calls fn with every stored event and its key, in key
// order, reading (and decoding) a page of events at a time; a page is read
// whole before fn sees it, so fn may use tx.
func eachStoredEvent(ctx context.Context, tx *sql.Tx, fn func(k int64, e *auditkeep.Event) error) error {
	var after int64
	for {
		type row struct {
			k    int64
			body []byte
		}
		var page []row
		rows, err := tx.QueryContext(ctx, "SELECT k, body FROM events WHERE k > ? ORDER BY k LIMIT 1000", after)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.k, &r.body); err != nil {
				rows.Close()
				return err
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			e, err := decodeBody(r.body, "", r.k&seqMask)
			if err != nil {
				return err
			}
			if err := fn(r.k, e); err != nil {
				return err
			}
		}
		after = page[len(page)-1].k
	}
}

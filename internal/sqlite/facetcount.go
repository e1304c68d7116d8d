package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"

	"github.com/auditkeep/auditkeep"
)

// pairKey is one row of facet_pairs: the events posting term c1 (and term
// c2 when not 0) and term.
type pairKey struct{ c1, c2, term int64 }

// pairCount is a pair's number of events and its newest event's key.
type pairCount struct{ n, newest int64 }

// pairCounts adds up the pairs of a batch of events.
type pairCounts map[pairKey]pairCount

// add counts the pairs of the event of key k, whose terms (eventTerms)
// have the ids ids: (target type, target id), and for each scope term
// (scope, target type) and (scope, target type, target id). The pickers'
// target of a type, target type in a scope and target of a type in a
// scope read them.
func (pc pairCounts) add(terms []termKey, ids []int64, k int64) {
	var typ, target int64
	for i, tk := range terms {
		switch tk.field {
		case fTargetType:
			typ = ids[i]
		case fTargetID:
			target = ids[i]
		}
	}
	if typ == 0 {
		return
	}
	bump := func(key pairKey) {
		c := pc[key]
		c.n++
		c.newest = max(c.newest, k)
		pc[key] = c
	}
	if target != 0 {
		bump(pairKey{typ, 0, target})
	}
	for i, tk := range terms {
		if tk.field != fScope {
			continue
		}
		bump(pairKey{ids[i], 0, typ})
		if target != 0 {
			bump(pairKey{ids[i], typ, target})
		}
	}
}

// sqlUpsertPairs adds counts to facet_pairs: [[c1, c2, term, n, newest],
// …] as a JSON array.
const sqlUpsertPairs = `INSERT INTO facet_pairs (c1, c2, term, count, newest)
	SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true
	ON CONFLICT (c1, c2, term) DO UPDATE SET count = count + excluded.count, newest = max(newest, excluded.newest)`

// upsertPairs adds the batch's pair counts, in key order, in one statement.
func upsertPairs(ctx context.Context, tx *sql.Tx, pc pairCounts) error {
	if len(pc) == 0 {
		return nil
	}
	keys := make([]pairKey, 0, len(pc))
	for key := range pc {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b pairKey) int {
		return cmp.Or(cmp.Compare(a.c1, b.c1), cmp.Compare(a.c2, b.c2), cmp.Compare(a.term, b.term))
	})
	b := make([]byte, 0, 40*len(keys))
	b = append(b, '[')
	for i, key := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		c := pc[key]
		b = append(b, '[')
		for j, v := range []int64{key.c1, key.c2, key.term, c.n, c.newest} {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, v, 10)
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	_, err := tx.ExecContext(ctx, sqlUpsertPairs, string(b))
	return err
}

// removePairs takes the pairs of removed events off facet_pairs: a pair
// left with no event is deleted, one whose newest event was removed gets
// the newest of those left. removed holds the removed events' keys.
func removePairs(ctx context.Context, tx *sql.Tx, pc pairCounts, removed map[int64]bool) error {
	for key, c := range pc {
		var n, newest int64
		err := tx.QueryRowContext(ctx, `UPDATE facet_pairs SET count = count - ? WHERE c1 = ? AND c2 = ? AND term = ?
			RETURNING count, newest`, c.n, key.c1, key.c2, key.term).Scan(&n, &newest)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case n <= 0:
			_, err = tx.ExecContext(ctx, "DELETE FROM facet_pairs WHERE c1 = ? AND c2 = ? AND term = ?", key.c1, key.c2, key.term)
		case removed[newest]:
			_, err = tx.ExecContext(ctx, `UPDATE facet_pairs SET newest = coalesce((SELECT p.k FROM postings p
				WHERE p.term = ?3 AND EXISTS (SELECT 1 FROM postings q WHERE q.term = ?1 AND q.k = p.k)
				AND (?2 = 0 OR EXISTS (SELECT 1 FROM postings r WHERE r.term = ?2 AND r.k = p.k))
				ORDER BY p.k DESC LIMIT 1), newest) WHERE c1 = ?1 AND c2 = ?2 AND term = ?3`, key.c1, key.c2, key.term)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// backfillFacetPairs counts the pairs of every stored event (migration
// 0014), reading the events a page at a time.
func backfillFacetPairs(ctx context.Context, tx *sql.Tx) error {
	ids := map[termKey]int64{}
	pc := pairCounts{}
	var terms []termKey
	var termIDs []int64
	err := eachStoredEvent(ctx, tx, func(k int64, e *auditkeep.Event) error {
		terms, termIDs = eventTerms(terms[:0], k>>40, e), termIDs[:0]
		for _, tk := range terms {
			id := int64(0)
			if tk.field == fTargetType || tk.field == fTargetID || tk.field == fScope {
				var ok bool
				if id, ok = ids[tk]; !ok {
					if err := tx.QueryRowContext(ctx, sqlFindTerm, tk.tenant, tk.field, tk.value).Scan(&id); err != nil {
						return err
					}
					ids[tk] = id
				}
			}
			termIDs = append(termIDs, id)
		}
		pc.add(terms, termIDs, k)
		if len(ids) > 1<<20 {
			clear(ids)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return upsertPairs(ctx, tx, pc)
}

// pairFacet reports whether the facet of field under f is read from
// facet_pairs: a target facet under one target type (and at most one
// scope), or a target type facet under one scope, with no other condition.
// It returns the pairs' leading term ids (c1, c2), and ok false
// otherwise; c1 is 0 when a term is not in the dictionary (no event
// matches).
func pairFacet(ctx context.Context, q querier, num int64, field string, f *auditkeep.Filter, p *plan) (c1, c2 int64, ok bool, err error) {
	typ, scope, ok := auditkeep.CountedFacetFilter(field, f)
	if !ok || p.hasTime || typ == "" && scope == "" || auditkeep.IsScopeFacet(field) {
		return 0, 0, false, nil
	}
	id := func(code int, v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		var id int64
		err := q.QueryRowContext(ctx, sqlFindTerm, num, code, v).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return -1, nil
		}
		return id, err
	}
	ty, err := id(fTargetType, typ)
	if err != nil {
		return 0, 0, false, dbError(err)
	}
	sc, err := id(fScope, scope)
	if err != nil {
		return 0, 0, false, dbError(err)
	}
	if ty < 0 || sc < 0 {
		return 0, 0, true, nil
	}
	if sc == 0 {
		return ty, 0, true, nil
	}
	return sc, ty, true, nil
}

// facetsPairs returns the values of the pairs led by (c1, c2), the first
// limit in value order, with their counts kept on write, named from their
// newest events.
func (s *Store) facetsPairs(ctx context.Context, tx *sql.Tx, tenant, field string, c1, c2 int64, limit int) ([]auditkeep.Facet, bool, error) {
	if c1 == 0 {
		return nil, false, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT t.value, fp.count, fp.newest FROM facet_pairs fp JOIN terms t ON t.id = fp.term
		WHERE fp.c1 = ? AND fp.c2 = ? AND fp.count > 0 ORDER BY t.value LIMIT ?`, c1, c2, limit+1)
	if err != nil {
		return nil, false, dbError(err)
	}
	defer rows.Close()
	var facets []auditkeep.Facet
	var newest []int64
	for rows.Next() {
		var v auditkeep.Facet
		var k int64
		if err := rows.Scan(&v.ID, &v.Count, &k); err != nil {
			return nil, false, dbError(err)
		}
		if v.Count > auditkeep.FacetCountCap {
			v.Count, v.More = auditkeep.FacetCountCap, true
		}
		facets, newest = append(facets, v), append(newest, k)
	}
	if err := rows.Err(); err != nil {
		return nil, false, dbError(err)
	}
	more := len(facets) > limit
	facets, newest = facets[:min(len(facets), limit)], newest[:min(len(newest), limit)]
	return s.nameFacets(ctx, tx, tenant, field, facets, newest, more)
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditkeep/auditkeep"
)

var _ auditkeep.FacetStore = (*Store)(nil)

// facetColumns maps facet fields to the column whose values they list.
var facetColumns = map[string]string{
	auditkeep.FacetProject:     "scope_path",
	auditkeep.FacetEnvironment: "scope_path",
	auditkeep.FacetService:     "scope_path",
	auditkeep.FieldTargetType:  "target_type",
	auditkeep.FieldTarget:      "target_id",
	auditkeep.FieldActor:       "actor_id",
	auditkeep.FieldTeam:        "team",
	auditkeep.FieldSource:      "source",
	auditkeep.FieldAction:      "action",
}

// defaultFacetTallyMax is the most events a filtered facet reads to tally
// their values in one pass; a filter matching more counts each value on
// its own.
const defaultFacetTallyMax = 100000

// Facets implements auditkeep.FacetStore. Without a filter, or with one
// scope for a scope or target_type facet, or with one target type (and at
// most one scope) for a target facet, the values and their counts are read
// from the counts kept on write (facet_counts). Otherwise, a filter matching at most
// defaultFacetTallyMax events has its rows grouped by the field's column in one
// query. Otherwise the column's distinct values are read by skipping
// through its index (one probe per value) and counted, up to
// FacetCountCap+1 rows each, by one query per batch of values, on the
// column's index. Names come from each value's newest matching event.
// Returns EINVALID, EUNAVAILABLE.
func (s *Store) Facets(ctx context.Context, tenant, field string, f auditkeep.Filter) ([]auditkeep.Facet, bool, error) {
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return nil, false, err
	}
	limit := auditkeep.FacetLimit(&f)
	f.Cursor, f.Order, f.Sort = nil, auditkeep.OrderDesc, ""
	if _, _, err := whereClause(tenant, f); err != nil {
		return nil, false, err
	}
	no, ok, err := s.tenantNo(ctx, tenant)
	if err != nil || !ok {
		return nil, false, err
	}
	if err := s.dropWholeTime(ctx, no, &f); err != nil {
		return nil, false, err
	}
	where, args, err := whereClause(tenant, f)
	if err != nil {
		return nil, false, err
	}
	if facets, more, ok, err := s.countedFacet(ctx, tenant, no, field, &f, limit); err != nil || ok {
		return facets, more, err
	}
	if len(f.Terms) > 0 || len(f.Text) > 0 || !f.From.IsZero() || !f.To.IsZero() {
		t, ok, err := s.facetTally(ctx, field, where, args)
		if err != nil || ok {
			if err != nil {
				return nil, false, err
			}
			return s.nameFacets(ctx, tenant, no, field, t, limit)
		}
	}
	cands, err := s.facetCandidates(ctx, no, field, f.Values(auditkeep.FieldScope))
	if err != nil {
		return nil, false, err
	}
	t, err := s.facetCounts(ctx, field, where, args, cands, limit)
	if err != nil {
		return nil, false, err
	}
	return s.nameFacets(ctx, tenant, no, field, t, limit)
}

// tenantNo returns the tenant's number; ok is false for an unknown tenant.
func (s *Store) tenantNo(ctx context.Context, tenant string) (no int32, ok bool, err error) {
	err = s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, "SELECT no FROM tenants WHERE id = $1", tenant).Scan(&no)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return no, err == nil, err
}

// dropWholeTime clears the time bounds of f that every event of the tenant
// meets (as a retention cutoff before the oldest event).
func (s *Store) dropWholeTime(ctx context.Context, no int32, f *auditkeep.Filter) error {
	if f.From.IsZero() && f.To.IsZero() {
		return nil
	}
	var oldest, newest *time.Time
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, "SELECT min(occurred_at), max(occurred_at) FROM events WHERE tenant_no = $1", no).Scan(&oldest, &newest)
	})
	if err != nil || oldest == nil {
		return err
	}
	// Columns hold microseconds, the nanoseconds below them apart: a
	// bound a whole microsecond outside the stored range holds them all.
	if !f.From.IsZero() && f.From.Truncate(time.Microsecond).Before(*oldest) {
		f.From = time.Time{}
	}
	if !f.To.IsZero() && !f.To.Truncate(time.Microsecond).Before(newest.Add(time.Microsecond)) {
		f.To = time.Time{}
	}
	return nil
}

// facetValue is a value being counted: its count (up to FacetCountCap+1
// per column range) and the seq of its newest matching event.
type facetValue struct {
	id     string
	count  int64
	newest int64
}

// facetTally groups the rows matching where by the field's column, when
// there are at most s.facetTallyMax of them (ok false when there are more),
// and returns the values in id order.
func (s *Store) facetTally(ctx context.Context, field, where string, args []any) ([]facetValue, bool, error) {
	col := facetColumns[field]
	sql := fmt.Sprintf(`WITH m AS MATERIALIZED (SELECT e.seq, e.%[1]s AS v FROM events e WHERE %[2]s LIMIT %[3]d)
		SELECT (SELECT count(*) FROM m), v, count(*), max(seq) FROM m GROUP BY v`, col, where, s.facetTallyMax+1)
	type group struct {
		total, n, newest int64
		v                *string // NULL: the rows without a value
	}
	var groups []group
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, sql, args...)
		var err error
		groups, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (g group, err error) {
			err = row.Scan(&g.total, &g.v, &g.n, &g.newest)
			return g, err
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if len(groups) > 0 && groups[0].total > int64(s.facetTallyMax) {
		return nil, false, nil
	}
	index := map[string]int{}
	var values []facetValue
	for _, g := range groups {
		if g.v == nil {
			continue
		}
		ids := []string{*g.v}
		if auditkeep.IsScopeFacet(field) {
			ids = pathFacetIDs(field, *g.v)
		}
		for _, id := range ids {
			i, ok := index[id]
			if !ok {
				i = len(values)
				index[id] = i
				values = append(values, facetValue{id: id})
			}
			values[i].count += g.n
			values[i].newest = max(values[i].newest, g.newest)
		}
	}
	slices.SortFunc(values, func(a, b facetValue) int { return strings.Compare(a.id, b.id) })
	return values, true, nil
}

// pathFacetIDs returns the distinct ids of a path's entries of type field.
func pathFacetIDs(field, path string) []string {
	var ids []string
	for entry := range strings.SplitSeq(path, "/") {
		if typ, id, ok := strings.Cut(entry, ":"); ok && typ == field && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// facetCounts counts the candidates in order, a batch at a time, until
// more than limit of them have matching events, and returns those.
func (s *Store) facetCounts(ctx context.Context, field, where string, args []any, cands []facetCandidate, limit int) ([]facetValue, error) {
	var values []facetValue
	for batch := limit + 1; len(cands) > 0 && len(values) <= limit; batch *= 2 {
		chunk := cands[:min(batch, len(cands))]
		cands = cands[len(chunk):]
		got, err := s.countCandidates(ctx, field, where, args, chunk)
		if err != nil {
			return nil, err
		}
		values = append(values, got...)
	}
	return values, nil
}

// countCandidates counts the matching rows of each candidate in one query
// (up to FacetCountCap+1 per column range) and finds its newest one in
// another, and returns the candidates that have some.
func (s *Store) countCandidates(ctx context.Context, field, where string, args []any, cands []facetCandidate) ([]facetValue, error) {
	col := facetColumns[field]
	n := len(args)
	var idx []int32
	var lo, slash, hi []string
	var cond string
	if auditkeep.IsScopeFacet(field) {
		// The path or a path below it: from the path up to path+"0"
		// ('0' follows '/'), but for paths that only extend its last id.
		for i, c := range cands {
			for _, p := range c.ranges {
				idx, lo, slash, hi = append(idx, int32(i)), append(lo, p), append(slash, p+"/"), append(hi, p+"0")
			}
		}
		cond = "e.scope_path >= c.lo AND e.scope_path < c.hi AND (e.scope_path = c.lo OR e.scope_path >= c.slash)"
	} else {
		for i, c := range cands {
			idx, lo, slash, hi = append(idx, int32(i)), append(lo, c.id), append(slash, ""), append(hi, "")
		}
		cond = "e." + col + " = c.lo"
	}
	counts := fmt.Sprintf(`SELECT c.i, x.n FROM unnest($%d::int[], $%d::text[], $%d::text[], $%d::text[]) AS c(i, lo, slash, hi)
		CROSS JOIN LATERAL (SELECT count(*) AS n FROM (SELECT 1 FROM events e WHERE %s AND %s LIMIT %d) y) x`,
		n+1, n+2, n+3, n+4, where, cond, auditkeep.FacetCountCap+1)
	values := make([]facetValue, len(cands))
	for i, c := range cands {
		values[i].id = c.id
	}
	err := s.retry(ctx, idempotent, func() error {
		for i := range values {
			values[i].count, values[i].newest = 0, 0
		}
		rows, _ := s.pool.Query(ctx, counts, append(slices.Clip(args), idx, lo, slash, hi)...)
		var i int32
		var k int64
		_, err := pgx.ForEachRow(rows, []any{&i, &k}, func() error {
			values[i].count += k
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// The newest event of each stored value of a candidate that has rows
	// (for a scope facet, each stored path below it), by the column's
	// index in seq order.
	idx, lo = idx[:0], lo[:0]
	for i, c := range cands {
		if values[i].count > 0 {
			for _, v := range c.values {
				idx, lo = append(idx, int32(i)), append(lo, v)
			}
		}
	}
	newest := fmt.Sprintf(`SELECT c.i, x.seq FROM unnest($%d::int[], $%d::text[]) AS c(i, v)
		CROSS JOIN LATERAL (SELECT e.seq FROM events e WHERE %s AND e.%s = c.v ORDER BY e.seq DESC LIMIT 1) x`,
		n+1, n+2, where, col)
	err = s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, newest, append(slices.Clip(args), idx, lo)...)
		var i int32
		var seq int64
		_, err := pgx.ForEachRow(rows, []any{&i, &seq}, func() error {
			values[i].newest = max(values[i].newest, seq)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(values, func(v facetValue) bool { return v.count == 0 || v.newest == 0 }), nil
}

// nameFacets returns the first limit values, named from their newest
// events, with counts capped, sorted by SortFacets, and whether there are
// more.
func (s *Store) nameFacets(ctx context.Context, tenant string, no int32, field string, values []facetValue, limit int) ([]auditkeep.Facet, bool, error) {
	more := len(values) > limit
	values = values[:min(len(values), limit)]
	if len(values) == 0 {
		return nil, more, nil
	}
	seqs := make([]int64, len(values))
	for i, v := range values {
		seqs[i] = v.newest
	}
	bodies := map[int64][]byte{}
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, "SELECT seq, body FROM events WHERE tenant_no = $1 AND seq = ANY($2)", no, seqs)
		var seq int64
		var body []byte
		_, err := pgx.ForEachRow(rows, []any{&seq, &body}, func() error {
			bodies[seq] = slices.Clone(body)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	facets := make([]auditkeep.Facet, len(values))
	for i, v := range values {
		var e auditkeep.Event
		if bodies[v.newest] == nil {
			return nil, false, errStaleNewest
		}
		if err := json.Unmarshal(bodies[v.newest], &e); err != nil {
			return nil, false, auditkeep.Unavailable(fmt.Errorf("stored event %d: %w", v.newest, err))
		}
		facets[i] = auditkeep.Facet{ID: v.id, Name: auditkeep.FacetName(&e, field, v.id),
			Count: min(v.count, auditkeep.FacetCountCap), More: v.count > auditkeep.FacetCountCap}
	}
	auditkeep.SortFacets(facets)
	return facets, more, nil
}

// facetCandidate is one value of a facet: the stored column values that
// hold it (for a scope facet, the stored paths with an entry of that id)
// and, for a scope facet, the paths ending in that entry that cover them
// (none below another, so that their rows are disjoint).
type facetCandidate struct {
	id     string
	values []string
	ranges []string
}

// facetCandidates returns the tenant's distinct values of the facet's
// column, in value order, found by a loose index scan. For a scope facet
// they are the entries of that type in the stored paths, limited to the
// paths below (or above) any of scopes when there are some.
func (s *Store) facetCandidates(ctx context.Context, no int32, field string, scopes []string) ([]facetCandidate, error) {
	col := facetColumns[field]
	// The tenant's number is bound: the index's first column must be a
	// known value for each step to be one probe.
	sql := fmt.Sprintf(`WITH RECURSIVE v AS (
		(SELECT e.%[1]s AS v FROM events e WHERE e.tenant_no = $1 AND e.%[1]s IS NOT NULL ORDER BY e.%[1]s LIMIT 1)
		UNION ALL
		SELECT (SELECT e.%[1]s FROM events e WHERE e.tenant_no = $1 AND e.%[1]s IS NOT NULL AND e.%[1]s > v.v ORDER BY e.%[1]s LIMIT 1)
		FROM v WHERE v.v IS NOT NULL)
	SELECT v FROM v WHERE v IS NOT NULL`, col)
	var values []string
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, sql, no)
		var err error
		values, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, err
	}
	if !auditkeep.IsScopeFacet(field) {
		cands := make([]facetCandidate, len(values))
		for i, v := range values {
			cands[i] = facetCandidate{id: v, values: []string{v}}
		}
		return cands, nil
	}
	// Every prefix of a path that ends in an entry of the field's type.
	index := map[string]int{}
	var cands []facetCandidate
	for _, path := range values {
		for i := 0; i <= len(path); i++ {
			if i < len(path) && path[i] != '/' {
				continue
			}
			prefix := path[:i]
			id, ok := auditkeep.ScopeFacetID(field, prefix)
			if !ok || !auditkeep.ScopeRelated(prefix, scopes) {
				continue
			}
			j, ok := index[id]
			if !ok {
				j = len(cands)
				index[id] = j
				cands = append(cands, facetCandidate{id: id})
			}
			c := &cands[j]
			if !slices.Contains(c.values, path) {
				c.values = append(c.values, path)
			}
			if !slices.ContainsFunc(c.ranges, func(r string) bool { return prefix == r || strings.HasPrefix(prefix, r+"/") }) {
				c.ranges = append(c.ranges, prefix)
			}
		}
	}
	slices.SortFunc(cands, func(a, b facetCandidate) int { return strings.Compare(a.id, b.id) })
	return cands, nil
}

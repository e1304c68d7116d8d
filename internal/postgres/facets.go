package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// Facets implements auditkeep.FacetStore: the column's distinct values are
// read by skipping through its index (one probe per value), and each value
// is counted as at most FacetCountCap+1 rows of the filter with that value
// added, on the same indexes as ListEvents. Names come from each value's
// newest matching event. Returns EINVALID, EUNAVAILABLE.
func (s *Store) Facets(ctx context.Context, tenant, field string, f auditkeep.Filter) ([]auditkeep.Facet, bool, error) {
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return nil, false, err
	}
	limit := auditkeep.FacetLimit(&f)
	f.Cursor, f.Order, f.Sort = nil, auditkeep.OrderDesc, ""
	where, args, err := whereClause(tenant, f)
	if err != nil {
		return nil, false, err
	}
	cands, err := s.facetCandidates(ctx, tenant, field, f.Values(auditkeep.FieldScope))
	if err != nil {
		return nil, false, err
	}
	var facets []auditkeep.Facet
	more := false
	for _, c := range cands {
		if len(facets) == limit {
			more = true
			break
		}
		q := &query{args: append([]any(nil), args...)}
		cond, err := facetCond(q, field, c.values)
		if err != nil {
			return nil, false, err
		}
		w := where + " AND " + cond
		sql := fmt.Sprintf(`SELECT c.n, b.body FROM (SELECT count(*) AS n FROM (SELECT 1 FROM events e WHERE %[1]s LIMIT %[2]d) x) c
			LEFT JOIN LATERAL (SELECT e.body FROM events e WHERE %[1]s ORDER BY e.seq DESC LIMIT 1) b ON true`, w, auditkeep.FacetCountCap+1)
		var n int64
		var body []byte
		err = s.retry(ctx, idempotent, func() error { return s.pool.QueryRow(ctx, sql, q.args...).Scan(&n, &body) })
		if err != nil {
			return nil, false, err
		}
		if n == 0 {
			continue
		}
		var e auditkeep.Event
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, false, auditkeep.Unavailable(fmt.Errorf("stored event: %w", err))
		}
		facets = append(facets, auditkeep.Facet{ID: c.id, Name: auditkeep.FacetName(&e, field, c.id),
			Count: min(n, auditkeep.FacetCountCap), More: n > auditkeep.FacetCountCap})
	}
	auditkeep.SortFacets(facets)
	return facets, more, nil
}

// facetCandidate is one value of a facet and the column values that hold
// it (for a scope facet, the paths ending in that entry).
type facetCandidate struct {
	id     string
	values []string
}

// facetCandidates returns the tenant's distinct values of the facet's
// column, in value order, found by a loose index scan. For a scope facet
// they are the entries of that type in the stored paths, limited to the
// paths below (or above) any of scopes when there are some.
func (s *Store) facetCandidates(ctx context.Context, tenant, field string, scopes []string) ([]facetCandidate, error) {
	col := facetColumns[field]
	// The tenant's number first: the index's first column must be a
	// known value for each step to be one probe.
	var no int32
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, "SELECT no FROM tenants WHERE id = $1", tenant).Scan(&no)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sql := fmt.Sprintf(`WITH RECURSIVE v AS (
		(SELECT e.%[1]s AS v FROM events e WHERE e.tenant_no = $1 AND e.%[1]s IS NOT NULL ORDER BY e.%[1]s LIMIT 1)
		UNION ALL
		SELECT (SELECT e.%[1]s FROM events e WHERE e.tenant_no = $1 AND e.%[1]s IS NOT NULL AND e.%[1]s > v.v ORDER BY e.%[1]s LIMIT 1)
		FROM v WHERE v.v IS NOT NULL)
	SELECT v FROM v WHERE v IS NOT NULL`, col)
	var values []string
	err = s.retry(ctx, idempotent, func() error {
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
	seen := map[string]bool{}
	var cands []facetCandidate
	for _, path := range values {
		for i := 0; i <= len(path); i++ {
			if i < len(path) && path[i] != '/' {
				continue
			}
			prefix := path[:i]
			id, ok := auditkeep.ScopeFacetID(field, prefix)
			if !ok || seen[prefix] || !auditkeep.ScopeRelated(prefix, scopes) {
				continue
			}
			seen[prefix] = true
			j, ok := index[id]
			if !ok {
				j = len(cands)
				index[id] = j
				cands = append(cands, facetCandidate{id: id})
			}
			cands[j].values = append(cands[j].values, prefix)
		}
	}
	slices.SortFunc(cands, func(a, b facetCandidate) int { return strings.Compare(a.id, b.id) })
	return cands, nil
}

// facetCond returns the condition that an event carries the facet value
// held by values.
func facetCond(q *query, field string, values []string) (string, error) {
	t := auditkeep.Term{Field: field, Values: values}
	switch {
	case field == auditkeep.FieldActor:
		return q.in("e.actor_id", values), nil // the id only, not a name or email
	case auditkeep.IsScopeFacet(field):
		t.Field = auditkeep.FieldScope
	case field == auditkeep.FieldTarget:
		t.Field = auditkeep.FieldTargetID
	}
	return q.term(t)
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/auditkeep/auditkeep"
)

// facetKeysOf aggregates the facet_counts keys (migration 0014's
// facet_keys) of the events rows e that from (a FROM clause naming them e)
// reads where where holds: tenant_no, field, c1, c2, value, the rows'
// count and newest seq.
func facetKeysOf(from, where string) string {
	return `SELECT e.tenant_no, k.field, k.c1, k.c2, k.value, count(*) AS n, max(e.seq) AS newest
		FROM ` + from + ` CROSS JOIN LATERAL facet_keys(e.scope_path, e.target_type, e.target_id, e.actor_id, e.team, e.source, e.action) k
		WHERE ` + where + ` GROUP BY 1, 2, 3, 4, 5`
}

// sqlAddFacetCounts adds the counts of the events of the ranges of seqs
// ($1 tenant numbers, $2 first and $3 last seqs) to facet_counts.
var sqlAddFacetCounts = `INSERT INTO facet_counts AS f (tenant_no, field, c1, c2, value, count, newest) ` +
	facetKeysOf(`unnest($1::integer[], $2::bigint[], $3::bigint[]) AS r(no, first, last)
		JOIN events e ON e.tenant_no = r.no AND e.seq BETWEEN r.first AND r.last`, "true") + `
	ON CONFLICT (tenant_no, field, c1, c2, value) DO UPDATE SET count = f.count + excluded.count, newest = greatest(f.newest, excluded.newest)`

// subtractFacetCounts returns the statement that takes the counts of the
// rows e of from where where holds off facet_counts.
func subtractFacetCounts(from, where string) string {
	return `UPDATE facet_counts f SET count = f.count - k.n FROM (` + facetKeysOf(from, where) + `) k
		WHERE f.tenant_no = k.tenant_no AND f.field = k.field AND f.c1 = k.c1 AND f.c2 = k.c2 AND f.value = k.value`
}

// errStaleNewest reports that a counted value's newest event is gone (a
// retention delete removed it): the answer is counted from the events.
var errStaleNewest = errors.New("facet value's newest event removed")

// countedFacet returns the answer of the facet read from facet_counts, and
// ok false when the filter is not one they answer: none (or a time range
// holding every event), one scope for a scope or target_type facet, one
// target type (and at most one scope) for a target facet.
func (s *Store) countedFacet(ctx context.Context, tenant string, no int32, field string, f *auditkeep.Filter, limit int) ([]auditkeep.Facet, bool, bool, error) {
	typ, scope, ok := auditkeep.CountedFacetFilter(field, f)
	if !ok || !f.From.IsZero() || !f.To.IsZero() {
		return nil, false, false, nil
	}
	key, c1, c2 := field, "", ""
	switch {
	case auditkeep.IsScopeFacet(field):
		values, err := s.scopeCounts(ctx, no, field, scope)
		if err != nil {
			return nil, false, false, err
		}
		facets, more, err := s.nameFacets(ctx, tenant, no, field, values, limit)
		return facets, more, err == nil, ignoreStale(err)
	case scope == "" && typ == "":
	case field == auditkeep.FieldTargetType && scope != "":
		key, c1 = "target_type by scope", scope
	case field == auditkeep.FieldTarget && scope == "":
		key, c1 = "target by type", typ
	case field == auditkeep.FieldTarget:
		key, c1, c2 = "target by scope and type", scope, typ
	default:
		return nil, false, false, nil
	}
	var values []facetValue
	err := s.retry(ctx, idempotent, func() error {
		rows, _ := s.pool.Query(ctx, `SELECT value, count, newest FROM facet_counts
			WHERE tenant_no = $1 AND field = $2 AND c1 = $3 AND c2 = $4 AND count > 0 ORDER BY value LIMIT $5`,
			no, key, c1, c2, limit+1)
		var err error
		values, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (v facetValue, err error) {
			err = row.Scan(&v.id, &v.count, &v.newest)
			return v, err
		})
		return err
	})
	if err != nil {
		return nil, false, false, err
	}
	facets, more, err := s.nameFacets(ctx, tenant, no, field, values, limit)
	return facets, more, err == nil, ignoreStale(err)
}

// ignoreStale returns err but for errStaleNewest.
func ignoreStale(err error) error {
	if errors.Is(err, errStaleNewest) {
		return nil
	}
	return err
}

// scopeCounts returns the values of a scope facet in id order, counted
// from the counts of scope prefixes: of every prefix when scope is "", else
// of those at or below scope, and of scope itself for the entries of its
// own path (every event at or below it carries them). A value's count is
// the sum over the prefixes that end in its entry, but for those below
// another of them (their events are counted there).
func (s *Store) scopeCounts(ctx context.Context, no int32, field, scope string) ([]facetValue, error) {
	type prefix struct {
		path          string
		count, newest int64
	}
	var prefixes []prefix
	err := s.retry(ctx, idempotent, func() error {
		q, args := `SELECT value, count, newest FROM facet_counts WHERE tenant_no = $1 AND field = 'scope' AND c1 = '' AND c2 = '' AND count > 0`, []any{no}
		if scope != "" {
			// The path itself, or a path below it: v/… sorts from v+"/"
			// up to v+"0" ('0' follows '/'). One index range, from v up
			// to v+"0"; the paths that only extend v's last id are
			// skipped below.
			q += ` AND value >= $2 AND value < $3`
			args = append(args, scope, scope+"0")
		}
		rows, _ := s.pool.Query(ctx, q+` ORDER BY value`, args...)
		var err error
		prefixes, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (p prefix, err error) {
			err = row.Scan(&p.path, &p.count, &p.newest)
			return p, err
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if scope != "" {
		prefixes = slices.DeleteFunc(prefixes, func(p prefix) bool { return p.path != scope && !strings.HasPrefix(p.path, scope+"/") })
	}
	index := map[string]int{}
	var values []facetValue
	var covered []string // per value, the prefixes counted
	add := func(id, path string, count, newest int64) {
		i, ok := index[id]
		if !ok {
			i = len(values)
			index[id] = i
			values, covered = append(values, facetValue{id: id}), append(covered, "")
		}
		// Prefixes come in path order: one below a counted prefix of the
		// same value follows it. An entry of scope's own path ("") counts
		// every matching event.
		for _, c := range strings.Split(covered[i], "\x00")[1:] {
			if c == "" || path == c || strings.HasPrefix(path, c+"/") {
				return
			}
		}
		covered[i] += "\x00" + path
		values[i].count += count
		values[i].newest = max(values[i].newest, newest)
	}
	if scope != "" {
		// The entries of scope's own path: every matching event.
		var own *prefix
		for i := range prefixes {
			if prefixes[i].path == scope {
				own = &prefixes[i]
			}
		}
		if own == nil {
			return nil, nil
		}
		for _, id := range pathFacetIDs(field, scope) {
			add(id, "", own.count, own.newest)
		}
	}
	for _, p := range prefixes {
		if id, ok := auditkeep.ScopeFacetID(field, p.path); ok && (scope == "" || p.path != scope) {
			add(id, p.path, p.count, p.newest)
		}
	}
	slices.SortFunc(values, func(a, b facetValue) int { return strings.Compare(a.id, b.id) })
	return values, nil
}

// facetCountsCheck is what the conformance of facet_counts with the events
// is checked by: the counts kept against those the events give.
const facetCountsCheck = `SELECT count(*) FROM (
	(SELECT tenant_no, field, c1, c2, value, count FROM facet_counts WHERE count > 0
	EXCEPT SELECT tenant_no, field, c1, c2, value, n FROM (%[1]s) a)
	UNION ALL
	(SELECT tenant_no, field, c1, c2, value, n FROM (%[1]s) a
	EXCEPT SELECT tenant_no, field, c1, c2, value, count FROM facet_counts WHERE count > 0)) d`

// FacetCountsDrift returns how many facet counts kept on write differ from
// those the stored events give (0 when they all agree), for tests and
// checks. Returns EUNAVAILABLE when the database cannot be reached.
func (s *Store) FacetCountsDrift(ctx context.Context) (int64, error) {
	var n int64
	err := s.retry(ctx, idempotent, func() error {
		return s.pool.QueryRow(ctx, fmt.Sprintf(facetCountsCheck, facetKeysOf("events e", "true"))).Scan(&n)
	})
	return n, err
}

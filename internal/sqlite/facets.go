package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

var _ auditkeep.FacetStore = (*Store)(nil)

// facetCodes maps facet fields to the term field whose values they list.
var facetCodes = map[string]int{
	auditkeep.FacetProject:     fScope,
	auditkeep.FacetEnvironment: fScope,
	auditkeep.FacetService:     fScope,
	auditkeep.FieldTargetType:  fTargetType,
	auditkeep.FieldTarget:      fTargetID,
	auditkeep.FieldActor:       fActor,
	auditkeep.FieldTeam:        fTeam,
	auditkeep.FieldSource:      fSource,
	auditkeep.FieldAction:      fAction,
}

// defaultFacetTallyMax is the most events a filtered facet reads to tally
// their values in one pass (about a second's work); a filter matching more
// counts each value on its own.
const defaultFacetTallyMax = 100000

// tallyPerValue is how many events a filtered facet reads to tally, per
// value the field has: counting one value on its own (a query planned and
// run) costs about as much as reading and decoding that many events.
const tallyPerValue = 200

// facetCandidate is one value of a facet and the terms that post it (a
// scope entry may sit under several paths), with their paths for a scope
// facet.
type facetCandidate struct {
	id    string
	g     group
	paths []string
}

// Facets implements auditkeep.FacetStore from the tenant's dictionary. The
// values are the field's terms, in value order. Without a condition (or
// with scope conditions that every event of a value meets: the value's
// paths lie below them), a value's count is its term's count kept on
// write, or its postings counted up to FacetCountCap+1. A filter matching
// few events (at most defaultFacetTallyMax, and tallyPerValue per value of
// the field) has its events read once and their values tallied.
// Otherwise each value is counted as a page of at most FacetCountCap+1
// keys of the filter with that term added, read by the same planner as
// ListEvents. Names come from each value's newest matching
// event. Returns EINVALID, EUNAVAILABLE.
func (s *Store) Facets(ctx context.Context, tenant, field string, f auditkeep.Filter) ([]auditkeep.Facet, bool, error) {
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return nil, false, err
	}
	limit := auditkeep.FacetLimit(&f)
	f.Cursor, f.Order, f.Sort = nil, auditkeep.OrderDesc, ""
	if err := f.Validate(); err != nil {
		return nil, false, err
	}
	num, err := s.tenantNum(ctx, tenant)
	if err != nil || num == 0 {
		return nil, false, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, dbError(err)
	}
	defer tx.Rollback()
	p, err := resolve(ctx, tx, tenant, num, &f)
	if err != nil {
		return nil, false, err
	}
	if err := p.dropWholeTime(ctx, tx); err != nil {
		return nil, false, err
	}
	if p.empty {
		return nil, false, nil
	}
	if c1, c2, ok, err := pairFacet(ctx, tx, num, field, &f, p); err != nil || ok {
		if err != nil {
			return nil, false, err
		}
		return s.facetsPairs(ctx, tx, tenant, field, c1, c2, limit)
	}
	scopes := f.Values(auditkeep.FieldScope)
	cands, err := facetCandidates(ctx, tx, num, field, scopes)
	if err != nil {
		return nil, false, err
	}
	implied := p.impliedBy(cands, &f)
	if !slices.Contains(implied, false) {
		return s.facetsDirect(ctx, tx, tenant, field, cands, implied, nil, limit)
	}
	// Tally when reading the events costs less than counting each value:
	// a value's count costs about as much as decoding tallyPerValue
	// events.
	keys, over, _, err := p.pageKeys(ctx, tx, mark{}, min(s.facetTallyMax, tallyPerValue*len(cands)), nil)
	if err != nil {
		return nil, false, err
	}
	if !over {
		return s.facetsTally(ctx, tx, field, keys, limit)
	}
	return s.facetsDirect(ctx, tx, tenant, field, cands, implied, p, limit)
}

// dropWholeTime forgets the plan's time range when every event of the
// tenant lies in it (as when a retention cutoff precedes the oldest event).
func (p *plan) dropWholeTime(ctx context.Context, q querier) error {
	if !p.hasTime || p.empty {
		return nil
	}
	var oldest, newest sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT occurred_at FROM events INDEXED BY events_time WHERE (k >> 40) = ?1 ORDER BY occurred_at ASC LIMIT 1),
		(SELECT occurred_at FROM events INDEXED BY events_time WHERE (k >> 40) = ?1 ORDER BY occurred_at DESC LIMIT 1)`, p.num).Scan(&oldest, &newest)
	if err != nil {
		return dbError(err)
	}
	if !oldest.Valid {
		p.empty = true
		return nil
	}
	if p.from <= oldest.Int64 && newest.Int64 <= p.to {
		p.hasTime = false
		p.from, p.to = 0, 0
	}
	return nil
}

// impliedBy reports, for each candidate, whether every event posting one
// of its terms matches the plan: the plan has no condition, or only scope
// conditions and each of the candidate's paths lies at or below one value
// of each of them.
func (p *plan) impliedBy(cands []facetCandidate, f *auditkeep.Filter) []bool {
	implied := make([]bool, len(cands))
	if p.hasTime || len(p.neg) > 0 || p.textPos != "" || p.textNeg != "" {
		return implied
	}
	if len(p.pos) == 0 {
		for i := range implied {
			implied[i] = true
		}
		return implied
	}
	// Only scope conditions: each positive scope term is one group.
	var scopes [][]string
	for _, t := range f.Terms {
		if t.Field == auditkeep.FieldScope && !t.Negate {
			scopes = append(scopes, t.Values)
		}
	}
	if len(p.pos) != len(scopes) {
		return implied
	}
	for i, c := range cands {
		implied[i] = len(c.paths) > 0
		for _, path := range c.paths {
			for _, vals := range scopes {
				if !slices.ContainsFunc(vals, func(v string) bool { return path == v || strings.HasPrefix(path, v+"/") }) {
					implied[i] = false
				}
			}
		}
	}
	return implied
}

// facetsDirect counts the candidates one at a time, in order, until limit
// of them have events: an implied one from its terms alone (its count kept
// on write, or its postings counted up to FacetCountCap+1), another as a
// page of p with its terms added.
func (s *Store) facetsDirect(ctx context.Context, tx *sql.Tx, tenant, field string, cands []facetCandidate, implied []bool, p *plan, limit int) ([]auditkeep.Facet, bool, error) {
	code := facetCodes[field]
	var facets []auditkeep.Facet
	var newest []int64
	for i, c := range cands {
		var n, top int64
		var over bool
		if implied[i] {
			var err error
			if n, top, err = termFacetCount(ctx, tx, c.g, counted(code)); err != nil {
				return nil, false, err
			}
			over = n > auditkeep.FacetCountCap
			n = min(n, auditkeep.FacetCountCap)
		} else {
			g := c.g
			if !counted(code) {
				var err error
				if g.count, err = countPostings(ctx, tx, p.num, g.ids); err != nil {
					return nil, false, err
				}
			}
			q := *p
			q.pos = append(slices.Clip(p.pos), g)
			keys, more, _, err := q.pageKeys(ctx, tx, mark{}, auditkeep.FacetCountCap, nil)
			if err != nil {
				return nil, false, err
			}
			if len(keys) > 0 {
				n, top, over = int64(len(keys)), keys[0], more
			}
		}
		if n == 0 {
			continue
		}
		if len(facets) == limit {
			return s.nameFacets(ctx, tx, tenant, field, facets, newest, true)
		}
		facets = append(facets, auditkeep.Facet{ID: c.id, Count: n, More: over})
		newest = append(newest, top)
	}
	return s.nameFacets(ctx, tx, tenant, field, facets, newest, false)
}

// nameFacets names each facet from the event of its key in newest, and
// sorts them.
func (s *Store) nameFacets(ctx context.Context, tx *sql.Tx, tenant, field string, facets []auditkeep.Facet, newest []int64, more bool) ([]auditkeep.Facet, bool, error) {
	events, err := loadEvents(ctx, tx.StmtContext(ctx, s.rs.load), tenant, newest)
	if err != nil {
		return nil, false, dbError(err)
	}
	for i, e := range events {
		facets[i].Name = auditkeep.FacetName(e, field, facets[i].ID)
	}
	auditkeep.SortFacets(facets)
	return facets, more, nil
}

// termFacetCount returns the number of events posting any term of g (its
// count kept on write when counted, else counted up to FacetCountCap+1)
// and the newest one's key (0 when there is none).
func termFacetCount(ctx context.Context, q querier, g group, counted bool) (n, newest int64, err error) {
	var qq qb
	qq.sql("SELECT (SELECT max(k) FROM postings WHERE term IN ").ids(g.ids).sql(")")
	if !counted {
		distinct := ""
		if len(g.ids) > 1 {
			distinct = "DISTINCT "
		}
		qq.sql(", (SELECT count(*) FROM (SELECT "+distinct+"k FROM postings WHERE term IN ").ids(g.ids).
			arg(" LIMIT ?))", auditkeep.FacetCountCap+1)
	}
	var top sql.NullInt64
	dst := []any{&top}
	if !counted {
		dst = append(dst, &n)
	}
	if err := q.QueryRowContext(ctx, qq.b.String(), qq.args...).Scan(dst...); err != nil {
		return 0, 0, dbError(err)
	}
	if !top.Valid {
		return 0, 0, nil
	}
	if counted {
		n = g.count
	}
	return n, top.Int64, nil
}

// tallyChunk is how many events facetsTally reads at a time.
const tallyChunk = 1000

// facetsTally tallies the facet values of the events of keys (newest
// first).
func (s *Store) facetsTally(ctx context.Context, tx *sql.Tx, field string, keys []int64, limit int) ([]auditkeep.Facet, bool, error) {
	t := auditkeep.NewFacetTally(field)
	stmt := tx.StmtContext(ctx, s.rs.load)
	for len(keys) > 0 {
		chunk := keys[:min(tallyChunk, len(keys))]
		keys = keys[len(chunk):]
		events, err := loadFacetViews(ctx, stmt, field, chunk)
		if err != nil {
			return nil, false, dbError(err)
		}
		for _, e := range events {
			t.Add(e)
		}
	}
	facets, more := t.Facets(limit)
	return facets, more, nil
}

// facetMembers maps facet fields to the member of an event's JSON that
// holds their values and names.
var facetMembers = map[string]string{
	auditkeep.FacetProject:     "scope",
	auditkeep.FacetEnvironment: "scope",
	auditkeep.FacetService:     "scope",
	auditkeep.FieldTargetType:  "target",
	auditkeep.FieldTarget:      "target",
	auditkeep.FieldActor:       "actor",
	auditkeep.FieldTeam:        "team",
	auditkeep.FieldSource:      "source",
	auditkeep.FieldAction:      "action",
}

// loadFacetViews reads the events of keys, in the order of keys, with only
// the member of the field's values (and names) decoded: members come in
// field order, before the large ones (changes, snapshots), which are not
// read. stmt is sqlLoadEvents.
func loadFacetViews(ctx context.Context, stmt *sql.Stmt, field string, keys []int64) ([]*auditkeep.Event, error) {
	rows, err := stmt.QueryContext(ctx, jsonInts(keys))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	at := make(map[int64]int, len(keys))
	for i, k := range keys {
		at[k] = i
	}
	member := facetMembers[field]
	events := make([]*auditkeep.Event, len(keys))
	var js []byte
	for rows.Next() {
		var k int64
		var body []byte
		if err := rows.Scan(&k, &body); err != nil {
			return nil, err
		}
		if js, err = appendBodyJSON(js[:0], body); err != nil {
			return nil, err
		}
		e := &auditkeep.Event{}
		if v, ok := ijson.Member(js, member); ok {
			var dst any
			switch member {
			case "scope":
				dst = &e.Scope
			case "target":
				dst = &e.Target
			case "actor":
				dst = &e.Actor
			case "team":
				dst = &e.Team
			case "source":
				dst = &e.Source
			default:
				dst = &e.Action
			}
			err = json.Unmarshal(v, dst)
		} else if err = json.Unmarshal(js, e); err == nil {
			e.Changes, e.Before, e.Snapshot, e.Metadata = nil, nil, nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("stored event: %w", err)
		}
		events[at[k]] = e
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if slices.Contains(events, nil) {
		return nil, errors.New("stored event vanished")
	}
	return events, nil
}

// facetCandidates returns the values of the facet field in the tenant's
// dictionary, in value order, each with its terms (and their count when
// counted on write). For a scope facet, scopes limits them to the paths
// related to any of scopes (none: every path).
func facetCandidates(ctx context.Context, q querier, num int64, field string, scopes []string) ([]facetCandidate, error) {
	code := facetCodes[field]
	const terms = "SELECT id, value, count FROM terms WHERE tenant = ? AND field = ?"
	queries := [][]any{{terms + " ORDER BY value", num, code}}
	if auditkeep.IsScopeFacet(field) && len(scopes) > 0 {
		// Only the paths related to a scope: each one's prefixes, itself
		// and the paths below it (between it and it+"0", as '0' follows
		// '/').
		queries = queries[:0]
		for _, sc := range scopes {
			for i := range len(sc) {
				if sc[i] == '/' {
					queries = append(queries, []any{terms + " AND value = ?", num, code, sc[:i]})
				}
			}
			queries = append(queries, []any{terms + " AND value >= ? AND value < ?", num, code, sc, sc + "0"})
		}
	}
	var cands []facetCandidate
	index := map[string]int{}
	seen := map[int64]bool{}
	for _, qa := range queries {
		if err := scanCandidates(ctx, q, qa, field, scopes, &cands, index, seen); err != nil {
			return nil, err
		}
	}
	if auditkeep.IsScopeFacet(field) {
		slices.SortStableFunc(cands, func(a, b facetCandidate) int { return strings.Compare(a.id, b.id) })
	}
	return cands, nil
}

// scanCandidates adds the terms that query qa (its text, then its
// arguments) reads to cands, but for those in seen.
func scanCandidates(ctx context.Context, q querier, qa []any, field string, scopes []string, cands *[]facetCandidate, index map[string]int, seen map[int64]bool) error {
	rows, err := q.QueryContext(ctx, qa[0].(string), qa[1:]...)
	if err != nil {
		return dbError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var value, path string
		if err := rows.Scan(&id, &value, &n); err != nil {
			return dbError(err)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if auditkeep.IsScopeFacet(field) {
			path = value
			var ok bool
			if value, ok = auditkeep.ScopeFacetID(field, path); !ok || !auditkeep.ScopeRelated(path, scopes) {
				continue
			}
		}
		i, ok := index[value]
		if !ok {
			i = len(*cands)
			index[value] = i
			*cands = append(*cands, facetCandidate{id: value})
		}
		c := &(*cands)[i]
		c.g.ids = append(c.g.ids, id)
		c.g.count += n
		if path != "" {
			c.paths = append(c.paths, path)
		}
	}
	return dbError(rows.Err())
}

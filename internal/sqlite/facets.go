package sqlite

import (
	"context"
	"slices"
	"strings"

	"github.com/auditkeep/auditkeep"
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

// facetCandidate is one value of a facet and the terms that post it (a
// scope entry may sit under several paths).
type facetCandidate struct {
	id string
	g  group
}

// Facets implements auditkeep.FacetStore from the tenant's dictionary: each
// value of the field is a term, counted as a page of at most
// FacetCountCap+1 keys of the filter with that term added, read by the
// same planner as ListEvents (so each count costs at most about that many
// index entries). Names come from each value's newest matching event.
// Returns EINVALID, EUNAVAILABLE.
func (s *Store) Facets(ctx context.Context, tenant, field string, f auditkeep.Filter) ([]auditkeep.Facet, bool, error) {
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return nil, false, err
	}
	limit := auditkeep.FacetLimit(&f)
	f.Cursor, f.Order, f.Sort = nil, auditkeep.OrderDesc, ""
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
	cands, err := facetCandidates(ctx, tx, num, field, f.Values(auditkeep.FieldScope))
	if err != nil {
		return nil, false, err
	}
	var facets []auditkeep.Facet
	var newest []int64
	more := false
	for _, c := range cands {
		if len(facets) == limit {
			more = true
			break
		}
		q := *p
		q.pos = append(slices.Clip(p.pos), c.g)
		q.chosen = false
		keys, over, err := q.pageKeys(ctx, tx, mark{}, auditkeep.FacetCountCap)
		if err != nil {
			return nil, false, err
		}
		if len(keys) == 0 {
			continue
		}
		facets = append(facets, auditkeep.Facet{ID: c.id, Count: int64(len(keys)), More: over})
		newest = append(newest, keys[0])
	}
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

// facetCandidates returns the values of the facet field in the tenant's
// dictionary, in value order, each with its terms and their count (of
// postings, up to countProbeCap, for a field not counted on write). For a
// scope facet, scopes limits them to the paths below any of scopes (none:
// every path).
func facetCandidates(ctx context.Context, q querier, num int64, field string, scopes []string) ([]facetCandidate, error) {
	code := facetCodes[field]
	rows, err := q.QueryContext(ctx, "SELECT id, value, count FROM terms WHERE tenant = ? AND field = ? ORDER BY value", num, code)
	if err != nil {
		return nil, dbError(err)
	}
	var cands []facetCandidate
	index := map[string]int{}
	for rows.Next() {
		var id, n int64
		var value string
		if err := rows.Scan(&id, &value, &n); err != nil {
			rows.Close()
			return nil, dbError(err)
		}
		if auditkeep.IsScopeFacet(field) {
			below := auditkeep.ScopeRelated(value, scopes)
			var ok bool
			if value, ok = auditkeep.ScopeFacetID(field, value); !ok || !below {
				continue
			}
		}
		i, ok := index[value]
		if !ok {
			i = len(cands)
			index[value] = i
			cands = append(cands, facetCandidate{id: value})
		}
		cands[i].g.ids = append(cands[i].g.ids, id)
		cands[i].g.count += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	if auditkeep.IsScopeFacet(field) {
		slices.SortStableFunc(cands, func(a, b facetCandidate) int { return strings.Compare(a.id, b.id) })
	}
	if !counted(code) {
		for i := range cands {
			if cands[i].g.count, err = countPostings(ctx, q, num, cands[i].g.ids); err != nil {
				return nil, err
			}
		}
	}
	return cands, nil
}

package auditkeep

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// Facet fields: what GET /v1/facets?field= counts. Project, environment and
// service are the event's scope entries of that type.
const (
	FacetProject     = "project"
	FacetEnvironment = "environment"
	FacetService     = "service"
)

// FacetFields lists the fields a facet may name.
var FacetFields = []string{FacetProject, FacetEnvironment, FacetService, FieldTargetType, FieldTarget,
	FieldActor, FieldTeam, FieldSource, FieldAction}

// Facet limits.
const (
	// FacetCountCap is the most events a facet value counts: a count of
	// FacetCountCap means "at least that many" (Facet.More).
	FacetCountCap = 10000
	// DefaultFacetLimit and MaxFacetLimit bound the values of one answer.
	DefaultFacetLimit = 100
	MaxFacetLimit     = 1000
)

// Facet is one distinct value of a field among the events matching a
// filter: ID identifies it (a scope entry's, target's or actor's id; the
// value itself for the other fields), Name is what a person reads (made
// unique by DisambiguateFacets), Count how many matching events carry it,
// at most FacetCountCap; More is true when more than Count do.
type Facet struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
	More  bool   `json:"more,omitempty"`
}

// FacetStore is implemented by stores that serve facets.
type FacetStore interface {
	// Facets returns the distinct values of field (one of FacetFields)
	// among the tenant's events matching f (f.Cursor and f.Order ignored),
	// sorted by name, at most f.Limit of them (0: DefaultFacetLimit), and
	// whether there are more values. Values no matching event carries are
	// left out. Returns EINVALID naming "field" for another field, and the
	// errors of ListEvents.
	Facets(ctx context.Context, tenant, field string, f Filter) ([]Facet, bool, error)
}

// ValidateFacetField returns EINVALID naming "field" unless field is one of
// FacetFields.
func ValidateFacetField(field string) error {
	if !slices.Contains(FacetFields, field) {
		return FieldErrorf("field", "field %q is not one of %s", field, strings.Join(FacetFields, ", "))
	}
	return nil
}

// FacetLimit returns the number of values a facet answer holds for f.
func FacetLimit(f *Filter) int {
	if f.Limit <= 0 {
		return DefaultFacetLimit
	}
	return min(f.Limit, MaxFacetLimit)
}

// IsScopeFacet reports whether field counts scope entries.
func IsScopeFacet(field string) bool {
	return field == FacetProject || field == FacetEnvironment || field == FacetService
}

// ScopeFacetID returns the id of the last entry of a scope path
// ("project:prj_1/environment:env_7") when that entry is of type field.
func ScopeFacetID(field, path string) (string, bool) {
	last := path[strings.LastIndexByte(path, '/')+1:]
	typ, id, ok := strings.Cut(last, ":")
	if !ok || typ != field {
		return "", false
	}
	return id, true
}

// ScopeRelated reports whether a scope path is one of scopes, below one or
// above one (true when there are none): the paths whose entries events
// matching a scope filter of scopes may carry.
func ScopeRelated(path string, scopes []string) bool {
	if len(scopes) == 0 {
		return true
	}
	return slices.ContainsFunc(scopes, func(sc string) bool {
		return path == sc || strings.HasPrefix(path, sc+"/") || strings.HasPrefix(sc, path+"/")
	})
}

// FacetName returns the name event e gives the facet value id of field:
// the scope entry's, target's or actor's name (an actor without one: its
// email), else id.
func FacetName(e *Event, field, id string) string {
	name := ""
	switch {
	case IsScopeFacet(field):
		for _, sc := range e.Scope {
			if sc.Type == field && sc.ID == id {
				name = sc.Name
			}
		}
	case field == FieldTarget:
		if e.Target != nil {
			name = e.Target.Name
		}
	case field == FieldActor:
		name = cmp.Or(e.Actor.Name, e.Actor.Email)
	}
	return cmp.Or(name, id)
}

// SortFacets sorts facets by name and id, and makes names unique: a name
// that two ids share becomes "name (id)" for each of them.
func SortFacets(facets []Facet) {
	byName := map[string]int{}
	for _, v := range facets {
		byName[v.Name]++
	}
	for i, v := range facets {
		if byName[v.Name] > 1 && v.Name != v.ID {
			facets[i].Name = v.Name + " (" + v.ID + ")"
		}
	}
	slices.SortFunc(facets, func(a, b Facet) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.ID, b.ID))
	})
}

// FacetValues returns the distinct values of field (one of FacetFields)
// that event e carries: the ids of its scope entries of that type, its
// target's or actor's id, or the field's value; none when it is empty.
func FacetValues(e *Event, field string) []string {
	one := func(v string) []string {
		if v == "" {
			return nil
		}
		return []string{v}
	}
	switch field {
	case FieldTargetType, FieldTarget:
		if e.Target == nil {
			return nil
		}
		if field == FieldTarget {
			return one(e.Target.ID)
		}
		return one(e.Target.Type)
	case FieldActor:
		return one(e.Actor.ID)
	case FieldTeam:
		return one(e.Team)
	case FieldSource:
		return one(e.Source)
	case FieldAction:
		return one(e.Action)
	}
	var ids []string
	for _, sc := range e.Scope {
		if sc.Type == field && sc.ID != "" && !slices.Contains(ids, sc.ID) {
			ids = append(ids, sc.ID)
		}
	}
	return ids
}

// FacetTally counts the values of a facet field over a set of events
// given newest first: each value's count and, from its first (newest)
// event, its name.
type FacetTally struct {
	field  string
	values map[string]*Facet
}

// NewFacetTally returns an empty tally of field.
func NewFacetTally(field string) *FacetTally {
	return &FacetTally{field: field, values: map[string]*Facet{}}
}

// Add counts the values of e, which is not newer than any event added
// before.
func (t *FacetTally) Add(e *Event) {
	for _, id := range FacetValues(e, t.field) {
		v, ok := t.values[id]
		if !ok {
			v = &Facet{ID: id, Name: FacetName(e, t.field, id)}
			t.values[id] = v
		}
		v.Count++
	}
}

// Facets returns the first limit values in id order, with their counts
// capped at FacetCountCap, sorted by SortFacets, and whether there are
// more values.
func (t *FacetTally) Facets(limit int) ([]Facet, bool) {
	var facets []Facet
	for _, v := range t.values {
		facets = append(facets, *v)
	}
	slices.SortFunc(facets, func(a, b Facet) int { return strings.Compare(a.ID, b.ID) })
	more := len(facets) > limit
	facets = facets[:min(len(facets), limit)]
	for i := range facets {
		if facets[i].Count > FacetCountCap {
			facets[i].Count, facets[i].More = FacetCountCap, true
		}
	}
	SortFacets(facets)
	return facets, more
}

// CountedFacetFilter reports whether the facet of field under f is one that
// counts kept on write answer, as the console's pickers ask: no condition
// (f's time range aside, which the caller checks), one scope for a scope
// or target_type facet, or one target type and at most one scope for a
// target facet, each a single value without a wildcard, not negated. It
// returns the target type and scope ("" when none).
func CountedFacetFilter(field string, f *Filter) (typ, scope string, ok bool) {
	if len(f.Text) > 0 {
		return "", "", false
	}
	for _, t := range f.Terms {
		if t.Negate || len(t.Values) != 1 || strings.Contains(t.Values[0], "*") {
			return "", "", false
		}
		switch {
		case t.Field == FieldTargetType && typ == "" && field == FieldTarget:
			typ = t.Values[0]
		case t.Field == FieldScope && scope == "":
			scope = t.Values[0]
		default:
			return "", "", false
		}
	}
	switch {
	case scope == "" && typ == "", IsScopeFacet(field):
		return typ, scope, true
	case field == FieldTargetType:
		return typ, scope, scope != ""
	case field == FieldTarget:
		return typ, scope, typ != ""
	}
	return "", "", false
}

package httpapi

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// facetsBody is the answer of GET /v1/facets.
type facetsBody struct {
	Values []auditkeep.Facet `json:"values"`
	More   bool              `json:"more,omitempty"`
}

// handleFacets answers the distinct values of ?field= among the events
// matching the other parameters (the filters of GET /v1/events, q
// included; a viewer token's filters apply), with ids, names and counts.
func (s *Server) handleFacets(w http.ResponseWriter, r *http.Request) error {
	values, more, err := s.facetsFor(r.Context(), principalFrom(r.Context()), r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, facetsBody{Values: values, More: more})
	return nil
}

// facetsFor answers GET /v1/facets?q for p: the values (never nil) and
// whether there are more. Returns EINVALID naming a bad parameter.
func (s *Server) facetsFor(ctx context.Context, p principal, q url.Values) ([]auditkeep.Facet, bool, error) {
	q = maps.Clone(q)
	field := q.Get("field")
	if len(q["field"]) != 1 {
		return nil, false, auditkeep.FieldErrorf("field", "field must be given once: one of %s", strings.Join(auditkeep.FacetFields, ", "))
	}
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return nil, false, err
	}
	q.Del("field")
	f, err := parseFilter(q)
	if err != nil {
		return nil, false, err
	}
	if f, err = p.constrain(f); err != nil {
		return nil, false, err
	}
	fs := s.facets
	if fs == nil {
		return nil, false, auditkeep.Errorf(auditkeep.ENOTFOUND, "this server's store serves no facets")
	}
	start := time.Now()
	values, more, err := fs.Facets(ctx, p.tenant(), field, f)
	s.storeMetrics.observeQuery("facets", start)
	if err != nil {
		return nil, false, err
	}
	if values == nil {
		values = []auditkeep.Facet{}
	}
	return values, more, nil
}

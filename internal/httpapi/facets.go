package httpapi

import (
	"net/http"
	"strings"

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
	q := r.URL.Query()
	field := q.Get("field")
	if len(q["field"]) != 1 {
		return auditkeep.FieldErrorf("field", "field must be given once: one of %s", strings.Join(auditkeep.FacetFields, ", "))
	}
	if err := auditkeep.ValidateFacetField(field); err != nil {
		return err
	}
	q.Del("field")
	f, err := parseFilter(q)
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	if f, err = p.constrain(f); err != nil {
		return err
	}
	fs, ok := s.store.(auditkeep.FacetStore)
	if !ok {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "this server's store serves no facets")
	}
	values, more, err := fs.Facets(r.Context(), p.tenant(), field, f)
	if err != nil {
		return err
	}
	if values == nil {
		values = []auditkeep.Facet{}
	}
	writeJSON(w, http.StatusOK, facetsBody{Values: values, More: more})
	return nil
}

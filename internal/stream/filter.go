package stream

import (
	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

// ParseFilters reads a stream's filters, the filter parameters of GET
// /v1/events with q, into a filter. Paging and ordering parameters are
// refused: a stream reads in seq order. Returns EINVALID naming
// "filters.<name>".
func ParseFilters(params map[string][]string) (auditkeep.Filter, error) {
	for name := range params {
		switch name {
		case "limit", "cursor", "order", "sort", "format", "from_seq":
			return auditkeep.Filter{}, auditkeep.FieldErrorf("filters."+name, "%s is not a filter of a stream (a stream reads every matching event in seq order)", name)
		}
	}
	f, err := auditkeep.ParseFilterParams(params)
	if err != nil {
		if e, ok := err.(*auditkeep.Error); ok && e.Field != "" {
			e.Field = "filters." + e.Field
		}
		return f, err
	}
	if qs := params["q"]; len(qs) > 0 {
		for _, text := range qs {
			g, err := search.Parse(text)
			if err != nil {
				return f, &auditkeep.Error{Code: auditkeep.EINVALID, Field: "filters.q", Message: auditkeep.ErrorMessage(err)}
			}
			if f, err = search.Merge(f, g); err != nil {
				return f, &auditkeep.Error{Code: auditkeep.EINVALID, Field: "filters.q", Message: auditkeep.ErrorMessage(err)}
			}
		}
	}
	return f, nil
}

package search

import (
	"slices"

	"github.com/auditkeep/auditkeep"
)

// Merge returns the filter that selects what both a and b select: their
// Terms and Text concatenated (a's first) and the intersection of their time
// ranges (the later From, the earlier To). Limit, Order, Sort and Cursor come from
// whichever filter sets them. The result shares nothing with a or b.
//
// Merge returns EINVALID naming "q" when the time ranges do not overlap, and
// EINVALID naming "limit", "order", "sort" or "cursor" when a and b set that field
// to different values.
func Merge(a, b auditkeep.Filter) (auditkeep.Filter, error) {
	out := auditkeep.Filter{
		From:  a.From,
		To:    a.To,
		Terms: cloneTerms(slices.Concat(a.Terms, b.Terms)),
		Text:  slices.Concat(a.Text, b.Text),
	}
	if b.From.After(out.From) {
		out.From = b.From
	}
	if !b.To.IsZero() && (out.To.IsZero() || b.To.Before(out.To)) {
		out.To = b.To
	}
	if !out.From.IsZero() && !out.To.IsZero() && out.To.Before(out.From) {
		return auditkeep.Filter{}, auditkeep.FieldErrorf("q", "the time conditions of q, from and to exclude each other")
	}

	out.Limit = a.Limit
	if b.Limit != 0 {
		if a.Limit != 0 && a.Limit != b.Limit {
			return auditkeep.Filter{}, auditkeep.FieldErrorf("limit", "limit is given twice with different values")
		}
		out.Limit = b.Limit
	}
	out.Order = a.Order
	if b.Order != "" {
		if a.Order != "" && a.Order != b.Order {
			return auditkeep.Filter{}, auditkeep.FieldErrorf("order", "order is given twice with different values")
		}
		out.Order = b.Order
	}
	out.Sort = a.Sort
	if b.Sort != "" {
		if a.Sort != "" && a.Sort != b.Sort {
			return auditkeep.Filter{}, auditkeep.FieldErrorf("sort", "sort is given twice with different values")
		}
		out.Sort = b.Sort
	}
	switch {
	case a.Cursor != nil && b.Cursor != nil && *a.Cursor != *b.Cursor:
		return auditkeep.Filter{}, auditkeep.FieldErrorf("cursor", "cursor is given twice with different values")
	case a.Cursor != nil:
		c := *a.Cursor
		out.Cursor = &c
	case b.Cursor != nil:
		c := *b.Cursor
		out.Cursor = &c
	}
	return out, nil
}

// cloneTerms gives each term of ts its own Values.
func cloneTerms(ts []auditkeep.Term) []auditkeep.Term {
	for i := range ts {
		ts[i].Values = slices.Clone(ts[i].Values)
	}
	return ts
}

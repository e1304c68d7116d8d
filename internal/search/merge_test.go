package search_test

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/search"
)

func TestMerge(t *testing.T) {
	cur := func(seq int64) *auditkeep.Cursor { return &auditkeep.Cursor{Seq: seq, Order: auditkeep.OrderDesc} }
	tests := []struct {
		name string
		a, b auditkeep.Filter
		want auditkeep.Filter
	}{
		{"both zero", auditkeep.Filter{}, auditkeep.Filter{}, auditkeep.Filter{}},
		{
			"terms and text concatenate, a first",
			auditkeep.Filter{Terms: []auditkeep.Term{term("action", "token.*")}, Text: []auditkeep.TextTerm{prefix("prod")}},
			auditkeep.Filter{Terms: []auditkeep.Term{term("team", "platform")}, Text: []auditkeep.TextTerm{phrase("db")}},
			auditkeep.Filter{
				Terms: []auditkeep.Term{term("action", "token.*"), term("team", "platform")},
				Text:  []auditkeep.TextTerm{prefix("prod"), phrase("db")},
			},
		},
		{
			"later From and earlier To win",
			span("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"),
			span("2026-11-05T00:00:00Z", "2026-12-31T00:00:00Z"),
			span("2026-11-05T00:00:00Z", "2026-11-30T00:00:00Z"),
		},
		{
			"the other way round",
			span("2026-11-05T00:00:00Z", "2026-12-31T00:00:00Z"),
			span("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z"),
			span("2026-11-05T00:00:00Z", "2026-11-30T00:00:00Z"),
		},
		{"unset bounds do not narrow", span("2026-11-01T00:00:00Z", ""), span("", "2026-11-30T00:00:00Z"), span("2026-11-01T00:00:00Z", "2026-11-30T00:00:00Z")},
		{"a single instant", span("2026-11-01T00:00:00Z", ""), span("", "2026-11-01T00:00:00Z"), span("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z")},
		{
			"paging from either side",
			auditkeep.Filter{Limit: 10, Order: auditkeep.OrderDesc},
			auditkeep.Filter{Cursor: cur(7), Limit: 10},
			auditkeep.Filter{Limit: 10, Order: auditkeep.OrderDesc, Cursor: cur(7)},
		},
		{"cursor from a", auditkeep.Filter{Cursor: cur(3)}, auditkeep.Filter{}, auditkeep.Filter{Cursor: cur(3)}},
	}
	for _, tt := range tests {
		got, err := search.Merge(tt.a, tt.b)
		if err != nil {
			t.Errorf("%s: Merge(%s, %s) = %v; want %s", tt.name, show(tt.a), show(tt.b), err, show(tt.want))
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Merge(%s, %s) = %s %+v; want %s %+v", tt.name, show(tt.a), show(tt.b), show(got), got, show(tt.want), tt.want)
		}
	}
}

func TestMergeErrors(t *testing.T) {
	tests := []struct {
		name  string
		a, b  auditkeep.Filter
		field string
	}{
		{"To before From", span("2026-11-05T00:00:00Z", ""), span("", "2026-11-01T00:00:00Z"), "q"},
		{"disjoint ranges", span("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"), span("2026-11-03T00:00:00Z", "2026-11-04T00:00:00Z"), "q"},
		{"limits differ", auditkeep.Filter{Limit: 10}, auditkeep.Filter{Limit: 20}, "limit"},
		{"orders differ", auditkeep.Filter{Order: auditkeep.OrderAsc}, auditkeep.Filter{Order: auditkeep.OrderDesc}, "order"},
		{"cursors differ", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 1}}, auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 2}}, "cursor"},
	}
	for _, tt := range tests {
		got, err := search.Merge(tt.a, tt.b)
		if err == nil {
			t.Errorf("%s: Merge(%s, %s) = %s; want an error", tt.name, show(tt.a), show(tt.b), show(got))
			continue
		}
		if code, field := auditkeep.ErrorCode(err), auditkeep.ErrorField(err); code != auditkeep.EINVALID || field != tt.field {
			t.Errorf("%s: Merge(%s, %s) = %v (code %q, field %q); want code %q, field %q",
				tt.name, show(tt.a), show(tt.b), err, code, field, auditkeep.EINVALID, tt.field)
		}
	}
}

// TestMergeDoesNotAlias checks that changing the result leaves the inputs alone.
func TestMergeDoesNotAlias(t *testing.T) {
	a := auditkeep.Filter{Terms: make([]auditkeep.Term, 1, 4), Cursor: &auditkeep.Cursor{Seq: 5}}
	a.Terms[0] = term("action", "token.create", "token.delete")
	b := auditkeep.Filter{Terms: []auditkeep.Term{term("team", "platform")}}
	got, err := search.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got.Terms[0].Values[0] = "changed"
	got.Cursor.Seq = 99
	_ = append(got.Terms, term("status", "failure"))
	if a.Terms[0].Values[0] != "token.create" || a.Cursor.Seq != 5 || a.Terms[:2][1].Field != "" {
		t.Errorf("changing Merge's result changed its input: %+v", a)
	}
}

// TestMergeWithParams merges a parsed q with the query-parameter filter, as
// the HTTP layer does.
func TestMergeWithParams(t *testing.T) {
	params, err := auditkeep.ParseFilterParams(url.Values{
		"from":   {"2026-11-01"},
		"to":     {"2026-11-30"},
		"status": {"failure"},
		"limit":  {"20"},
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse("created:>=2026-11-10 -actor_type:system deploy")
	if err != nil {
		t.Fatal(err)
	}
	got, err := search.Merge(params, q)
	if err != nil {
		t.Fatal(err)
	}
	want := auditkeep.Filter{
		From:  ts("2026-11-10T00:00:00Z"),
		To:    ts("2026-11-30T23:59:59.999999999Z"),
		Terms: []auditkeep.Term{term("status", "failure"), not(term("actor_type", "system"))},
		Text:  []auditkeep.TextTerm{prefix("deploy")},
		Limit: 20,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge(params, q) = %s limit %d; want %s limit %d", show(got), got.Limit, show(want), want.Limit)
	}

	q, err = search.Parse("created:>2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := search.Merge(params, q); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("Merge(from/to in November, created after November) = %s, %v; want EINVALID", show(got), err)
	}
}

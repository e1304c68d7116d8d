package storetest

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// testFacetsAfterDelete: the counts and names of the pickers' facets
// follow retention's deletes: a value whose events are all removed is
// gone, a count drops by the events removed, and a value whose newest
// event is removed takes its name from the newest one left.
func testFacetsAfterDelete(t *testing.T, s RetentionStore) {
	ctx := context.Background()
	fs, ok := s.(auditkeep.FacetStore)
	if !ok {
		t.Skip("the store serves no facets")
	}
	createTenant(t, s, "acme")
	all := facetEvents("acme")
	// The newest event of env_3 (and of its target) names it otherwise.
	last := all[14]
	last.Scope = slices.Clone(last.Scope)
	last.Scope[1].Name = "prod-renamed"
	last.Target = &auditkeep.Target{Type: last.Target.Type, ID: last.Target.ID, Name: "prod-renamed"}
	appendAll(t, s, all, 4)
	gone := map[int64]bool{1: true, 2: true, 10: true, 15: true, 16: true}
	var seqs []int64
	for seq := range gone {
		seqs = append(seqs, seq)
	}
	if n, err := s.DeleteEvents(ctx, "acme", seqs); err != nil || n != len(seqs) {
		t.Fatalf("DeleteEvents = %d, %v; want %d", n, err, len(seqs))
	}
	// What is left, newest first, as the facets' names read it.
	var left []*auditkeep.Event
	for _, e := range slices.Backward(all) {
		if !gone[e.Seq] {
			left = append(left, e)
		}
	}
	scoped := func(e *auditkeep.Event, sc string) bool {
		path := auditkeep.ScopePath(e.Scope)
		return sc == "" || path == sc || strings.HasPrefix(path, sc+"/")
	}
	tests := []struct {
		field, typ, scope string
	}{
		{field: "project"}, {field: "environment"}, {field: "service"},
		{field: "environment", scope: "project:prj_1"}, {field: "service", scope: "project:prj_1/environment:env_2"},
		{field: "target_type"}, {field: "target_type", scope: "project:prj_1"}, {field: "target_type", scope: "project:prj_2"},
		{field: "target"}, {field: "target", typ: "environment"}, {field: "target", typ: "service"},
		{field: "target", typ: "project"}, {field: "target", typ: "environment", scope: "project:prj_2"},
		{field: "target", typ: "service", scope: "project:prj_1/environment:env_1"},
		{field: "actor"}, {field: "team"}, {field: "source"}, {field: "action"},
	}
	for _, tt := range tests {
		var f auditkeep.Filter
		if tt.typ != "" {
			f.Terms = append(f.Terms, term("target_type", tt.typ))
		}
		if tt.scope != "" {
			f.Terms = append(f.Terms, term("scope", tt.scope))
		}
		tally := auditkeep.NewFacetTally(tt.field)
		for _, e := range left {
			if scoped(e, tt.scope) && (tt.typ == "" || e.Target != nil && e.Target.Type == tt.typ) {
				tally.Add(e)
			}
		}
		want, _ := tally.Facets(100)
		got, more, err := fs.Facets(ctx, "acme", tt.field, f)
		if err != nil || more || !reflect.DeepEqual(got, want) {
			t.Errorf("after deletes, Facets(%s, %s) = %+v, more %v, %v; want %+v", tt.field, describe(f), got, more, err, want)
		}
	}
}

package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// facetEvents: two projects both named "Shop", environments and services
// below them, targets and actors, a little of it in another tenant.
func facetEvents(tenant string) []*auditkeep.Event {
	type spec struct {
		path         []auditkeep.ScopeEntry
		targetType   string
		targetID     string
		targetName   string
		actor, email string
		status       string
		n            int
	}
	p1 := auditkeep.ScopeEntry{Type: "project", ID: "prj_1", Name: "Shop"}
	p2 := auditkeep.ScopeEntry{Type: "project", ID: "prj_2", Name: "Shop"}
	p3 := auditkeep.ScopeEntry{Type: "project", ID: "prj_3", Name: "Billing"}
	e1 := auditkeep.ScopeEntry{Type: "environment", ID: "env_1", Name: "production"}
	e2 := auditkeep.ScopeEntry{Type: "environment", ID: "env_2", Name: "staging"}
	e3 := auditkeep.ScopeEntry{Type: "environment", ID: "env_3", Name: "production"}
	s1 := auditkeep.ScopeEntry{Type: "service", ID: "svc_1", Name: "api"}
	s2 := auditkeep.ScopeEntry{Type: "service", ID: "svc_2", Name: "worker"}
	specs := []spec{
		{[]auditkeep.ScopeEntry{p1}, "project", "prj_1", "Shop", "usr_1", "ann@example.com", "success", 2},
		{[]auditkeep.ScopeEntry{p1, e1}, "environment", "env_1", "production", "usr_1", "ann@example.com", "success", 3},
		{[]auditkeep.ScopeEntry{p1, e1, s1}, "service", "svc_1", "api", "usr_2", "", "failure", 4},
		{[]auditkeep.ScopeEntry{p1, e2, s2}, "service", "svc_2", "worker", "usr_2", "", "success", 1},
		{[]auditkeep.ScopeEntry{p2, e3}, "environment", "env_3", "production", "anonymous", "bob@example.com", "failure", 5},
		{[]auditkeep.ScopeEntry{p3}, "project", "prj_3", "Billing", "usr_1", "ann@example.com", "success", 1},
	}
	var events []*auditkeep.Event
	for _, sp := range specs {
		for range sp.n {
			i := len(events)
			at := Base.Add(time.Duration(i) * time.Minute)
			events = append(events, &auditkeep.Event{
				Tenant: tenant, ReceivedAt: at, OccurredAt: at, ID: fmt.Sprintf("facet-%02d", i),
				Action: sp.targetType + ".update", Type: auditkeep.TypeUpdate, Status: sp.status,
				Actor:  auditkeep.Actor{Type: auditkeep.ActorUser, ID: sp.actor, Email: sp.email},
				Target: &auditkeep.Target{Type: sp.targetType, ID: sp.targetID, Name: sp.targetName},
				Scope:  sp.path, Team: "platform", Source: "console",
				Description: "Updated " + sp.targetType + " " + sp.targetName,
			})
		}
	}
	return events
}

// testFacets: the distinct values of each facet field among the events
// matching a filter, with names made unique and exact counts.
func testFacets(t *testing.T, s auditkeep.Store) {
	fs, ok := s.(auditkeep.FacetStore)
	if !ok {
		t.Fatal("the store does not implement auditkeep.FacetStore")
	}
	ctx := context.Background()
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	appendAll(t, s, facetEvents("acme"), 4)
	appendAll(t, s, facetEvents("globex")[:3], 10)
	type F = auditkeep.Facet
	tests := []struct {
		field string
		f     auditkeep.Filter
		want  []F
		more  bool
	}{
		{"project", auditkeep.Filter{}, []F{{ID: "prj_3", Name: "Billing", Count: 1}, {ID: "prj_1", Name: "Shop (prj_1)", Count: 10}, {ID: "prj_2", Name: "Shop (prj_2)", Count: 5}}, false},
		{"environment", auditkeep.Filter{}, []F{{ID: "env_1", Name: "production (env_1)", Count: 7}, {ID: "env_3", Name: "production (env_3)", Count: 5}, {ID: "env_2", Name: "staging", Count: 1}}, false},
		{"environment", terms(term("scope", "project:prj_1")), []F{{ID: "env_1", Name: "production", Count: 7}, {ID: "env_2", Name: "staging", Count: 1}}, false},
		{"service", terms(term("scope", "project:prj_1/environment:env_1")), []F{{ID: "svc_1", Name: "api", Count: 4}}, false},
		{"service", terms(term("status", "success")), []F{{ID: "svc_2", Name: "worker", Count: 1}}, false},
		{"target_type", auditkeep.Filter{}, []F{{ID: "environment", Name: "environment", Count: 8}, {ID: "project", Name: "project", Count: 3}, {ID: "service", Name: "service", Count: 5}}, false},
		{"target", terms(term("target_type", "environment")), []F{{ID: "env_1", Name: "production (env_1)", Count: 3}, {ID: "env_3", Name: "production (env_3)", Count: 5}}, false},
		{"actor", terms(term("status", "failure")), []F{{ID: "anonymous", Name: "bob@example.com", Count: 5}, {ID: "usr_2", Name: "usr_2", Count: 4}}, false},
		{"actor", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "worker"}}}, []F{{ID: "usr_2", Name: "usr_2", Count: 1}}, false},
		{"action", auditkeep.Filter{From: Base.Add(14 * time.Minute)}, []F{{ID: "environment.update", Name: "environment.update", Count: 1}, {ID: "project.update", Name: "project.update", Count: 1}}, false},
		{"team", auditkeep.Filter{}, []F{{ID: "platform", Name: "platform", Count: 16}}, false},
		{"source", terms(not("source", "console")), nil, false},
		{"project", auditkeep.Filter{Limit: 2}, []F{{ID: "prj_1", Name: "Shop (prj_1)", Count: 10}, {ID: "prj_2", Name: "Shop (prj_2)", Count: 5}}, true},
		{"target", auditkeep.Filter{Terms: []auditkeep.Term{term("target_type", "environment")}, Limit: 1}, []F{{ID: "env_1", Name: "production", Count: 3}}, true},
		{"environment", auditkeep.Filter{Terms: []auditkeep.Term{term("status", "failure")}, Limit: 2}, []F{{ID: "env_1", Name: "production (env_1)", Count: 4}, {ID: "env_3", Name: "production (env_3)", Count: 5}}, false},
		// Scope filters: values below them, above them, of several
		// scopes, outside a negated one; other fields in a scope.
		{"environment", terms(term("scope", "project:prj_1/environment:env_1/service:svc_1")), []F{{ID: "env_1", Name: "production", Count: 4}}, false},
		{"environment", terms(term("scope", "project:prj_1", "project:prj_2")), []F{{ID: "env_1", Name: "production (env_1)", Count: 7}, {ID: "env_3", Name: "production (env_3)", Count: 5}, {ID: "env_2", Name: "staging", Count: 1}}, false},
		{"environment", terms(term("scope", "project:prj_1"), term("scope", "project:prj_1/environment:env_2")), []F{{ID: "env_2", Name: "staging", Count: 1}}, false},
		{"environment", terms(not("scope", "project:prj_1")), []F{{ID: "env_3", Name: "production", Count: 5}}, false},
		{"project", terms(term("scope", "project:prj_1/environment:env_2")), []F{{ID: "prj_1", Name: "Shop", Count: 1}}, false},
		{"target_type", terms(term("scope", "project:prj_1")), []F{{ID: "environment", Name: "environment", Count: 3}, {ID: "project", Name: "project", Count: 2}, {ID: "service", Name: "service", Count: 5}}, false},
		{"target", terms(term("target_type", "service"), term("scope", "project:prj_1/environment:env_2")), []F{{ID: "svc_2", Name: "worker", Count: 1}}, false},
		{"team", terms(term("scope", "project:prj_2")), []F{{ID: "platform", Name: "platform", Count: 5}}, false},
		{"actor", terms(term("scope", "project:prj_3")), []F{{ID: "usr_1", Name: "ann@example.com", Count: 1}}, false},
		// A time range holding every event is no condition; one holding
		// none matches nothing.
		{"project", auditkeep.Filter{From: Base.Add(-time.Hour), To: Base.Add(time.Hour)}, []F{{ID: "prj_3", Name: "Billing", Count: 1}, {ID: "prj_1", Name: "Shop (prj_1)", Count: 10}, {ID: "prj_2", Name: "Shop (prj_2)", Count: 5}}, false},
		{"project", auditkeep.Filter{From: Base.Add(time.Hour)}, nil, false},
	}
	for _, tt := range tests {
		got, more, err := fs.Facets(ctx, "acme", tt.field, tt.f)
		if err != nil {
			t.Errorf("Facets(%s, %s) = %v", tt.field, describe(tt.f), err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) || more != tt.more {
			t.Errorf("Facets(%s, %s) = %+v, more %v; want %+v, more %v", tt.field, describe(tt.f), got, more, tt.want, tt.more)
		}
	}
	_, _, err := fs.Facets(ctx, "acme", "colour", auditkeep.Filter{})
	wantCode(t, "Facets(colour)", err, auditkeep.EINVALID)
	if f := auditkeep.ErrorField(err); f != "field" {
		t.Errorf("Facets(colour) error field = %q; want \"field\"", f)
	}
	if got, _, err := fs.Facets(ctx, "nobody", "project", auditkeep.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("Facets(unknown tenant) = %v, %v; want nothing", got, err)
	}
	testFacetsOverCap(t, s, fs)
}

// testFacetsOverCap: a value carried by more than FacetCountCap matching
// events counts FacetCountCap and "more", with or without a filter.
func testFacetsOverCap(t *testing.T, s auditkeep.Store, fs auditkeep.FacetStore) {
	ctx := context.Background()
	createTenant(t, s, "initech")
	big := []auditkeep.ScopeEntry{{Type: "project", ID: "prj_big", Name: "Big"}, {Type: "environment", ID: "env_big", Name: "live"}}
	var events []*auditkeep.Event
	for i := range auditkeep.FacetCountCap + 2 {
		at := Base.Add(time.Duration(i) * time.Second)
		e := &auditkeep.Event{Tenant: "initech", ReceivedAt: at, OccurredAt: at, ID: fmt.Sprintf("big-%05d", i),
			Action: "service.update", Type: auditkeep.TypeUpdate, Status: auditkeep.StatusSuccess,
			Actor:  auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_1"},
			Target: &auditkeep.Target{Type: "service", ID: "svc_big", Name: "api"},
			Scope:  big, Team: "platform"}
		if i == 0 {
			e.Scope = []auditkeep.ScopeEntry{{Type: "project", ID: "prj_small", Name: "Small"}}
			e.Target = &auditkeep.Target{Type: "project", ID: "prj_small", Name: "Small"}
		}
		events = append(events, e)
	}
	appendAll(t, s, events, 1000)
	type F = auditkeep.Facet
	over := func(id, name string) F { return F{ID: id, Name: name, Count: auditkeep.FacetCountCap, More: true} }
	tests := []struct {
		field string
		f     auditkeep.Filter
		want  []F
	}{
		{"project", auditkeep.Filter{}, []F{over("prj_big", "Big"), {ID: "prj_small", Name: "Small", Count: 1}}},
		{"environment", terms(term("scope", "project:prj_big")), []F{over("env_big", "live")}},
		{"team", auditkeep.Filter{}, []F{over("platform", "platform")}},
		{"target", terms(term("target_type", "service")), []F{over("svc_big", "api")}},
		{"target_type", terms(term("scope", "project:prj_big")), []F{over("service", "service")}},
		{"actor", terms(term("status", "success")), []F{over("usr_1", "usr_1")}},
	}
	for _, tt := range tests {
		got, more, err := fs.Facets(ctx, "initech", tt.field, tt.f)
		if err != nil || !reflect.DeepEqual(got, tt.want) || more {
			t.Errorf("Facets(%s, %s) = %+v, more %v, %v; want %+v", tt.field, describe(tt.f), got, more, err, tt.want)
		}
	}
}

// Facets runs the facet cases on its own, for a store to run them again
// under other settings of its own.
func Facets(t *testing.T, s auditkeep.Store) { testFacets(t, s) }

// testOwnFields: the actor filter by email or name and the target filter by
// name match the event's own fields, not those of other events that share
// its actor or target id.
func testOwnFields(t *testing.T, s auditkeep.Store) {
	createTenant(t, s, "acme")
	at := Base
	ev := func(id, email, name, targetName string) *auditkeep.Event {
		at = at.Add(time.Second)
		return &auditkeep.Event{Tenant: "acme", ReceivedAt: at, OccurredAt: at, ID: id,
			Action: "user.login", Type: auditkeep.TypeLogin, Status: auditkeep.StatusFailure,
			Actor:  auditkeep.Actor{Type: auditkeep.ActorUser, ID: "anonymous", Email: email, Name: name},
			Target: &auditkeep.Target{Type: "environment", ID: "env_1", Name: targetName}}
	}
	appendAll(t, s, []*auditkeep.Event{
		ev("own-1", "samuel@example.com", "Samuel Schmidt", "production"),
		ev("own-2", "mallory@example.com", "Mallory", "prod"),
	}, 10)
	tests := []struct {
		f    auditkeep.Filter
		want []string
	}{
		{terms(term("actor", "samuel@example.com")), []string{"own-1"}},
		{terms(term("actor", "MALLORY@example.com")), []string{"own-2"}},
		{terms(term("actor", "samuel schmidt")), []string{"own-1"}},
		{terms(term("actor", "anonymous")), []string{"own-2", "own-1"}},
		{terms(not("actor", "samuel@example.com")), []string{"own-2"}},
		{terms(term("target", "production")), []string{"own-1"}},
		{terms(term("target", "prod")), []string{"own-2"}},
		{terms(term("target_id", "env_1")), []string{"own-2", "own-1"}},
	}
	for _, tt := range tests {
		if got := ids(listAll(t, s, "acme", tt.f, 10)); !slices.Equal(got, tt.want) {
			t.Errorf("ListEvents(%s) = %v; want %v", describe(tt.f), got, tt.want)
		}
	}
}

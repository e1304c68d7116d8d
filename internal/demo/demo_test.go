package demo_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/demo"
)

var start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

func generate(seed int64, n int, opts demo.Options) []auditkeep.Event {
	g := demo.New(seed, start, opts)
	out := make([]auditkeep.Event, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a := generate(7, 3000, demo.Options{})
	b := generate(7, 3000, demo.Options{})
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("seed 7, event %d differs between two runs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	c := generate(8, 100, demo.Options{})
	if reflect.DeepEqual(a[:100], c) {
		t.Error("seeds 7 and 8 generate the same events")
	}
	ids := map[string]bool{}
	for _, e := range append(a, c...) {
		if ids[e.ID] {
			t.Fatalf("event id %q generated twice (seeds 7 and 8)", e.ID)
		}
		ids[e.ID] = true
	}
}

// TestEventsAreValid checks every event against the rules the server applies
// to what senders send.
func TestEventsAreValid(t *testing.T) {
	events := generate(1, 20000, demo.Options{})
	prev := start
	for i, e := range events {
		where := func() string { b, _ := json.Marshal(e); return string(b) }
		if e.OccurredAt.Before(prev) {
			t.Fatalf("event %d occurs at %v, before the previous one (%v)", i, e.OccurredAt, prev)
		}
		prev = e.OccurredAt
		if e.Tenant != "" || e.Seq != 0 || !e.ReceivedAt.IsZero() || e.Hash != "" {
			t.Fatalf("event %d sets server fields: %s", i, where())
		}
		if e.ID == "" || !auditkeep.ValidAction(e.Action) || !slices.Contains(auditkeep.Types, e.Type) {
			t.Fatalf("event %d: bad id, action or type: %s", i, where())
		}
		if e.Actor.ID == "" || !slices.Contains(auditkeep.ActorTypes, e.Actor.Type) {
			t.Fatalf("event %d: bad actor: %s", i, where())
		}
		if e.Status != auditkeep.StatusSuccess && e.Status != auditkeep.StatusFailure {
			t.Fatalf("event %d: bad status: %s", i, where())
		}
		if e.Source == "" {
			t.Fatalf("event %d: no source: %s", i, where())
		}
		if e.Context.IP != "" {
			if _, err := netip.ParseAddr(e.Context.IP); err != nil {
				t.Fatalf("event %d: bad IP %q", i, e.Context.IP)
			}
		}
		if e.Target != nil && (e.Target.Type == "" || e.Target.ID == "") {
			t.Fatalf("event %d: target without type or id: %s", i, where())
		}
		if len(e.Scope) > 0 {
			if err := auditkeep.ValidateTermValue(auditkeep.FieldScope, "scope", auditkeep.ScopePath(e.Scope)); err != nil {
				t.Fatalf("event %d: scope: %v", i, err)
			}
		}
		for name, raw := range map[string]json.RawMessage{"before": e.Before, "snapshot": e.Snapshot, "metadata": e.Metadata} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("event %d: %s is not valid JSON: %s", i, name, raw)
			}
		}
		if e.Type == auditkeep.TypeUpdate && e.Status == auditkeep.StatusSuccess && strings.HasSuffix(e.Action, ".update") &&
			(e.Before == nil || e.Snapshot == nil) {
			t.Fatalf("event %d: a successful update without before and snapshot: %s", i, where())
		}
		if e.Before != nil && e.Snapshot != nil && bytes.Equal(e.Before, e.Snapshot) {
			t.Fatalf("event %d: an update that changes nothing: %s", i, where())
		}
	}
}

// TestDeletedTargetsStop checks that no event acts on a target after its deletion.
func TestDeletedTargetsStop(t *testing.T) {
	deleted := map[string]int{}
	for i, e := range generate(3, 30000, demo.Options{}) {
		if e.Target != nil {
			if at, ok := deleted[e.Target.ID]; ok {
				t.Fatalf("event %d (%s) acts on %s %s, deleted by event %d", i, e.Action, e.Target.Type, e.Target.ID, at)
			}
		}
		for _, s := range e.Scope {
			if at, ok := deleted[s.ID]; ok {
				t.Fatalf("event %d (%s) is scoped in %s %s, deleted by event %d", i, e.Action, s.Type, s.ID, at)
			}
		}
		if e.Type == auditkeep.TypeDelete && e.Status == auditkeep.StatusSuccess && e.Target != nil && e.Target.Type != "user" {
			deleted[e.Target.ID] = i
		}
	}
	if len(deleted) < 20 {
		t.Errorf("only %d deletions in 30000 events; want a history with deletions", len(deleted))
	}
}

// TestVariety checks that the history has what the seeds describe.
func TestVariety(t *testing.T) {
	events := generate(5, 30000, demo.Options{})
	actions, sources, types, actorTypes, targetTypes := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	var failures, failedLogins, ipv6, described, withBefore int
	var size int
	sizes := make([]int, 0, len(events))
	for _, e := range events {
		actions[e.Action]++
		sources[e.Source]++
		types[e.Type]++
		actorTypes[e.Actor.Type]++
		if e.Target != nil {
			targetTypes[e.Target.Type]++
		}
		if e.Status == auditkeep.StatusFailure {
			failures++
			if e.Type == auditkeep.TypeLogin {
				failedLogins++
			}
		}
		if strings.Contains(e.Context.IP, ":") {
			ipv6++
		}
		if e.Description != "" {
			described++
		}
		if e.Before != nil {
			withBefore++
		}
		b, _ := json.Marshal(e)
		size += len(b)
		sizes = append(sizes, len(b))
	}
	for _, want := range []string{"user.login", "user.logout", "application.deploy", "environment.deploy", "environment.clone",
		"environment_variable.update", "secret.update", "member.invite", "invitation.accept", "member.role.update", "token.create",
		"token.revoke", "ssh_key.create", "pod.restart", "version.create", "version.file.upload", "project.create", "project.delete",
		"cluster.update", "database.backup"} {
		if actions[want] == 0 {
			t.Errorf("no %s event in 30000", want)
		}
	}
	for _, want := range []string{"console", "api", "terraform", "git", "cli", "system"} {
		if sources[want] == 0 {
			t.Errorf("no event from source %s", want)
		}
	}
	for _, want := range auditkeep.Types {
		if types[want] == 0 {
			t.Errorf("no event of type %s", want)
		}
	}
	for _, want := range auditkeep.ActorTypes {
		if actorTypes[want] == 0 {
			t.Errorf("no event by an actor of type %s", want)
		}
	}
	if len(targetTypes) < 15 {
		t.Errorf("%d target types; want at least 15", len(targetTypes))
	}
	n := len(events)
	checkShare := func(name string, got int, lo, hi float64) {
		t.Helper()
		if share := float64(got) / float64(n); share < lo || share > hi {
			t.Errorf("%s: %d of %d events (%.3f); want a share in [%.3f, %.3f]", name, got, n, share, lo, hi)
		}
	}
	checkShare("failures", failures, 0.01, 0.15)
	checkShare("failed logins", failedLogins, 0.002, 0.1)
	checkShare("IPv6 addresses", ipv6, 0.005, 0.4)
	checkShare("descriptions", described, 0.02, 0.3)
	checkShare("updates and deletions with before", withBefore, 0.1, 0.6)
	slices.Sort(sizes)
	if mean := size / n; mean < 500 || mean > 4096 {
		t.Errorf("mean event size %d bytes; want 500 B to 4 KiB", mean)
	}
	if p99 := sizes[n*99/100]; p99 > 8192 {
		t.Errorf("99th percentile event size %d bytes; want at most 8 KiB", p99)
	}
}

// TestWorkingHours checks that weekday working hours are busier than nights
// and weekends, and that EventsPerDay sets the average rate.
func TestWorkingHours(t *testing.T) {
	const perDay = 5000
	events := generate(9, 4*7*perDay, demo.Options{EventsPerDay: perDay})
	var work, night, weekend int
	for _, e := range events {
		h, wd := e.OccurredAt.Hour(), e.OccurredAt.Weekday()
		switch {
		case wd == time.Saturday || wd == time.Sunday:
			weekend++
		case h >= 9 && h < 18:
			work++
		case h < 6:
			night++
		}
	}
	if work < 10*night {
		t.Errorf("weekday 9:00-18:00 has %d events, weekday 0:00-6:00 %d; want working hours at least 10 times busier", work, night)
	}
	if work/5 < 3*weekend/2 {
		t.Errorf("per day: weekdays' working hours %d events, weekends %d; want weekdays busier", work/5, weekend/2)
	}
	span := events[len(events)-1].OccurredAt.Sub(start)
	if days := span.Hours() / 24; days < 27 || days > 29 {
		t.Errorf("%d events at %d a day span %.1f days; want 28", len(events), perDay, days)
	}
}

// TestStart checks that a history started at Start(n, end) ends near end.
func TestStart(t *testing.T) {
	end := time.Date(2026, 11, 26, 10, 17, 0, 0, time.UTC) // a Thursday
	for _, tt := range []struct {
		n      int
		perDay float64
	}{{1000, 3000}, {20000, 3000}, {20000, 800}, {100000, 50000}} {
		opts := demo.Options{EventsPerDay: tt.perDay}
		start := demo.Start(tt.n, end, opts)
		g := demo.New(4, start, opts)
		var last time.Time
		for range tt.n {
			last = g.Next().OccurredAt
		}
		// Allow the time of a few sessions at the rate of the hour before end.
		if d := last.Sub(end); d < -30*time.Minute || d > 30*time.Minute {
			t.Errorf("%d events at %.0f a day from Start(%d, %v) = %v end at %v; want within 30 minutes of the end",
				tt.n, tt.perDay, tt.n, end, start, last)
		}
	}
}

func TestOptions(t *testing.T) {
	events := generate(2, 2000, demo.Options{Organization: "Globex Corp", Users: 5, Projects: 1})
	people := map[string]bool{}
	for _, e := range events {
		if e.Actor.Email != "" && e.Actor.ID != "anonymous" {
			if !strings.HasSuffix(e.Actor.Email, "@globex-corp.example") {
				t.Fatalf("actor email %q; want the domain globex-corp.example", e.Actor.Email)
			}
			people[e.Actor.ID] = true
		}
	}
	if len(people) > 12 {
		t.Errorf("%d distinct people act in an organization of 5 (plus invitations); want fewer", len(people))
	}
}

func BenchmarkNext(b *testing.B) {
	g := demo.New(1, start, demo.Options{})
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next()
	}
}

// TestConsistentWorld: what the history says of an object holds across
// events. A project keeps its name except for a rare rename, which is a
// project.update changing the name; live projects have distinct names; a
// service belongs to one environment, whose services have distinct names;
// tokens expire by the platform.
func TestConsistentWorld(t *testing.T) {
	events := generate(3, 30000, demo.Options{})
	projectName := map[string]string{} // project id → its name now
	liveName := map[string]string{}    // project name → the live project bearing it
	serviceEnv := map[string]string{}  // service id → its environment id
	updates, renames := 0, 0
	for i, e := range events {
		if e.Action == "project.update" {
			updates++
			var before, after struct{ Name string }
			json.Unmarshal(e.Before, &before)
			json.Unmarshal(e.Snapshot, &after)
			if before.Name != after.Name {
				renames++
				delete(liveName, before.Name)
				projectName[e.Target.ID] = after.Name
			}
		}
		if e.Action == "project.create" {
			if other, ok := liveName[e.Target.Name]; ok {
				t.Errorf("event %d creates project %s named %q, the name of live project %s", i, e.Target.ID, e.Target.Name, other)
			}
		}
		for j, s := range e.Scope {
			switch s.Type {
			case "project":
				if name, ok := projectName[s.ID]; ok && name != s.Name && e.Action != "project.update" {
					t.Fatalf("event %d (%s) names project %s %q; it was %q, and no update renamed it", i, e.Action, s.ID, s.Name, name)
				}
				projectName[s.ID] = s.Name
				if e.Action != "project.delete" {
					liveName[s.Name] = s.ID
				}
			case "application", "container", "database", "job":
				if j == 0 || e.Scope[j-1].Type != "environment" {
					t.Fatalf("event %d: service %s is not under an environment: %v", i, s.ID, e.Scope)
				}
				env := e.Scope[j-1].ID
				if was, ok := serviceEnv[s.ID]; ok && was != env {
					t.Fatalf("event %d: service %s in environment %s; it was in %s", i, s.ID, env, was)
				}
				serviceEnv[s.ID] = env
			}
		}
		if e.Action == "project.delete" {
			delete(liveName, e.Target.Name)
		}
		if e.Target != nil && e.Target.Type == "environment" {
			var env struct{ Services []struct{ Name string } }
			json.Unmarshal(e.Snapshot, &env)
			names := map[string]bool{}
			for _, s := range env.Services {
				if names[s.Name] {
					t.Errorf("event %d: environment %s has two services named %q", i, e.Target.ID, s.Name)
				}
				names[s.Name] = true
			}
		}
		if e.Action == "token.expire" && e.Actor.Type != auditkeep.ActorSystem {
			t.Errorf("event %d: token.expire by %s %s; want the platform (actor type system)", i, e.Actor.Type, e.Actor.Name)
		}
	}
	if updates == 0 || renames == 0 || renames*10 > updates {
		t.Errorf("%d project updates of which %d renames; want a few renames, fewer than one update in 10", updates, renames)
	}
	if len(serviceEnv) < 10 {
		t.Errorf("%d services seen; want more to check", len(serviceEnv))
	}
}

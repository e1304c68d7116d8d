package demo_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/demo"
)

// pattern is what a default alert rule looks for: matching events, counted
// per actor within a sliding window, and the threshold that raises an alert.
type pattern struct {
	kind      string
	match     func(e *auditkeep.Event) bool
	threshold int
	window    time.Duration
	perDay    [2]float64 // the incidents' expected rate, from-to
}

func raisedRole(e *auditkeep.Event) bool {
	if e.Action != "member.role.update" {
		return false
	}
	var before, after struct{ Role string }
	json.Unmarshal(e.Before, &before)
	json.Unmarshal(e.Snapshot, &after)
	high := func(r string) bool { return r == "admin" || r == "owner" }
	return high(after.Role) && !high(before.Role)
}

var patterns = []pattern{
	{demo.IncidentFailedLogins, func(e *auditkeep.Event) bool {
		return e.Type == auditkeep.TypeLogin && e.Status == auditkeep.StatusFailure
	}, 5, 10 * time.Minute, [2]float64{1, 10}},
	{demo.IncidentMassDeletions, func(e *auditkeep.Event) bool { return e.Type == auditkeep.TypeDelete }, 20, 5 * time.Minute, [2]float64{0.05, 1}},
	{demo.IncidentPrivilegeEscalation, raisedRole, 1, 0, [2]float64{0.1, 3}},
	{demo.IncidentAPITokenCreated, func(e *auditkeep.Event) bool { return e.Action == "token.create" }, 1, 0, [2]float64{1, 15}},
}

// TestPatterns checks the critical patterns of the history against the
// definitions of the default alert rules: each incident crosses its rule's
// threshold within the window, by one actor, and is an hour or more from the
// actor's previous incident of the kind (so that one alert covers it), while
// the matching events outside incidents never cross it.
func TestPatterns(t *testing.T) {
	g := demo.New(21, start, demo.Options{})
	incidents := g.CollectIncidents()
	events := make([]auditkeep.Event, 60000)
	byID := map[string]*auditkeep.Event{}
	for i := range events {
		events[i] = g.Next()
		byID[events[i].ID] = &events[i]
	}
	days := g.Now().Sub(start).Hours() / 24
	for _, p := range patterns {
		t.Run(p.kind, func(t *testing.T) {
			inIncident := map[string]bool{}
			last := map[string]time.Time{} // actor → end of its previous incident
			n := 0
			for _, in := range incidents() {
				if in.Kind != p.kind {
					continue
				}
				n++
				first := byID[in.EventIDs[0]]
				for _, id := range in.EventIDs {
					e := byID[id]
					inIncident[id] = true
					if !p.match(e) {
						t.Fatalf("incident %d: event %s (%s %s) does not match the rule", n, id, e.Action, e.Status)
					}
					if e.Actor.ID != first.Actor.ID {
						t.Fatalf("incident %d: events by %s and %s; want one actor", n, first.Actor.ID, e.Actor.ID)
					}
				}
				end := byID[in.EventIDs[len(in.EventIDs)-1]].OccurredAt
				if len(in.EventIDs) < p.threshold || (p.window > 0 && windowMax(in.EventIDs, byID, p.window) < p.threshold) {
					t.Errorf("incident %d: %d events from %v to %v; want %d or more within %v", n, len(in.EventIDs), first.OccurredAt, end, p.threshold, p.window)
				}
				if prev, ok := last[first.Actor.ID]; ok && p.threshold > 1 && first.OccurredAt.Sub(prev) < time.Hour {
					t.Errorf("incident %d by %s starts %v after the previous one; want an hour or more", n, first.Actor.ID, first.OccurredAt.Sub(prev))
				}
				last[first.Actor.ID] = end
			}
			if rate := float64(n) / days; rate < p.perDay[0] || rate > p.perDay[1] {
				t.Errorf("%d incidents in %.1f days (%.2f a day); want %v to %v a day", n, days, rate, p.perDay[0], p.perDay[1])
			}
			// Ordinary traffic: the matching events outside incidents, per actor.
			others := map[string][]string{}
			for i := range events {
				if e := &events[i]; p.match(e) && !inIncident[e.ID] {
					others[e.Actor.ID] = append(others[e.Actor.ID], e.ID)
				}
			}
			for actor, ids := range others {
				if p.threshold == 1 {
					e := byID[ids[0]]
					t.Errorf("%d events by %s match outside incidents, such as %s (%s)", len(ids), actor, e.ID, e.Action)
					continue
				}
				if m := windowMax(ids, byID, p.window); m >= p.threshold {
					t.Errorf("ordinary traffic: %s has %d matching events within %v; want fewer than %d", actor, m, p.window, p.threshold)
				}
			}
		})
	}
}

// windowMax returns the most events of ids (in time order) within a window.
func windowMax(ids []string, byID map[string]*auditkeep.Event, window time.Duration) int {
	times := make([]time.Time, len(ids))
	for i, id := range ids {
		times[i] = byID[id].OccurredAt
	}
	slices.SortFunc(times, time.Time.Compare)
	most, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) > window {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

package alert

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// tracker holds the sliding windows of a tenant's rules and decides what
// each matching event does: extend an active alert of its group, or count
// towards a new one, raised when the group reaches the threshold.
//
// Windows are over occurred_at. An event is counted in its group's window
// with the events of the group less than Window older than the newest one
// seen; when Threshold of them lie within Window of each other, they make
// an alert and leave the window. An event arriving more than Window after
// the group's newest (by occurred_at) is counted alone.
type tracker struct {
	rules map[string]*ruleState
	now   func() time.Time
	// raised and extended are what the events given since the last take
	// produced.
	raised   []*auditkeep.Alert
	extended map[string]*auditkeep.Alert
}

type ruleState struct {
	rule   *Rule
	groups map[string]*group
	// held are the ids of events that stored alerts hold: a rebuild skips
	// them, as they left the window when the alert was raised or extended.
	held map[string]bool
}

type group struct {
	key    map[string]string
	buf    []entry // by occurred_at, then seq
	active *auditkeep.Alert
}

type entry struct {
	at  time.Time
	seq int64
	id  string
}

func newTracker(now func() time.Time) *tracker {
	return &tracker{rules: map[string]*ruleState{}, now: now, extended: map[string]*auditkeep.Alert{}}
}

// setRules installs the rules to evaluate; a rule whose version moved
// starts with empty windows, one that is gone is dropped.
func (t *tracker) setRules(rules []*Rule) {
	next := make(map[string]*ruleState, len(rules))
	for _, r := range rules {
		if old := t.rules[r.ID]; old != nil && old.rule.Version == r.Version {
			old.rule = r
			next[r.ID] = old
			continue
		}
		next[r.ID] = &ruleState{rule: r, groups: map[string]*group{}, held: map[string]bool{}}
	}
	t.rules = next
}

// setActive installs the stored alerts not resolved (for suppression) and
// the ids of the events stored alerts hold (for a rebuild).
func (t *tracker) setActive(alerts []*auditkeep.Alert, holding []*auditkeep.Alert) {
	for _, rs := range t.rules {
		for _, g := range rs.groups {
			g.active = nil
		}
	}
	for _, a := range alerts {
		rs := t.rules[a.RuleID]
		if rs == nil || a.State == auditkeep.AlertResolved {
			continue
		}
		g := rs.group(rs.rule.keyString(a.GroupKey), a.GroupKey)
		if g.active == nil || a.LastEventAt.After(g.active.LastEventAt) {
			if x := t.extended[a.ID]; x != nil {
				a = x
			}
			g.active = a
		}
	}
	for _, a := range holding {
		if rs := t.rules[a.RuleID]; rs != nil {
			for _, id := range a.EventIDs {
				rs.held[id] = true
			}
		}
	}
}

func (rs *ruleState) group(k string, key map[string]string) *group {
	g := rs.groups[k]
	if g == nil {
		g = &group{key: key}
		rs.groups[k] = g
	}
	return g
}

// add counts e, which rs's rule matched. In a rebuild (replay) nothing is
// raised or extended: the windows are filled as evaluation left them.
func (t *tracker) add(rs *ruleState, e *auditkeep.Event, replay bool) {
	r := rs.rule
	if replay && rs.held[e.ID] {
		return
	}
	k := r.groupString(e)
	g := rs.groups[k]
	if g == nil {
		g = rs.group(k, r.GroupKey(e))
	}
	if a := g.active; a != nil && r.SuppressFor > 0 && a.State != auditkeep.AlertResolved &&
		!e.OccurredAt.After(a.LastEventAt.Add(r.SuppressFor.D())) && !e.OccurredAt.Before(a.FirstEventAt.Add(-r.SuppressFor.D())) {
		if replay {
			return
		}
		a.Count++
		if e.OccurredAt.After(a.LastEventAt) {
			a.LastEventAt = e.OccurredAt
		}
		if e.OccurredAt.Before(a.FirstEventAt) {
			a.FirstEventAt = e.OccurredAt
		}
		if len(a.EventIDs) < auditkeep.MaxAlertEventIDs {
			a.EventIDs = append(a.EventIDs, e.ID)
		}
		a.LastSeq = max(a.LastSeq, e.Seq)
		a.UpdatedAt = t.now().UTC()
		if !slices.Contains(t.raised, a) {
			t.extended[a.ID] = a
		}
		return
	}
	// Insert by occurred_at, then drop what is too old to count.
	en := entry{at: e.OccurredAt, seq: e.Seq, id: e.ID}
	i, _ := slices.BinarySearchFunc(g.buf, en, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.seq - b.seq)
	})
	g.buf = slices.Insert(g.buf, i, en)
	w := r.Window.D()
	newest := g.buf[len(g.buf)-1].at
	drop := 0
	for drop < len(g.buf) && g.buf[drop].at.Before(newest.Add(-w)) {
		drop++
	}
	g.buf = g.buf[drop:]
	lo, hi, ok := crossing(g.buf, w, r.Threshold)
	if !ok {
		return
	}
	span := slices.Clone(g.buf[lo:hi])
	g.buf = slices.Delete(g.buf, lo, hi)
	if len(g.buf) == 0 {
		g.buf = nil
	}
	if replay {
		return
	}
	now := t.now().UTC()
	a := &auditkeep.Alert{ID: newAlertID(), Tenant: e.Tenant, RuleID: r.ID, RuleName: r.Name, Severity: r.Severity,
		GroupKey: g.key, Count: len(span), FirstEventAt: span[0].at, LastEventAt: span[len(span)-1].at,
		FirstSeq: span[0].seq, LastSeq: span[0].seq, State: auditkeep.AlertOpen, CreatedAt: now, UpdatedAt: now}
	for _, s := range span {
		a.FirstSeq, a.LastSeq = min(a.FirstSeq, s.seq), max(a.LastSeq, s.seq)
		if len(a.EventIDs) < auditkeep.MaxAlertEventIDs {
			a.EventIDs = append(a.EventIDs, s.id)
		}
	}
	g.active = a
	t.raised = append(t.raised, a)
}

// crossing finds a run of at least threshold entries of buf (sorted by
// time) within w of each other: the longest such run starting earliest.
func crossing(buf []entry, w time.Duration, threshold int) (lo, hi int, ok bool) {
	if len(buf) < threshold {
		return 0, 0, false
	}
	j := 0
	for i := range buf {
		j = max(j, i)
		for j < len(buf) && !buf[j].at.After(buf[i].at.Add(w)) {
			j++
		}
		if j-i >= threshold {
			return i, j, true
		}
	}
	return 0, 0, false
}

// take returns what the events since the last take produced and forgets it.
func (t *tracker) take() (raised, extended []*auditkeep.Alert) {
	raised = t.raised
	for _, a := range t.extended {
		extended = append(extended, a)
	}
	slices.SortFunc(extended, func(a, b *auditkeep.Alert) int { return strings.Compare(a.ID, b.ID) })
	t.raised, t.extended = nil, map[string]*auditkeep.Alert{}
	return raised, extended
}

// lowestSeq is the lowest seq an event in a window has, or 0 when every
// window is empty.
func (t *tracker) lowestSeq() int64 {
	var low int64
	for _, rs := range t.rules {
		for _, g := range rs.groups {
			for _, en := range g.buf {
				if low == 0 || en.seq < low {
					low = en.seq
				}
			}
		}
	}
	return low
}

// prune forgets groups with empty windows and no active alert.
func (t *tracker) prune() {
	for _, rs := range t.rules {
		for k, g := range rs.groups {
			if len(g.buf) == 0 && g.active == nil {
				delete(rs.groups, k)
			}
		}
	}
}

func newAlertID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "alt_" + hex.EncodeToString(b)
}

// Package demo generates the audit history of a realistic cloud platform:
// an organization's people, API tokens and system services acting on
// projects, environments, services, variables and secrets, served models and
// their versions, GPU pods and VMs, clusters, members, invitations, tokens
// and SSH keys, through the console, the API, Terraform, git pushes and the
// CLI, in bursts during working hours.
//
// A Generator is deterministic: the same seed, start and options give the
// same events, byte for byte. It is not safe for concurrent use.
package demo

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Options shape the generated organization. Zero fields take their defaults.
type Options struct {
	// Organization is the organization's display name ("Acme" by default); its
	// slug names the email domain of its people.
	Organization string
	// Users is the number of people at the start (25 by default).
	Users int
	// Projects is the number of projects at the start (4 by default).
	Projects int
	// EventsPerDay is the average rate of events over a week (3000 by
	// default). Working hours on weekdays are much busier than nights and
	// weekends.
	EventsPerDay float64
}

func (o Options) withDefaults() Options {
	if o.Organization == "" {
		o.Organization = "Acme"
	}
	if o.Users <= 0 {
		o.Users = 25
	}
	if o.Projects <= 0 {
		o.Projects = 4
	}
	if o.EventsPerDay <= 0 {
		o.EventsPerDay = 3000
	}
	return o
}

// Generator produces one organization's events in time order.
type Generator struct {
	r       *rand.Rand
	opts    Options
	domain  string
	orgSlug string
	now     time.Time
	idSalt  uint64
	objects uint64 // identifiers issued
	events  uint64 // events issued
	// expected is the number of events the hourly rates call for since the
	// start: pauses between sessions keep events close to it.
	expected float64
	w        jw

	// the organization
	users       []*user
	emails      map[string]bool
	officeIPs   []string
	tokens      []*token
	clusters    []*cluster
	projects    []*project
	invitations []*invitation

	sess     session
	queue    []auditkeep.Event
	head     int
	baseRate float64 // events per second at activity 1

	// lastAttack is the time of the latest failed login of an attack: attacks
	// are an hour apart or more, each a burst an alert can tell apart.
	lastAttack time.Time
	// lastTeardown is the time of the latest project teardown: they too are
	// an hour apart or more.
	lastTeardown time.Time
	// incidents, when not nil, collects the critical patterns emitted
	// (tests compare them with the alerts they raise); cur is the one the
	// session is emitting (its index plus one; 0 for none).
	incidents *[]Incident
	cur       int
}

// Incident kinds: the critical patterns the history holds now and then,
// named after the default alert rules meant to catch them.
const (
	IncidentFailedLogins        = "failed_logins"        // an attack: 6 to 24 failed logins by one actor within a minute or so
	IncidentMassDeletions       = "mass_deletions"       // a project torn down: 20 deletions or more by one actor within seconds
	IncidentPrivilegeEscalation = "privilege_escalation" // a member's role raised to admin
	IncidentAPITokenCreated     = "api_token_created"    // an API token created
)

// Incident is one occurrence of a critical pattern: its kind and the IDs of
// the events it is made of.
type Incident struct {
	Kind     string
	EventIDs []string
}

// session is a burst of actions by one actor through one tool.
type session struct {
	kind   int
	u      *user
	t      *token
	sys    auditkeep.Actor
	source string
	ua, ip string
	left   int
	logout bool
	victim *user // for attacks: whose account is tried
}

// Session kinds.
const (
	sessUser = iota
	sessToken
	sessSystem
	sessGit
	sessAttack
	sessAccept
	sessTeardown
)

var sessionWeights = []float64{sessUser: 62, sessToken: 18, sessSystem: 10, sessGit: 9, sessAttack: 0.7, sessAccept: 0, sessTeardown: 0.03}

var systemActors = []auditkeep.Actor{
	{Type: auditkeep.ActorSystem, ID: "sys_autoscaler", Name: "Autoscaler"},
	{Type: auditkeep.ActorSystem, ID: "sys_deployment_rules", Name: "Deployment rules"},
	{Type: auditkeep.ActorSystem, ID: "sys_certificates", Name: "Certificate manager"},
	{Type: auditkeep.ActorSystem, ID: "sys_backups", Name: "Backup service"},
	{Type: auditkeep.ActorService, ID: "svc_billing", Name: "Billing"},
	{Type: auditkeep.ActorSystem, ID: "sys_token_expiry", Name: "Token expiry"},
}

const systemUA = "platform-control-plane/3.2.0"

// New returns a generator whose first event occurs shortly after start.
func New(seed int64, start time.Time, opts Options) *Generator {
	opts = opts.withDefaults()
	g := &Generator{
		r:       rand.New(rand.NewPCG(uint64(seed), 0x61756469746b6565)),
		opts:    opts,
		orgSlug: slug(opts.Organization),
		now:     start.UTC().Truncate(time.Millisecond),
		emails:  map[string]bool{},
	}
	g.domain = g.orgSlug + ".example"
	g.idSalt = mix(uint64(seed) ^ 0x5eed)
	g.baseRate = baseRate(opts.EventsPerDay)
	for i := range 3 {
		g.officeIPs = append(g.officeIPs, "203.0.113."+strconv.Itoa(10+i*17))
	}
	for i := range 2 + g.r.IntN(2) {
		g.clusters = append(g.clusters, g.newCluster(i))
	}
	for range opts.Users {
		g.users = append(g.users, g.newUser())
	}
	g.users[0].role = "owner"
	for range max(2, opts.Users/5) {
		g.tokens = append(g.tokens, g.newToken(pick(g, g.users)))
	}
	for range opts.Projects {
		g.projects = append(g.projects, g.newProject())
	}
	return g
}

// Next returns the next event. Its OccurredAt is not before the previous
// event's. Only the sender's fields are set: ID, OccurredAt, Action, Type,
// Actor, Target, Scope, Team, Source, Context, Status, sometimes Description,
// Before (on updates and deletions), Snapshot and Metadata.
func (g *Generator) Next() auditkeep.Event {
	for g.head >= len(g.queue) {
		g.queue, g.head = g.queue[:0], 0
		g.step()
	}
	e := g.queue[g.head]
	g.head++
	return e
}

// Now returns the time of the latest event generated.
func (g *Generator) Now() time.Time { return g.now }

// activity is the relative busyness of each hour of a weekday and of a
// weekend day (UTC): bursts in working hours, a lunch dip, quiet nights.
var activity = [2][24]float64{
	{0.03, 0.02, 0.02, 0.02, 0.03, 0.05, 0.1, 0.3, 0.7, 1, 1, 1, 0.6, 0.7, 1, 1, 1, 0.8, 0.5, 0.3, 0.2, 0.15, 0.08, 0.05},
	{0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.08, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02},
}

var meanActivity = func() float64 {
	var sum float64
	for _, v := range activity[0] {
		sum += 5 * v
	}
	for _, v := range activity[1] {
		sum += 2 * v
	}
	return sum / (7 * 24)
}()

// rate returns the expected events per second at t.
func (g *Generator) rate(t time.Time) float64 { return rateAt(g.baseRate, t) }

// rateAt returns the events per second at t for a base rate (the rate at
// activity 1). It is constant within each hour.
func rateAt(base float64, t time.Time) float64 {
	day := 0
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		day = 1
	}
	return base * activity[day][t.Hour()]
}

func baseRate(perDay float64) float64 { return perDay / 86400 / meanActivity }

// expectedEvents returns the number of events expected in [from, to).
func expectedEvents(base float64, from, to time.Time) float64 {
	var n float64
	for from.Before(to) {
		next := from.Truncate(time.Hour).Add(time.Hour)
		if next.After(to) {
			next = to
		}
		n += rateAt(base, from) * next.Sub(from).Seconds()
		from = next
	}
	return n
}

// timeAfter returns the time after from by which n events are expected.
func timeAfter(base float64, from time.Time, n float64) time.Time {
	for {
		next := from.Truncate(time.Hour).Add(time.Hour)
		r := rateAt(base, from)
		if dt := next.Sub(from).Seconds(); r*dt < n {
			n -= r * dt
			from = next
			continue
		}
		return from.Add(time.Duration(n / r * float64(time.Second)))
	}
}

// Start returns the start time from which a generator with opts produces
// about n events by end: with it, a history of n events ends near end.
func Start(n int, end time.Time, opts Options) time.Time {
	base := baseRate(opts.withDefaults().EventsPerDay)
	left := float64(n)
	t := end.UTC()
	for {
		prev := t.Add(-time.Nanosecond).Truncate(time.Hour)
		r := rateAt(base, prev)
		if dt := t.Sub(prev).Seconds(); r*dt < left {
			left -= r * dt
			t = prev
			continue
		}
		return t.Add(-time.Duration(left / r * float64(time.Second)))
	}
}

// meanSession is about the number of events in a session.
const meanSession = 4.0

// intraGap is the mean pause between two actions of a session at rate.
func intraGap(rate float64) float64 { return math.Min(40, 0.3/rate) }

// setNow moves the clock forward to t (to the millisecond), counting the
// events expected meanwhile.
func (g *Generator) setNow(t time.Time) {
	t = t.Truncate(time.Millisecond)
	if !t.After(g.now) {
		t = g.now.Add(time.Millisecond)
	}
	g.expected += expectedEvents(g.baseRate, g.now, t)
	g.now = t
}

// advance moves the clock forward by an exponential pause of mean seconds.
func (g *Generator) advance(mean float64) {
	g.setNow(g.now.Add(time.Duration(g.r.ExpFloat64() * mean * float64(time.Second))))
}

func (g *Generator) step() {
	s := &g.sess
	if s.left <= 0 {
		if s.logout {
			g.advance(intraGap(g.rate(g.now)))
			g.login("user.logout", auditkeep.TypeLogout, auditkeep.StatusSuccess, "")
			s.logout = false
			return
		}
		g.startSession()
		return
	}
	if s.kind == sessAttack {
		g.advance(2) // a script tries passwords at once
	} else {
		g.advance(intraGap(g.rate(g.now)))
	}
	s.left--
	g.act()
}

// startSession pauses until the next burst of activity, picks who acts and
// how, and emits the session's opening events (logins).
func (g *Generator) startSession() {
	// The pause keeps the events generated in step with the events expected
	// at the hourly rates: bursty, yet on average exactly EventsPerDay.
	ahead := float64(g.events) - g.expected
	g.setNow(timeAfter(g.baseRate, g.now, max(0.05, ahead+meanSession*(g.r.ExpFloat64()-1))))
	s := &g.sess
	*s = session{}
	g.cur = 0
	weights := sessionWeights
	if len(g.invitations) > 0 && g.chance(0.15) {
		s.kind = sessAccept
	} else {
		s.kind = g.pickWeighted(weights)
	}
	var doomed *project
	switch s.kind {
	case sessAttack:
		if !g.lastAttack.IsZero() && g.now.Sub(g.lastAttack) < time.Hour {
			s.kind = sessUser
		}
	case sessTeardown:
		if !g.lastTeardown.IsZero() && g.now.Sub(g.lastTeardown) < time.Hour {
			s.kind = sessUser
		} else if doomed = g.teardownCandidate(); doomed == nil {
			s.kind = sessUser
		}
	}
	switch s.kind {
	case sessUser:
		s.u = g.activeUser()
		s.ip = s.u.ips[0]
		if h := g.now.Hour(); h < 8 || h > 19 || g.chance(0.2) {
			s.ip = s.u.ips[1+g.r.IntN(len(s.u.ips)-1)]
		}
		if g.chance(0.25) {
			s.source, s.ua = "cli", s.u.cliUA
		} else {
			s.source, s.ua = "console", s.u.browser
		}
		s.left = 1 + int(g.r.ExpFloat64()*(meanSession-1))
		if s.u.role == "viewer" || s.u.role == "billing_manager" {
			s.left = g.r.IntN(2) // people who may only look leave few traces
		}
		s.logout = s.source == "console" && g.chance(0.3)
		if s.source == "console" || g.chance(0.1) {
			g.openSession()
		}
	case sessToken:
		s.t = pick(g, g.tokens)
		s.source, s.ua, s.ip = s.t.source, s.t.ua, s.t.ip
		s.left = 1 + g.r.IntN(6)
		if s.source == "terraform" {
			s.left = 2 + g.r.IntN(10)
		}
		g.act()
		s.left--
	case sessSystem:
		s.sys = pick(g, systemActors)
		s.source, s.ua, s.ip = "system", systemUA, "10.0."+strconv.Itoa(g.r.IntN(4))+"."+strconv.Itoa(2+g.r.IntN(250))
		s.left = g.r.IntN(2)
		g.act()
	case sessGit:
		s.u = g.activeUser()
		s.source = "git"
		s.ua = pick(g, gitUAs)
		s.ip = "192.0.2." + strconv.Itoa(10+g.r.IntN(20))
		s.left = g.r.IntN(2)
		g.act()
	case sessAttack:
		s.source, s.ua = "api", pick(g, []string{"python-requests/2.32.3", "curl/8.11.0", "Mozilla/5.0 (compatible)"})
		s.ip = "192.0.2." + strconv.Itoa(1+g.r.IntN(9))
		if g.chance(0.3) {
			s.ip = "2001:db8:bad::" + strconv.FormatInt(int64(1+g.r.IntN(0xfff)), 16)
		}
		s.victim = pick(g, g.users)
		s.left = 5 + g.r.IntN(19)
		g.beginIncident(IncidentFailedLogins)
		g.act()
	case sessTeardown:
		g.beginIncident(IncidentMassDeletions)
		g.teardown(doomed)
	case sessAccept:
		inv := g.invitations[0]
		g.invitations = g.invitations[1:]
		u := inv.u
		s.kind, s.u = sessUser, u
		s.source, s.ua, s.ip = "console", u.browser, u.ips[1]
		s.left = g.r.IntN(4)
		e := g.event("invitation.accept", auditkeep.TypeUpdate, &auditkeep.Target{Type: "invitation", ID: inv.id, Name: u.email}, nil)
		u.active, u.role = true, inv.role
		g.w.reset()
		g.w.open()
		g.w.str("id", inv.id)
		g.w.str("email", u.email)
		g.w.str("role", inv.role)
		g.w.str("status", "accepted")
		g.w.str("invited_by", inv.by.email)
		g.w.close()
		e.Snapshot = g.w.raw()
		e.Metadata = g.request("POST", "/api/invitations/"+inv.id+"/accept", 200)
		g.emit(e)
		g.users = append(g.users, u)
	}
}

// activeUser picks a member; a few people are much busier than the rest.
func (g *Generator) activeUser() *user {
	for {
		u := g.users[g.r.IntN(g.r.IntN(len(g.users))+1)]
		if u.active {
			return u
		}
	}
}

// openSession emits a user's login, after a failed attempt or two now and
// then (not twice within a quarter of an hour: a mistyped password, no attack).
func (g *Generator) openSession() {
	if u := g.sess.u; g.chance(0.06) && (u.lastFailure.IsZero() || g.now.Sub(u.lastFailure) > 15*time.Minute) {
		u.lastFailure = g.now
		for range 1 + g.r.IntN(2) {
			g.login("user.login", auditkeep.TypeLogin, auditkeep.StatusFailure, pick(g, failReasons[:4]))
			g.advance(8)
		}
	}
	g.login("user.login", auditkeep.TypeLogin, auditkeep.StatusSuccess, "")
}

// login emits a login or logout of the session's user.
func (g *Generator) login(action, typ, status, reason string) {
	u := g.sess.u
	if u == nil {
		u = g.sess.victim
	}
	e := g.event(action, typ, &auditkeep.Target{Type: "user", ID: u.id, Name: u.name}, nil)
	e.Status = status
	g.w.reset()
	g.w.open()
	if typ == auditkeep.TypeLogin {
		g.w.str("method", pick(g, loginMethods))
		g.w.boolean("mfa", u.mfa)
	}
	if reason != "" {
		g.w.str("reason", reason)
	}
	g.w.str("session_id", g.newID("ses"))
	g.w.close()
	e.Metadata = g.w.raw()
	g.emit(e)
}

// event starts an event by the session's actor at the current time.
func (g *Generator) event(action, typ string, target *auditkeep.Target, scope []auditkeep.ScopeEntry) *auditkeep.Event {
	g.events++
	var buf [20]byte
	id := appendHex(append(buf[:0], "evt_"...), mix(g.idSalt+g.events), 16)
	e := &auditkeep.Event{
		ID:         string(id),
		OccurredAt: g.now,
		Action:     action,
		Type:       typ,
		Target:     target,
		Scope:      scope,
		Source:     g.sess.source,
		Context:    auditkeep.Context{IP: g.sess.ip, UserAgent: g.sess.ua},
		Status:     auditkeep.StatusSuccess,
	}
	s := &g.sess
	switch {
	case s.t != nil:
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: s.t.id, Name: s.t.name}
		e.Team = s.t.team
	case s.u != nil:
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: s.u.id, Name: s.u.name, Email: s.u.email}
		e.Team = s.u.team
	case s.kind == sessAttack:
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: "anonymous", Email: s.victim.email}
	default:
		e.Actor = s.sys
	}
	return e
}

// emit queues e, a millisecond after the previous event of the same step.
func (g *Generator) emit(e *auditkeep.Event) {
	if n := len(g.queue); n > 0 && !g.queue[n-1].OccurredAt.Before(e.OccurredAt) {
		g.setNow(g.queue[n-1].OccurredAt.Add(time.Millisecond + time.Duration(g.r.IntN(400))*time.Millisecond))
		e.OccurredAt = g.now
	}
	g.queue = append(g.queue, *e)
	if g.cur > 0 {
		in := &(*g.incidents)[g.cur-1]
		in.EventIDs = append(in.EventIDs, e.ID)
	}
	switch g.sess.kind {
	case sessAttack:
		g.lastAttack = e.OccurredAt
	case sessTeardown:
		g.lastTeardown = e.OccurredAt
	}
}

// CollectIncidents makes g collect the incidents it emits from now on, and
// returns a function that returns them as they are so far: what the
// default alert rules should raise alerts for, each once.
func (g *Generator) CollectIncidents() func() []Incident {
	g.incidents = &[]Incident{}
	return func() []Incident { return *g.incidents }
}

// beginIncident starts an incident of the kind, to which the events emitted
// until the next session or incident belong (only when incidents are collected).
func (g *Generator) beginIncident(kind string) {
	g.cur = 0
	if g.incidents != nil {
		*g.incidents = append(*g.incidents, Incident{Kind: kind})
		g.cur = len(*g.incidents)
	}
}

// incident records one event as an incident of its own.
func (g *Generator) incident(kind string, e *auditkeep.Event) {
	if g.incidents != nil {
		*g.incidents = append(*g.incidents, Incident{Kind: kind, EventIDs: []string{e.ID}})
	}
}

// request renders the metadata of an API call.
func (g *Generator) request(method, path string, status int) []byte {
	g.w.reset()
	g.w.open()
	g.w.str("request_id", g.newID("req"))
	g.w.str("method", method)
	g.w.str("path", path)
	g.w.num("status_code", status)
	g.w.close()
	return g.w.raw()
}

// scope builders: the target's place in the hierarchy, ending with the target
// itself when it is a level of the hierarchy.
func projectScope(p *project) []auditkeep.ScopeEntry {
	return []auditkeep.ScopeEntry{{Type: "project", ID: p.id, Name: p.name}}
}

func envScope(p *project, e *environment) []auditkeep.ScopeEntry {
	return []auditkeep.ScopeEntry{{Type: "project", ID: p.id, Name: p.name}, {Type: "environment", ID: e.id, Name: e.name}}
}

func serviceScope(p *project, e *environment, s *service) []auditkeep.ScopeEntry {
	return []auditkeep.ScopeEntry{{Type: "project", ID: p.id, Name: p.name}, {Type: "environment", ID: e.id, Name: e.name},
		{Type: s.kind, ID: s.id, Name: s.name}}
}

func modelScope(p *project, m *model) []auditkeep.ScopeEntry {
	return []auditkeep.ScopeEntry{{Type: "project", ID: p.id, Name: p.name}, {Type: "deployment", ID: m.id, Name: m.name}}
}

func versionScope(p *project, m *model, v *version) []auditkeep.ScopeEntry {
	return []auditkeep.ScopeEntry{{Type: "project", ID: p.id, Name: p.name}, {Type: "deployment", ID: m.id, Name: m.name},
		{Type: "version", ID: v.id, Name: v.name}}
}

// remove deletes x from list, keeping the order.
func remove[T comparable](list []T, x T) []T {
	for i, v := range list {
		if v == x {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// quote renders a name for a description.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "’") + "'" }

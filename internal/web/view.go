package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
	"github.com/auditkeep/auditkeep/internal/search"
)

var funcs = template.FuncMap{
	"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"rfc":       func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"eq2":       func(a, b string) bool { return a == b },
	"asset":     assetURL,
	"sideOf":    func(label string, r *row) side { return side{label, r} },
	"breakable": breakable,
}

// breakable escapes s and lets a name or a host wrap after its dots,
// slashes, underscores and at signs rather than inside a word.
func breakable(s string) template.HTML {
	const breakAfter = "./_@"
	var b strings.Builder
	for {
		i := strings.IndexAny(s, breakAfter)
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(s))
			return template.HTML(b.String())
		}
		for i+1 < len(s) && strings.IndexByte(breakAfter, s[i+1]) >= 0 {
			i++ // after a run of them, once
		}
		b.WriteString(template.HTMLEscapeString(s[:i+1]))
		b.WriteString("<wbr>")
		s = s[i+1:]
	}
}

// side is one of the two events of a comparison.
type side struct {
	Label string
	Row   *row
}

// base is what every page shows: who is signed in, and the viewer mode.
type base struct {
	Title       string
	Tenant      string
	KeyName     string
	Person      string // a person's name (or email), Role theirs
	Role        string
	CSRF        string // the session's token for the sign-out form
	ViewerToken string
	Viewer      bool
	Locked      []lockedFilter
	Expires     time.Time
	StreamsLink bool // the key may open the Streams page
	AlertsLink  bool // the Alerts page is for this credential
	Admin       bool // the header links to the Sessions and Keys pages
}

// lockedFilter is one filter a viewer token fixes: Name is the parameter,
// Label what a person reads for it, Value its values, with the names the
// shown events give their ids (see namer).
type lockedFilter struct{ Name, Label, Value string }

// filterLabels are what a person reads for the filter parameters.
var filterLabels = map[string]string{
	"scope": "Scope", "target_id": "Target", "target_type": "Target type", "target": "Target name",
	"actor": "User", "actor_type": "Actor type", "action": "Event", "type": "Event type",
	"team": "Team", "source": "Tool", "status": "Status", "ip": "IP", "q": "Search", "range": "Time",
}

// namer names the ids of scope entries and targets as the shown events do:
// every shown event matches the filters, so any of them names the ids of
// the filters it carries.
type namer struct{ scopes, targets map[string]string }

func newNamer(events []*auditkeep.Event) namer {
	n := namer{scopes: map[string]string{}, targets: map[string]string{}}
	for _, e := range events {
		for _, sc := range e.Scope {
			if sc.Name != "" {
				n.scopes[sc.Type+":"+sc.ID] = sc.Name
			}
		}
		if e.Target != nil && e.Target.Name != "" {
			n.targets[e.Target.ID] = e.Target.Type + " " + e.Target.Name
		}
	}
	return n
}

func withID(name, id string) string {
	if name == "" || name == id {
		return id
	}
	return name + " (" + id + ")"
}

// value returns what a person reads for a filter parameter's value:
// "project payments (prj_1) › environment production (env_7)" for a scope.
func (n namer) value(param, v string) string {
	switch param {
	case "scope":
		var parts []string
		for _, entry := range strings.Split(v, "/") {
			typ, id, _ := strings.Cut(entry, ":")
			parts = append(parts, typ+" "+withID(n.scopes[entry], id))
		}
		return strings.Join(parts, " › ")
	case "target_id":
		return withID(n.targets[v], v)
	}
	return v
}

// nameLocked gives the locked filters the values n reads for them.
func nameLocked(locked []lockedFilter, ids url.Values, n namer) {
	for i, l := range locked {
		var vals []string
		for _, v := range ids[l.Name] {
			vals = append(vals, n.value(l.Name, v))
		}
		locked[i].Value = strings.Join(vals, ", ")
	}
}

// filterChip is one active filter of the form, with the view without it.
type filterChip struct{ Label, Value, RemoveURL string }

// chips returns the form's active filters that the viewer may change.
func chips(f form, locked map[string]bool, n namer, vt string) []filterChip {
	q := f.consoleQuery()
	q.Del("cursor")
	var out []filterChip
	add := func(param, value string, drop ...string) {
		rest := url.Values{}
		for k, v := range q {
			if !slices.Contains(drop, k) {
				rest[k] = v
			}
		}
		out = append(out, filterChip{cmp.Or(filterLabels[param], param), value, link("/", rest, vt)})
	}
	if f.Range != "" {
		label := map[string]string{"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days"}[f.Range]
		if f.Range == "custom" {
			label = strings.TrimSpace(cmp.Or(f.From, "…") + " to " + cmp.Or(f.To, "now") + " UTC")
		}
		add("range", cmp.Or(label, f.Range), "range", "from", "to")
	}
	if s := f.scopePath(); s != "" && !locked["scope"] {
		add("scope", n.value("scope", s), "scope")
	}
	for _, param := range passThrough {
		if param == "cursor" || locked[param] {
			continue
		}
		for _, v := range f.Values[param] {
			add(param, n.value(param, v), param)
		}
	}
	return out
}

func (c *Console) base(v *viewer, title string) base {
	b := base{Title: title}
	if v == nil {
		return b
	}
	b.Tenant, b.KeyName, b.Viewer, b.ViewerToken = v.id.Tenant, v.id.Name, v.id.Viewer, v.viewerToken
	if v.id.Person {
		b.KeyName, b.Person, b.Role = "", cmp.Or(v.id.Name, v.id.Email), v.id.Role
	}
	if v.sess != nil {
		b.CSRF = v.sess.CSRF
	}
	b.Expires = v.id.Expires
	b.StreamsLink = c.Streams != nil && !v.id.Viewer && v.id.HasScope(auditkeep.ScopeAdmin)
	b.AlertsLink = c.Alerts != nil && alertsMayRead(v.id)
	b.Admin = !v.id.Viewer && v.id.HasScope(auditkeep.ScopeAdmin)
	for name, vals := range v.id.Locked {
		b.Locked = append(b.Locked, lockedFilter{name, cmp.Or(filterLabels[name], name), strings.Join(vals, ", ")})
	}
	sort.Slice(b.Locked, func(i, j int) bool { return b.Locked[i].Name < b.Locked[j].Name })
	return b
}

// row is one event in the table.
type row struct {
	ID, DetailURL            string
	OccurredAt               time.Time
	Actor, ActorType         string
	ActorURL                 string
	Action, Type, ActionURL  string
	HasTarget, TargetDeleted bool
	TargetType, TargetName   string
	TargetID                 string
	TargetHasName            bool
	TargetURL                string
	Team, TeamURL            string
	Scope                    []crumb
	Source, SourceURL        string
	IP, IPURL                string
	Status                   string
	Failure                  bool
	Description              string
}

type crumb struct{ Type, Name, URL string }

func actorLabel(a auditkeep.Actor) string {
	switch {
	case a.Name != "":
		return a.Name
	case a.Email != "":
		return a.Email
	}
	return a.ID
}

func newRow(e *auditkeep.Event, vt string) row {
	r := row{
		ID: e.ID, DetailURL: link("/events/"+url.PathEscape(e.ID), url.Values{}, vt), OccurredAt: e.OccurredAt,
		Actor: actorLabel(e.Actor), ActorType: e.Actor.Type, ActorURL: quick(vt, "actor", e.Actor.ID),
		Action: e.Action, Type: e.Type, ActionURL: quick(vt, "action", e.Action),
		Source: e.Source, SourceURL: quick(vt, "source", e.Source),
		Team: e.Team, TeamURL: quick(vt, "team", e.Team),
		IP: e.Context.IP, IPURL: quick(vt, "ip", e.Context.IP),
		Status: e.Status, Failure: e.Status == auditkeep.StatusFailure, Description: e.Description,
	}
	if t := e.Target; t != nil {
		r.HasTarget, r.TargetType, r.TargetDeleted, r.TargetID = true, t.Type, t.Deleted, t.ID
		r.TargetName, r.TargetHasName = t.Name, t.Name != ""
		if r.TargetName == "" {
			r.TargetName = t.ID
		}
		r.TargetURL = quick(vt, "target_type", t.Type, "target_id", t.ID)
	}
	for i, s := range e.Scope {
		name := s.Name
		if name == "" {
			name = s.ID
		}
		r.Scope = append(r.Scope, crumb{Type: s.Type, Name: name, URL: quick(vt, "scope", auditkeep.ScopePath(e.Scope[:i+1]))})
	}
	return r
}

type choice struct {
	Value, Label string
	Selected     bool
}

// picker is one select of the form.
type picker struct {
	Name, Label string
	Field       string // the facet field of a scope level
	Choices     []choice
	Locked      bool
}

// scopeFacets are the facet fields of the scope pickers' levels.
var scopeFacets = [3]string{auditkeep.FacetProject, auditkeep.FacetEnvironment, auditkeep.FacetService}

func choices(values []string, selected string, labels func(string) string) []choice {
	var out []choice
	found := false
	for _, v := range values {
		l := v
		if labels != nil {
			l = labels(v)
		}
		out = append(out, choice{Value: v, Label: l, Selected: v == selected})
		found = found || v == selected
	}
	if selected != "" && !found {
		out = append([]choice{{Value: selected, Label: selected, Selected: true}}, out...)
	}
	return out
}

type eventsPage struct {
	base
	Form         form
	MaxQueryLen  int // the search box's maxlength
	Error        string
	ErrorField   string // the form field the error is about
	Rows         []row
	MoreURL      string // the next page, by cursor
	Next         string // its cursor, for the script
	FirstPage    bool
	APIQuery     string // the API filter parameters of this view, for the script
	Since        int64  // the newest seq shown
	CanExport    bool
	ExportCSV    string
	ExportNDJSON string
	ExportNote   string
	// ExportReason: the tenant requires a reason for exports, so export
	// is a form asking for one, with ExportFields as its hidden filters.
	ExportReason bool
	ExportFields []exportField
	MaxReasonLen int
	Types        []choice
	Statuses     []choice
	ActorTypes   []choice
	Ranges       []choice
	TargetTypes  picker
	Targets      picker
	ScopePickers []picker
	LockedNames  map[string]bool
	ClearURL     string
	ShownCount   int
	Chips        []filterChip
	Live         bool // live mode is on (the URL's live=1)
}

// filterError returns what the filter form shows for a validation error:
// the message, after the field's label when the message does not start
// with the field's name already ("type \"foo\" is not one of …").
func filterError(err error) string {
	msg := auditkeep.ErrorMessage(err)
	field := auditkeep.ErrorField(err)
	switch {
	case field == "":
		return msg
	case field == "q":
		return "Search: " + msg
	case strings.HasPrefix(msg, field+" ") || strings.HasPrefix(msg, field+":"):
		return msg
	}
	return field + ": " + msg
}

// Invalid marks the form field the filter error is about, and ties the
// error's text to it.
func (p eventsPage) Invalid(field string) template.HTMLAttr {
	if p.Error == "" || p.ErrorField != field {
		return ""
	}
	return ` aria-invalid="true" aria-describedby="filter-error"`
}

func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := parseForm(q)
	p := eventsPage{base: c.base(v, "Audit log"), Form: f, Live: f.Live, MaxQueryLen: search.MaxQueryLen, FirstPage: f.Get("cursor") == "", LockedNames: map[string]bool{}}
	for name := range v.id.Locked {
		p.LockedNames[name] = true
	}
	status := http.StatusOK
	api, err := f.api(c.Now())
	var page Page
	if err == nil {
		page, err = c.b.List(r.Context(), v.id, api)
	}
	if err != nil {
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			c.fail(w, r, v, err)
			return
		}
		status = http.StatusBadRequest
		p.Error, p.ErrorField = filterError(err), auditkeep.ErrorField(err)
	}
	names := newNamer(page.Events)
	nameLocked(p.Locked, v.id.Locked, names)
	p.Chips = chips(f, p.LockedNames, names, v.viewerToken)
	for _, e := range page.Events {
		p.Rows = append(p.Rows, newRow(e, v.viewerToken))
		p.Since = max(p.Since, e.Seq)
	}
	p.ShownCount = len(p.Rows)
	if page.Next != "" {
		cq := f.consoleQuery()
		cq.Set("cursor", page.Next)
		p.MoreURL = link("/", cq, v.viewerToken)
		p.Next = page.Next
	}
	apiNoCursor := url.Values{}
	for k, vals := range api {
		if k != "cursor" {
			apiNoCursor[k] = vals
		}
	}
	p.APIQuery = apiNoCursor.Encode()
	p.ClearURL = link("/", url.Values{}, v.viewerToken)

	// Export.
	eq := f.consoleQuery()
	eq.Del("cursor")
	switch {
	case p.Error != "":
		p.ExportNote = "Export is unavailable until the filter error is fixed."
	case v.id.Viewer:
		p.ExportNote = "Export is not available in this read-only view."
	case !v.id.HasScope(auditkeep.ScopeExport) && v.id.Person:
		p.ExportNote = "Export " + roleLacks(v.id.Role, auditkeep.ScopeExport) + "."
	case !v.id.HasScope(auditkeep.ScopeExport):
		p.ExportNote = "Export needs a key with the export scope; this key lacks it."
	default:
		p.CanExport = true
		if page.ExportReason > 0 {
			p.ExportReason, p.MaxReasonLen = true, page.ExportReason
			for _, name := range slices.Sorted(maps.Keys(eq)) {
				for _, value := range eq[name] {
					p.ExportFields = append(p.ExportFields, exportField{name, value})
				}
			}
		}
		eq.Set("format", "csv")
		p.ExportCSV = link("/export", eq, "")
		eq.Set("format", "ndjson")
		p.ExportNDJSON = link("/export", eq, "")
	}

	// Pickers: the current choices, named as the shown events name them;
	// the page's script fills in the others from GET /facets.
	selected := func(name, value, label string) picker {
		pk := picker{Name: name, Locked: p.LockedNames[name]}
		if value != "" {
			pk.Choices = []choice{{Value: value, Label: label, Selected: true}}
		}
		return pk
	}
	p.Types = choices(auditkeep.Types, f.Get("type"), nil)
	p.ActorTypes = choices(auditkeep.ActorTypes, f.Get("actor_type"), nil)
	p.Statuses = choices([]string{auditkeep.StatusSuccess, auditkeep.StatusFailure}, f.Get("status"), nil)
	p.Ranges = []choice{{"", "Any time", f.Range == ""}, {"24h", "Last 24 hours", f.Range == "24h"},
		{"7d", "Last 7 days", f.Range == "7d"}, {"30d", "Last 30 days", f.Range == "30d"}, {"custom", "Custom range", f.Range == "custom"}}
	p.TargetTypes = selected("target_type", f.Get("target_type"), f.Get("target_type"))
	p.TargetTypes.Label = "Target type"
	tid := f.Get("target_id")
	p.Targets = selected("target_id", tid, withID(strings.TrimPrefix(names.targets[tid], f.Get("target_type")+" "), tid))
	p.Targets.Label = "Target"
	levelNames := []string{"Project", "Environment / deployment", "Service / version"}
	for i, sc := range f.Scope {
		_, id, _ := strings.Cut(sc, ":")
		pk := selected("s"+strconv.Itoa(i+1), sc, withID(names.scopes[sc], id))
		pk.Label, pk.Locked, pk.Field = levelNames[i], p.LockedNames["scope"], scopeFacets[i]
		p.ScopePickers = append(p.ScopePickers, pk)
	}
	c.render(w, r, status, "events", p, v.viewerToken != "")
}

// field is one line of the details list.
type field struct {
	Label, Value, URL string
	Mono              bool
}

type changeRow struct {
	Field, Op, Old, New string
	OldHidden           bool
	NewHidden           bool
	Text                string // the change told in words, for comparisons
}

type eventPage struct {
	base
	Row         row
	Fields      []field
	Changes     []changeRow
	Snapshot    string
	Before      string
	Metadata    string
	Prev        *row
	Compare     []changeRow
	CompareNote string
	BackURL     string
	Proof       *Proof // the event's inclusion proof, once integrated
	ProofURL    string // the console's link to the proof's JSON
	ProofNote   string // why there is no proof to show
}

// hiddenPrefix marks a value replaced by a keyed hash: it changed, and stays secret.
const hiddenPrefix = "hmac-sha256:"

func changeRows(cs []auditkeep.Change) []changeRow {
	var out []changeRow
	for _, ch := range cs {
		cr := changeRow{Field: ch.Field, Op: ch.Op}
		cr.Old, cr.OldHidden = showValue(ch.Old)
		cr.New, cr.NewHidden = showValue(ch.New)
		out = append(out, cr)
	}
	return out
}

// showValue renders a change's JSON value: strings without quotes, hashes
// as hidden.
func showValue(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, hiddenPrefix) {
			return "hidden", true
		}
		return s, false
	}
	return string(raw), false
}

func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// maxRows is the most events one GET /rows renders.
const maxRows = 50

// handleRows renders the list rows of the events named by id parameters,
// as a table for the live view to insert: rows come rendered (and escaped)
// by the same template as the list's, never built from data in the page.
// Events the viewer may not read are left out.
func (c *Console) handleRows(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	ids := r.URL.Query()["id"]
	if len(ids) > maxRows {
		c.fail(w, r, v, auditkeep.FieldErrorf("id", "at most %d ids", maxRows))
		return
	}
	var rows []row
	for _, id := range ids {
		e, err := c.b.Get(r.Context(), v.id, id)
		if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
			continue
		}
		if err != nil {
			c.fail(w, r, v, err)
			return
		}
		rows = append(rows, newRow(e, v.viewerToken))
	}
	c.renderPart(w, "events", "rows", rows)
}

func (c *Console) handleEvent(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	e, err := c.b.Get(r.Context(), v.id, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	vt := v.viewerToken
	p := eventPage{base: c.base(v, e.Action), Row: newRow(e, vt), BackURL: link("/", url.Values{}, vt)}
	add := func(label, value, url string, mono bool) {
		if value != "" {
			p.Fields = append(p.Fields, field{label, value, url, mono})
		}
	}
	add("Event ID", e.ID, "", true)
	add("Seq", strconv.FormatInt(e.Seq, 10), "", true)
	add("Occurred at", e.OccurredAt.UTC().Format(time.RFC3339Nano), "", true)
	add("Received at", e.ReceivedAt.UTC().Format(time.RFC3339Nano), "", true)
	add("Action", e.Action, quick(vt, "action", e.Action), true)
	add("Type", e.Type, quick(vt, "type", e.Type), false)
	add("Status", e.Status, quick(vt, "status", e.Status), false)
	add("Actor", actorLabel(e.Actor), quick(vt, "actor", e.Actor.ID), false)
	add("Actor type", e.Actor.Type, quick(vt, "actor_type", e.Actor.Type), false)
	add("Actor ID", e.Actor.ID, quick(vt, "actor", e.Actor.ID), true)
	add("Actor email", e.Actor.Email, "", false)
	if t := e.Target; t != nil {
		add("Target type", t.Type, quick(vt, "target_type", t.Type), false)
		add("Target ID", t.ID, quick(vt, "target_type", t.Type, "target_id", t.ID), true)
		name := t.Name
		if t.Deleted {
			name = strings.TrimSpace(name + " (deleted)")
		}
		add("Target name", name, "", false)
	}
	for i, s := range e.Scope {
		label := s.Name
		if label == "" {
			label = s.ID
		}
		add("Scope: "+s.Type, label+" ("+s.ID+")", quick(vt, "scope", auditkeep.ScopePath(e.Scope[:i+1])), false)
	}
	add("Team", e.Team, quick(vt, "team", e.Team), false)
	add("Source", e.Source, quick(vt, "source", e.Source), false)
	add("IP address", e.Context.IP, quick(vt, "ip", e.Context.IP), true)
	add("User agent", e.Context.UserAgent, "", false)
	add("Description", e.Description, "", false)
	add("Tenant", e.Tenant, "", true)
	p.Proof, p.ProofURL, p.ProofNote = c.proof(r, v, e.ID)
	p.Changes = changeRows(e.Changes)
	p.Snapshot, p.Before, p.Metadata = prettyJSON(e.Snapshot), prettyJSON(e.Before), prettyJSON(e.Metadata)

	// The previous event of the same target in time, and how its snapshot differs.
	if t := e.Target; t != nil && t.ID != "" {
		prev, found, err := c.previousInTime(r.Context(), v.id, e)
		switch {
		case err != nil:
			p.CompareNote = "The previous event could not be read: " + auditkeep.ErrorMessage(err)
		case !found:
			p.CompareNote = "This is the first event of this target."
		default:
			pr := newRow(prev, vt)
			p.Prev = &pr
			p.Compare, p.CompareNote = compareSnapshots(prev, e)
		}
	}
	c.render(w, r, http.StatusOK, "event", p, vt != "")
}

// compareSnapshots returns the rows of the differences from a's snapshot to
// b's, or a note saying why there are none.
func compareSnapshots(a, b *auditkeep.Event) ([]changeRow, string) {
	cs, err := changes.Compare(a.Snapshot, b.Snapshot)
	switch {
	case err != nil:
		return nil, "The snapshots cannot be compared: " + auditkeep.ErrorMessage(err)
	case len(a.Snapshot) == 0 && len(b.Snapshot) == 0:
		return nil, "Neither event holds a snapshot."
	case len(cs) == 0:
		return nil, "The snapshots are identical."
	}
	rows := changeRows(cs)
	for i, c := range cs {
		rows[i].Text = changes.DescribeChange(c, a.Snapshot, b.Snapshot)
	}
	return rows, ""
}

// after reports whether x comes after y in time: a later occurred_at, or
// the same and a higher seq.
func after(x, y *auditkeep.Event) bool {
	return x.OccurredAt.After(y.OccurredAt) || x.OccurredAt.Equal(y.OccurredAt) && x.Seq > y.Seq
}

// previousWindows are the spans of time before an event that previousInTime
// searches, each wider than the last; the last is unbounded.
var previousWindows = []time.Duration{time.Hour, 24 * time.Hour, 30 * 24 * time.Hour, 365 * 24 * time.Hour, 0}

// previousInTime returns the event of e's target that comes just before e
// in time: the latest occurred_at before e's, or e's with a lower seq;
// found is false when there is none. Seq order is commit order, which parallel
// senders, backfills and skewed clocks make differ from time, so it reads
// the target's events of a span of time before e, widening the span until
// one holds an earlier event: the latest of that span is the latest of all.
func (c *Console) previousInTime(ctx context.Context, id *Identity, e *auditkeep.Event) (prev *auditkeep.Event, found bool, err error) {
	to := e.OccurredAt.UTC().Format(time.RFC3339Nano)
	for _, span := range previousWindows {
		q := url.Values{"target_type": {e.Target.Type}, "target_id": {e.Target.ID}, "to": {to},
			"limit": {strconv.Itoa(auditkeep.MaxLimit)}}
		if span > 0 {
			q.Set("from", e.OccurredAt.Add(-span).UTC().Format(time.RFC3339Nano))
		}
		var best *auditkeep.Event
		for {
			page, err := c.b.List(ctx, id, q)
			if err != nil {
				return nil, false, err
			}
			for _, x := range page.Events {
				if after(e, x) && (best == nil || after(x, best)) {
					best = x
				}
			}
			if page.Next == "" {
				break
			}
			q.Set("cursor", page.Next)
		}
		if best != nil {
			return best, true, nil
		}
	}
	return nil, false, nil
}

// Notes of the event page's integrity section.
const (
	noteNotIntegrated = "Not yet integrated into the tamper-evident log; its proof will be available once it is."
	noteViewerProof   = "Inclusion proofs are shown to keys with the read scope, not in this read-only view."
)

// proof returns the event's inclusion proof and the link to its JSON, or a
// note saying why there is none.
func (c *Console) proof(r *http.Request, v *viewer, eventID string) (*Proof, string, string) {
	pr, err := c.b.Proof(r.Context(), v.id, eventID)
	switch {
	case auditkeep.ErrorCode(err) == auditkeep.EFORBIDDEN:
		return nil, "", noteViewerProof
	case err != nil:
		return nil, "", "The inclusion proof could not be read: " + auditkeep.ErrorMessage(err)
	case !pr.Integrated:
		return nil, "", noteNotIntegrated
	}
	return pr, link("/events/"+url.PathEscape(eventID)+"/proof", url.Values{}, v.viewerToken), ""
}

// handleProof serves an event's inclusion proof as GET
// /v1/events/{id}/proof answers it, read with the session's rights.
func (c *Console) handleProof(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	pr, err := c.b.Proof(r.Context(), v.id, id)
	if err == nil && !pr.Integrated {
		err = auditkeep.Errorf(auditkeep.ENOTFOUND, "event %q is not integrated into the tamper-evident log yet", id)
	}
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	setHeaders(w, v.viewerToken != "")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	writeBody(w, r, http.StatusOK, pr.JSON)
}

// handleExport streams the export of the current filters, authorised by the
// session's key (which needs the export scope).
func (c *Console) handleExport(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	if v.id.Viewer {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "export is not available with a viewer token"))
		return
	}
	if !v.id.HasScope(auditkeep.ScopeExport) && v.id.Person {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "export %s", roleLacks(v.id.Role, auditkeep.ScopeExport)))
		return
	}
	if !v.id.HasScope(auditkeep.ScopeExport) {
		c.fail(w, r, v, auditkeep.Errorf(auditkeep.EFORBIDDEN, "export needs a key with the export scope; sign in with one"))
		return
	}
	format := r.URL.Query().Get("format")
	if !slices.Contains([]string{"csv", "ndjson"}, format) {
		c.fail(w, r, v, auditkeep.FieldErrorf("format", "format must be csv or ndjson"))
		return
	}
	f := parseForm(r.URL.Query())
	f.Values.Del("cursor")
	api, err := f.api(c.Now())
	if err != nil {
		c.fail(w, r, v, err)
		return
	}
	if reason := r.URL.Query().Get("reason"); reason != "" {
		api.Set("reason", reason)
	}
	c.b.Export(w, r, v.id, format, api)
}

// exportField is one filter of the export form, sent as a hidden field.
type exportField struct{ Name, Value string }

// pickerValue is one choice of a picker, as GET /facets answers it.
type pickerValue struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Count int64  `json:"count"`
	More  bool   `json:"more,omitempty"`
}

// handleFacets answers the choices of a picker as JSON: the values of
// ?field= (a facet field) among the events matching the form's filters
// (the pickers send the scope and target type above them), as many as
// the API gives (MaxFacetLimit), with counts. A scope level's values are
// "type:id", as the s1..s3 parameters take them.
func (c *Console) handleFacets(w http.ResponseWriter, r *http.Request) {
	v, ok := c.identify(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	api, err := parseForm(q).api(c.Now())
	var values []auditkeep.Facet
	more := false
	if err == nil {
		api.Del("cursor")
		api.Set("field", q.Get("field"))
		api.Set("limit", strconv.Itoa(auditkeep.MaxFacetLimit))
		values, more, err = c.b.Facets(r.Context(), v.id, api)
	}
	setHeaders(w, false)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := c.b.Status(err)
		if status == http.StatusInternalServerError {
			c.log.Error("console", "path", r.URL.Path, "err", err)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
			"code": auditkeep.ErrorCode(err), "message": auditkeep.ErrorMessage(err), "field": auditkeep.ErrorField(err)}})
		return
	}
	out := struct {
		Values []pickerValue `json:"values"`
		More   bool          `json:"more,omitempty"`
	}{Values: []pickerValue{}, More: more}
	field := q.Get("field")
	for _, f := range values {
		value := f.ID
		if auditkeep.IsScopeFacet(field) {
			value = field + ":" + f.ID // a scope picker's value is an entry of the path
		}
		out.Values = append(out.Values, pickerValue{value, f.Name, f.Count, f.More})
	}
	json.NewEncoder(w).Encode(out)
}

package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/clientip"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// DefaultSourceHeader is the request header that names the tool a request
// came from ("terraform", "cli", "console", …), when MiddlewareOptions gives
// none.
const DefaultSourceHeader = "X-Audit-Source"

// DefaultMaxSnapshotBytes is the largest response body kept as an event's
// snapshot, leaving room for the rest of the event within the server's
// limit per event (auditkeep.DefaultMaxEventBytes, 64 KiB).
const DefaultMaxSnapshotBytes = auditkeep.DefaultMaxEventBytes - 16<<10

// recordTimeout bounds how long a Blocking recorder may hold a request.
const recordTimeout = 30 * time.Second

// maxJSONDepth is the deepest snapshot kept: the server refuses bodies
// deeper than auditkeep.MaxJSONDepth, and the batch and event around a
// snapshot nest it deeper.
const maxJSONDepth = auditkeep.MaxJSONDepth - 8

// maxPathBytes is the longest request path kept in an event's metadata.
const maxPathBytes = 1024

// MiddlewareOptions configure Middleware.
type MiddlewareOptions struct {
	// Methods are the request methods recorded (default POST, PUT, PATCH
	// and DELETE). Other requests pass through untouched.
	Methods []string
	// Actor returns who made the request. It is called after the handler
	// has returned. When it is nil or returns an empty ID, the actor is
	// {"type": "user", "id": "anonymous"}.
	Actor func(r *http.Request) auditkeep.Actor
	// Describe, when set, names the request's action, target and scope
	// (called after the handler, so r.Pattern and r.PathValue are set).
	// Each non-empty result replaces the one derived from the route; an
	// action whose last segment is not an event type (such as
	// "secret.reveal") keeps the type derived from the method.
	Describe func(r *http.Request) (action string, target *auditkeep.Target, scope []auditkeep.ScopeEntry)
	// Enrich, when set, is called with each finished event just before it
	// is recorded: to set Team, Description, Before or Metadata, or to
	// correct anything else. Handlers can do the same with Annotate.
	Enrich func(r *http.Request, e *auditkeep.Event)
	// TrustedProxies are the networks of the reverse proxies in front of
	// the service. Only a request whose connection comes from one of them
	// has its forwarding header (ClientIPHeader) read, from right to left,
	// skipping trusted proxies, to the first address that is not one; from
	// any other peer the header is ignored, so a client cannot forge its
	// address. With none, the client IP is the connection's address. The
	// rule is auditkeep's own (--trusted-proxies), package clientip.
	TrustedProxies []netip.Prefix
	// ClientIPHeader is the header the trusted proxies write:
	// "X-Forwarded-For" (the default) or "Forwarded" (RFC 7239, its for=
	// parameters). Only that one is read.
	ClientIPHeader string
	// SourceHeader is the request header naming the source (default
	// DefaultSourceHeader). Without it, the source is derived from the
	// User-Agent: Terraform and OpenTofu → "terraform"; curl, wget, HTTPie
	// and names ending in "cli" or "ctl" → "cli"; browsers → "console";
	// anything else → "api".
	SourceHeader string
	// MaxSnapshotBytes is the largest JSON response body kept as the
	// event's snapshot (default DefaultMaxSnapshotBytes); a larger one is
	// left out and its size noted in the metadata.
	MaxSnapshotBytes int
	// Mux, when set, is asked for the route of a request whose r.Pattern
	// the middleware cannot see (because a middleware between it and the
	// mux replaced the *http.Request).
	Mux *http.ServeMux
	// OnError, when set, is called when Record fails (ErrBufferFull, or the
	// delivery error of a Blocking recorder); by default the error is
	// logged. The response has already been written.
	OnError func(r *http.Request, err error)
}

// Middleware returns net/http middleware that records an event for every
// mutating request (see MiddlewareOptions.Methods) through rec:
//
//   - action, target and scope from the route the ServeMux matched:
//     "PUT /projects/{project}/environments/{env}" gives action
//     "environment.update", target {type: environment, id: <env>} and scope
//     project:<project>/environment:<env>; "POST /projects/{project}/environments"
//     gives "environment.create" with the target's id and name from the
//     response's "id" and "name"; "POST /deployments/{id}/restart" gives
//     "deployment.restart" (type execute). Describe overrides them;
//   - type from the method: POST create, PUT and PATCH update, DELETE delete;
//   - status failure for a 4xx or 5xx answer (or a panic), else success;
//   - the JSON response body of a successful request as snapshot, up to
//     MaxSnapshotBytes (for an operation such as a restart, only when the
//     body is the target's state: an object with the target's "id");
//   - the client IP (see TrustedProxies), the User-Agent, and the source;
//   - metadata {"method", "route", "path", "status_code"}.
//
// The response is passed through as the handler writes it (status, headers,
// body, Flush, Hijack); the body is only copied. Wrap the ServeMux itself,
// inside any authentication middleware, so that Actor can read the user from
// the request's context and r.Pattern is set. Requests that no route
// matched (r.Pattern is empty) are not recorded unless Describe names an
// action. With a Blocking recorder the handler's return, and so the end of
// the response, waits for the event to be stored (at most 30 seconds; the
// request's cancellation does not abandon the event).
//
// It panics when rec is nil.
func Middleware(rec *Recorder, opts MiddlewareOptions) func(http.Handler) http.Handler {
	if rec == nil {
		panic("auditkeep: Middleware needs a Recorder")
	}
	if len(opts.Methods) == 0 {
		opts.Methods = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	}
	if opts.SourceHeader == "" {
		opts.SourceHeader = DefaultSourceHeader
	}
	if opts.MaxSnapshotBytes <= 0 {
		opts.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if opts.OnError == nil {
		opts.OnError = func(r *http.Request, err error) {
			slog.WarnContext(r.Context(), "auditkeep: event not recorded", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	m := &middleware{rec: rec, opts: opts}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !slices.Contains(m.opts.Methods, r.Method) {
				next.ServeHTTP(w, r)
				return
			}
			m.serve(next, w, r)
		})
	}
}

type middleware struct {
	rec  *Recorder
	opts MiddlewareOptions
}

type annotationsKey struct{}

// annotations are the functions Annotate registered for one request.
type annotations struct {
	fns []func(*auditkeep.Event)
}

// Annotate registers f to change the event that Middleware records for the
// request whose context is ctx (or derives from it): a handler can set the
// actor it authenticated, the object's state before the change (Before),
// a description, or the target's name. The functions run, in order, after
// the handler has returned and before Enrich. Outside the middleware, or
// for a request it does not record, Annotate does nothing. It is not safe to
// call from several goroutines of one request at once.
func Annotate(ctx context.Context, f func(e *auditkeep.Event)) {
	if a, ok := ctx.Value(annotationsKey{}).(*annotations); ok && f != nil {
		a.fns = append(a.fns, f)
	}
}

func (m *middleware) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	ann := &annotations{}
	r = r.WithContext(context.WithValue(r.Context(), annotationsKey{}, ann))
	tw := &teeWriter{w: w, max: m.opts.MaxSnapshotBytes}
	defer func() {
		if p := recover(); p != nil {
			m.record(r, tw, ann, true)
			panic(p)
		}
	}()
	next.ServeHTTP(tw, r)
	m.record(r, tw, ann, false)
}

// record builds the request's event and hands it to the recorder.
func (m *middleware) record(r *http.Request, tw *teeWriter, ann *annotations, panicked bool) {
	status := tw.status
	switch {
	case tw.wroteHeader:
	case panicked:
		status = http.StatusInternalServerError
	default:
		status = http.StatusOK // net/http answers 200 to a handler that wrote nothing
	}
	rt := m.route(r)
	action, target, scope := rt.action, rt.target, rt.scope
	derivedScope := true
	typ := typeOfMethod(r.Method)
	if rt.verb {
		typ = auditkeep.TypeExecute
	}
	if m.opts.Describe != nil {
		a, t, s := m.opts.Describe(r)
		if a != "" {
			action = a
			typ = typeOfMethod(r.Method)
		}
		if t != nil {
			target = t
		}
		if s != nil {
			scope, derivedScope = s, false
		}
	}
	if action == "" {
		return
	}
	if target != nil {
		t := *target
		target = &t
	}
	if i := strings.LastIndexByte(action, '.'); slices.Contains(auditkeep.Types, action[i+1:]) {
		typ = action[i+1:]
	}

	e := auditkeep.Event{
		Action: action,
		Type:   typ,
		Target: target,
		Scope:  scope,
		Source: m.source(r),
		Context: auditkeep.Context{
			IP:        clientip.Resolver{Trusted: m.opts.TrustedProxies, Header: m.opts.ClientIPHeader}.String(r),
			UserAgent: cleanText(r.UserAgent(), auditkeep.MaxUserAgentBytes, false),
		},
		Status: auditkeep.StatusSuccess,
	}
	if panicked || status >= 400 {
		e.Status = auditkeep.StatusFailure
	}
	if m.opts.Actor != nil {
		e.Actor = m.opts.Actor(r)
	}

	meta := map[string]any{"method": r.Method, "path": cleanText(r.URL.EscapedPath(), maxPathBytes, false), "status_code": status}
	if rt.pattern != "" {
		meta["route"] = rt.pattern
	}
	if body, ok := tw.json(); ok && e.Status == auditkeep.StatusSuccess && (!rt.verb || describes(body, e.Target)) {
		e.Snapshot = body
		fillFromResponse(&e, body)
		if t := e.Target; derivedScope && t != nil && t.ID != "" && !strings.Contains(t.ID, "/") {
			if n := len(e.Scope); n == 0 || e.Scope[n-1].Type != t.Type || e.Scope[n-1].ID != t.ID {
				e.Scope = append(e.Scope, auditkeep.ScopeEntry{Type: t.Type, ID: t.ID})
			}
		}
	} else if tw.overflow && e.Status == auditkeep.StatusSuccess {
		meta["response_bytes"] = tw.size
	}
	e.Metadata, _ = json.Marshal(meta)

	for _, f := range ann.fns {
		f(&e)
	}
	if m.opts.Enrich != nil {
		m.opts.Enrich(r, &e)
	}
	if e.Actor.ID == "" {
		e.Actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: "anonymous", Name: e.Actor.Name, Email: e.Actor.Email}
	}
	if e.Target != nil && (e.Target.Type == "" || e.Target.ID == "") {
		e.Target = nil // the server requires both; the scope still places the action
	}
	// The action has happened: record it even if the client has gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	if err := m.rec.Record(ctx, e); err != nil {
		m.opts.OnError(r, err)
	}
}

// fillFromResponse completes the target from the response body: its id
// when the route gave none, and its name.
func fillFromResponse(e *auditkeep.Event, body []byte) {
	if e.Target == nil || body[0] != '{' {
		return
	}
	var obj struct {
		ID   json.RawMessage `json:"id"`
		Name json.RawMessage `json:"name"`
	}
	if json.Unmarshal(body, &obj) != nil {
		return
	}
	id := scalar(obj.ID)
	if e.Target.ID == "" {
		e.Target.ID = cleanText(id, auditkeep.MaxTextBytes, true)
	}
	if name := scalar(obj.Name); name != "" && e.Target.Name == "" && (id == "" || id == e.Target.ID) {
		e.Target.Name = cleanText(name, auditkeep.MaxTextBytes, false)
	}
}

// describes reports whether a response body is the state of target: an
// object whose "id" is the target's. The answer to an operation such as
// POST /deployments/{id}/restart is often a status instead, which would make
// a meaningless snapshot.
func describes(body []byte, target *auditkeep.Target) bool {
	if target == nil || body[0] != '{' {
		return false
	}
	var obj struct {
		ID json.RawMessage `json:"id"`
	}
	return json.Unmarshal(body, &obj) == nil && scalar(obj.ID) == target.ID
}

// scalar returns a JSON string's content or a number's text, else "".
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func typeOfMethod(method string) string {
	switch method {
	case http.MethodPost:
		return auditkeep.TypeCreate
	case http.MethodPut, http.MethodPatch:
		return auditkeep.TypeUpdate
	case http.MethodDelete:
		return auditkeep.TypeDelete
	case http.MethodGet, http.MethodHead:
		return auditkeep.TypeRead
	}
	return auditkeep.TypeExecute
}

// route is what a request's route pattern says about it.
type route struct {
	pattern string
	action  string
	verb    bool // the last segment is a verb (POST /deployments/{id}/restart)
	target  *auditkeep.Target
	scope   []auditkeep.ScopeEntry
}

// route derives the action, target and scope from the pattern that matched r.
func (m *middleware) route(r *http.Request) route {
	pattern := r.Pattern
	own := pattern != ""
	if pattern == "" && m.opts.Mux != nil {
		_, pattern = m.opts.Mux.Handler(r)
	}
	if pattern == "" {
		return route{}
	}
	rt := route{pattern: pattern}
	path := pattern
	if i := strings.IndexByte(path, ' '); i >= 0 {
		path = strings.TrimLeft(path[i+1:], " \t")
	}
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[i:] // drop the host
	}
	psegs := strings.Split(strings.Trim(path, "/"), "/")
	var rsegs []string
	if !own {
		rsegs = strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	}
	value := func(i int, name string, rest bool) string {
		if own {
			return r.PathValue(name)
		}
		if i >= len(rsegs) {
			return ""
		}
		raw := rsegs[i]
		if rest {
			raw = strings.Join(rsegs[i:], "/")
		}
		v, err := url.PathUnescape(raw)
		if err != nil {
			return raw
		}
		return v
	}

	type pair struct{ typ, id string }
	var pairs []pair
	literal, lastLiteral := "", ""
	endsWithWildcard := false
	for i, s := range psegs {
		if s == "" || s == "{$}" {
			continue
		}
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := s[1 : len(s)-1]
			rest := strings.HasSuffix(name, "...")
			name = strings.TrimSuffix(name, "...")
			typ := literal
			if typ == "" {
				typ = name
			}
			pairs = append(pairs, pair{word(singular(typ)), value(i, name, rest)})
			literal = ""
			endsWithWildcard = true
			continue
		}
		literal = s
		lastLiteral = s
		endsWithWildcard = false
	}
	verb := typeOfMethod(r.Method)
	var ids []pair
	switch {
	case endsWithWildcard:
		ids = pairs
		last := pairs[len(pairs)-1]
		rt.action = last.typ + "." + verb
		rt.target = &auditkeep.Target{Type: last.typ, ID: last.id}
	case lastLiteral == "":
		return route{}
	case !isPlural(lastLiteral) && r.Method == http.MethodPost:
		// An operation: POST /deployments/{id}/restart, or POST /login.
		rt.verb = true
		if len(pairs) == 0 {
			rt.action = word(lastLiteral)
			break
		}
		ids = pairs
		last := pairs[len(pairs)-1]
		rt.action = last.typ + "." + word(lastLiteral)
		rt.target = &auditkeep.Target{Type: last.typ, ID: last.id}
	default:
		// A collection: POST /projects/{project}/environments creates one,
		// whose id the response tells.
		typ := word(singular(lastLiteral))
		ids = pairs
		rt.action = typ + "." + verb
		rt.target = &auditkeep.Target{Type: typ}
	}
	if !auditkeep.ValidAction(rt.action) {
		return route{pattern: pattern}
	}
	for _, p := range ids {
		id := strings.ReplaceAll(cleanText(p.id, auditkeep.MaxTextBytes, true), "/", "%2F")
		if p.typ == "" || id == "" {
			continue
		}
		rt.scope = append(rt.scope, auditkeep.ScopeEntry{Type: p.typ, ID: id})
	}
	if rt.target != nil {
		rt.target.ID = cleanText(rt.target.ID, auditkeep.MaxTextBytes, true)
	}
	return rt
}

// word makes s an action segment: lowercase letters, digits, '_' and '-'.
func word(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_':
			b = append(b, byte(r))
		case r == '-' && len(b) > 0:
			b = append(b, '-')
		default:
			b = append(b, '_')
		}
	}
	return strings.TrimRight(string(b), "-")
}

// isPlural reports whether a path segment names a collection ("projects",
// "policies") rather than an operation ("restart", "access").
func isPlural(s string) bool {
	s = strings.ToLower(s)
	return strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss") && !strings.HasSuffix(s, "us") && !strings.HasSuffix(s, "is")
}

// singular turns a collection name into its item's: "policies" → "policy",
// "addresses" → "address", "services" → "service", "env-vars" → "env-var".
func singular(s string) string {
	if !isPlural(s) {
		return s
	}
	l := strings.ToLower(s)
	switch {
	case strings.HasSuffix(l, "ies") && len(s) > 4:
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(l, "sses"), strings.HasSuffix(l, "xes"), strings.HasSuffix(l, "ches"), strings.HasSuffix(l, "shes"):
		return s[:len(s)-2]
	}
	return s[:len(s)-1]
}

// source names the tool the request came from: the source header when it
// holds a word, else a guess from the User-Agent.
func (m *middleware) source(r *http.Request) string {
	if s := strings.ToLower(strings.TrimSpace(r.Header.Get(m.opts.SourceHeader))); s != "" && len(s) <= auditkeep.MaxSourceBytes && isWord(s) {
		return s
	}
	return SourceFromUserAgent(r.UserAgent())
}

// SourceFromUserAgent guesses the tool that sent a request from its
// User-Agent: "terraform" for Terraform and OpenTofu (and their providers),
// "cli" for curl, wget, HTTPie, PowerShell and programs whose name ends in
// "cli" or "ctl", "console" for browsers, and "api" for anything else.
func SourceFromUserAgent(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case strings.Contains(l, "terraform") || strings.Contains(l, "opentofu"):
		return "terraform"
	}
	product := l
	if i := strings.IndexAny(product, "/ "); i >= 0 {
		product = product[:i]
	}
	switch product {
	case "curl", "wget", "httpie", "xh", "powershell", "gh", "gcloud", "az", "aws-cli", "kubectl":
		return "cli"
	}
	if strings.HasSuffix(product, "cli") || strings.HasSuffix(product, "ctl") || strings.Contains(l, "windowspowershell") {
		return "cli"
	}
	if strings.HasPrefix(l, "mozilla/") || strings.HasPrefix(l, "opera/") {
		return "console"
	}
	return "api"
}

func isWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// cleanText makes attacker-controlled text acceptable to the server, so
// that a crafted request cannot get its own event refused: it replaces
// control characters, cuts it to max bytes and, for identifiers, trims
// spaces.
func cleanText(s string, max int, ident bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && (ident || r != '\n' && r != '\t') || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	if ident {
		s = strings.TrimFunc(s, unicode.IsSpace)
	}
	return s
}

// teeWriter passes a response through and keeps the status and the first
// max bytes of the body.
type teeWriter struct {
	w           http.ResponseWriter
	status      int
	wroteHeader bool
	max         int
	buf         []byte
	size        int64
	overflow    bool
}

func (t *teeWriter) Header() http.Header { return t.w.Header() }

func (t *teeWriter) WriteHeader(code int) {
	if !t.wroteHeader && code >= 200 {
		t.status, t.wroteHeader = code, true
	}
	t.w.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if !t.wroteHeader {
		t.status, t.wroteHeader = http.StatusOK, true
	}
	n, err := t.w.Write(b)
	t.size += int64(n)
	if !t.overflow {
		if len(t.buf)+n > t.max {
			t.overflow, t.buf = true, nil
		} else {
			t.buf = append(t.buf, b[:n]...)
		}
	}
	return n, err
}

// Flush sends what has been written so far, when the underlying writer can.
func (t *teeWriter) Flush() {
	if !t.wroteHeader {
		t.status, t.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(t.w).Flush()
}

// Hijack hands the connection over, when the underlying writer can.
func (t *teeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(t.w).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.w }

// json returns the body when it is a complete JSON object or array sent as
// JSON and within the limits.
func (t *teeWriter) json() ([]byte, bool) {
	if t.overflow || len(t.buf) == 0 {
		return nil, false
	}
	mt, _, err := mime.ParseMediaType(t.w.Header().Get("Content-Type"))
	if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, false
	}
	body := bytes.TrimSpace(t.buf)
	if len(body) == 0 || body[0] != '{' && body[0] != '[' || !json.Valid(body) || ijson.Depth(body) > maxJSONDepth {
		return nil, false
	}
	return body, true
}

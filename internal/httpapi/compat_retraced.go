package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/retraced"
	graphql "github.com/graph-gophers/graphql-go"
)

// Retraced's publisher API, under /auditlog/publisher/v1/project/{projectId}/
// (retraced src/controllers/PublisherController.ts). The project id names
// the tenant; the credential is an auditkeep API key of that tenant, sent as
// Retraced's clients send theirs: "Authorization: token=<key>" (retraced-js
// reportEvent) or "Token token=<key>" (retraced-go, and retraced-js for
// viewer tokens and searches). README.md, "Drop-in for other audit-log
// APIs", lists the mapping.

const retracedPrefix = "/auditlog/publisher/v1/project/{projectId}"

// retracedError is Retraced's error body (retraced src/router.ts
// handleFrameworkError): {"status", "type", "error", "invalid"}.
type retracedError struct {
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Error   string `json:"error"`
	Invalid any    `json:"invalid,omitempty"`
}

// retracedInvalid is one refused event of a bulk request (retraced
// createEvent.ts validateEventInputs).
type retracedInvalid struct {
	Message    string                `json:"message"`
	Index      int                   `json:"index"`
	Violations []*retraced.Violation `json:"violations"`
}

// retracedFailure is an error that already holds its Retraced body.
type retracedFailure struct {
	body retracedError
}

func (f *retracedFailure) Error() string { return f.body.Error }

// writeRetracedError answers err in Retraced's shape, with the status of
// its code (README.md "HTTP API"), Retry-After where auditkeep sends one.
func (s *Server) writeRetracedError(w http.ResponseWriter, r *http.Request, err error) {
	var f *retracedFailure
	if !errors.As(err, &f) {
		code := auditkeep.ErrorCode(err)
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return
		}
		switch code {
		case auditkeep.EINTERNAL:
			s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		case auditkeep.EUNAVAILABLE, auditkeep.ERATELIMITED:
			if w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
		}
		f = &retracedFailure{retracedError{Status: statusOf(code), Type: "Error", Error: auditkeep.ErrorMessage(err)}}
		if field := auditkeep.ErrorField(err); field != "" && code == auditkeep.EINVALID {
			f.body.Invalid = []*retraced.Violation{{Message: f.body.Error, Field: field, Violation: "invalid"}}
		}
	}
	writeJSON(w, f.body.Status, f.body)
}

// retracedAuth authenticates the key as Retraced's server reads it
// (retraced src/security/helpers.ts apiTokenFromAuthHeader: the text after
// "token="), checks that it carries scope and belongs to the tenant the
// project id names, and answers errors in Retraced's shape.
func (s *Server) retracedAuth(scope string, next func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return s.vendorAuth(scope, s.retracedPrincipal, s.writeRetracedError, func(w http.ResponseWriter, r *http.Request) error {
		if id := r.PathValue("projectId"); id != principalFrom(r.Context()).tenant() {
			return auditkeep.Errorf(auditkeep.EFORBIDDEN, "this key belongs to another tenant than %q", id)
		}
		return next(w, r)
	})
}

// vendorAuth is auth for an API of another vendor's shape: authn reads
// the credential as the vendor sends it, and writeError answers in the
// vendor's error shape.
func (s *Server) vendorAuth(scope string, authn func(*http.Request) (principal, error),
	writeError func(http.ResponseWriter, *http.Request, error), next func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := authn(r)
		if err == nil {
			err = s.admit(w, r, p, scope)
		}
		if err == nil {
			err = next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		}
		if err != nil {
			writeError(w, r, err)
		}
	}
}

var retracedTokenRe = regexp.MustCompile(`token=(.+)`)

func (s *Server) retracedPrincipal(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "Missing Authorization header")
	}
	m := retracedTokenRe.FindStringSubmatch(h)
	if m == nil || strings.TrimSpace(m[1]) == "" {
		return principal{}, auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "Invalid Authorization header form: send Authorization: token=<key>")
	}
	return s.keyPrincipal(r, m[1])
}

// retracedRoutes adds Retraced's publisher API to the table.
func (s *Server) retracedRoutes(route func(pattern, name string, h http.HandlerFunc)) {
	s.retracedSchema = graphql.MustParseSchema(retracedSchema, &retracedQuery{s: s},
		graphql.UseFieldResolvers(), graphql.MaxDepth(8), graphql.MaxQueryLength(16<<10))
	route("POST "+retracedPrefix+"/event", "retraced_event", s.retracedAuth(scopeIngest, s.handleRetracedEvent))
	route("POST "+retracedPrefix+"/event/bulk", "retraced_event_bulk", s.retracedAuth(scopeIngest, s.handleRetracedBulk))
	route("GET "+retracedPrefix+"/viewertoken", "retraced_viewertoken", s.retracedAuth(scopeRead, s.handleRetracedViewerToken))
	route("POST "+retracedPrefix+"/graphql", "retraced_graphql", s.retracedAuth(scopeRead, s.handleRetracedGraphQL))
	route("/auditlog/", "retraced_unknown", func(w http.ResponseWriter, r *http.Request) {
		s.writeRetracedError(w, r, auditkeep.Errorf(auditkeep.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

type retracedCreated struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// handleRetracedEvent serves POST …/event: 201 {"id", "hash"} once the
// event is durable.
func (s *Server) handleRetracedEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	p, err := retraced.Parse(body)
	if err != nil {
		v := err.(*retraced.Violation)
		return &retracedFailure{retracedError{Status: 400, Type: "Error", Error: v.Message, Invalid: []*retraced.Violation{v}}}
	}
	out, err := s.ingestRetraced(r, []*retraced.Parsed{p}, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out[0])
	return nil
}

// handleRetracedBulk serves POST …/event/bulk {"events": [...]}: 201 with
// one {"id", "hash"} per event, in order, once all are durable; one bad
// event refuses them all.
func (s *Server) handleRetracedBulk(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	var b retraced.Bulk
	if err := json.Unmarshal(body, &b); err != nil || b.Events == nil {
		return &retracedFailure{retracedError{Status: 400, Type: "Error", Error: `the body must be {"events": [...]}`,
			Invalid: []*retraced.Violation{{Message: "events is required", Field: "events", Violation: "missing"}}}}
	}
	if max := s.ingest.Limits.MaxBatchEvents; len(b.Events) > max {
		return &retracedFailure{retracedError{Status: 400, Type: "Error",
			Error: fmt.Sprintf("A maximum of %d events may be created at once, received %d", max, len(b.Events))}}
	}
	parsed := make([]*retraced.Parsed, len(b.Events))
	var bad []retracedInvalid
	for i, raw := range b.Events {
		p, err := retraced.Parse(raw)
		if err != nil {
			v := err.(*retraced.Violation)
			bad = append(bad, retracedInvalid{Message: fmt.Sprintf("Invalid event input at index %d:\n-- %s", i, v.Message), Index: i,
				Violations: []*retraced.Violation{v}})
			continue
		}
		parsed[i] = p
	}
	if bad != nil {
		msgs := make([]string, len(bad))
		for i, b := range bad {
			msgs[i] = b.Message
		}
		return &retracedFailure{retracedError{Status: 400, Type: "Error",
			Error: "One or more invalid inputs, no events were logged:\n- " + strings.Join(msgs, "\n- "), Invalid: bad}}
	}
	out, err := s.ingestRetraced(r, parsed, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// ingestRetraced stores events through ingest (atomic, durable,
// idempotent by id) and returns each one's id and Retraced hash. An error
// of ingest names the Retraced field.
func (s *Server) ingestRetraced(r *http.Request, events []*retraced.Parsed, bulk bool) ([]retracedCreated, error) {
	mapped := make([]any, len(events))
	for i, p := range events {
		mapped[i] = p.Map()
	}
	body, err := json.Marshal(map[string]any{"events": mapped})
	if err != nil {
		return nil, err
	}
	res, err := s.compatIngest(r, principalFrom(r.Context()).tenant(), body)
	if err != nil {
		return nil, retracedIngestError(err, bulk)
	}
	out := make([]retracedCreated, len(events))
	for i, p := range events {
		out[i] = retracedCreated{ID: res.IDs[i], Hash: p.Hash(res.IDs[i])}
	}
	return out, nil
}

// retracedIngestError turns ingest's refusal of events[i].field into
// Retraced's shape, naming the event (bulk) and Retraced's field.
func retracedIngestError(err error, bulk bool) error {
	code := auditkeep.ErrorCode(err)
	if auditkeep.ErrorField(err) == "" || (code != auditkeep.EINVALID && code != auditkeep.ETOOLARGE) {
		return err
	}
	idx := compat.Index(err)
	err = compat.Rename(err, func(int) string { return "" }, retraced.Names)
	msg := auditkeep.ErrorMessage(err)
	v := &retraced.Violation{Message: msg, Field: auditkeep.ErrorField(err), Violation: "invalid"}
	status := statusOf(code)
	if !bulk || idx < 0 {
		return &retracedFailure{retracedError{Status: status, Type: "Error", Error: msg, Invalid: []*retraced.Violation{v}}}
	}
	inv := retracedInvalid{Message: fmt.Sprintf("Invalid event input at index %d:\n-- %s", idx, msg), Index: idx, Violations: []*retraced.Violation{v}}
	return &retracedFailure{retracedError{Status: status, Type: "Error",
		Error: "One or more invalid inputs, no events were logged:\n- " + inv.Message, Invalid: []retracedInvalid{inv}}}
}

// handleRetracedViewerToken serves GET …/viewertoken?group_id=&actor_id=
// &is_admin=[&target_id=]: 201 {"token"}, an auditkeep viewer token bound
// to the group's events (and the target's, with target_id), for an hour.
func (s *Server) handleRetracedViewerToken(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	group := q.Get("group_id")
	if group == "" {
		group = q.Get("team_id")
	}
	if group == "" {
		return &retracedFailure{retracedError{Status: 400, Type: "Error", Error: "Either group_id or team_id is required"}}
	}
	if strings.Contains(group, "/") {
		return &retracedFailure{retracedError{Status: 400, Type: "Error", Error: "group_id may not contain '/'"}}
	}
	params := url.Values{"scope": {retraced.GroupScope + ":" + group}}
	if t := q.Get("target_id"); t != "" {
		params.Set("target_id", t)
	}
	if _, err := parseViewerFilters(params); err != nil {
		return err
	}
	token, err := s.signViewerToken(r.Context(), principalFrom(r.Context()).tenant(), params, s.Now().Add(defaultViewerTTL).UTC())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": token})
	return nil
}

type retracedGraphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// handleRetracedGraphQL serves POST …/graphql: the search query of
// Retraced's schema (retraced src/handlers/graphql/schema.ts), answered
// 200 {"data"}, or 400 {"errors"} as Retraced's server does.
func (s *Server) handleRetracedGraphQL(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	var req retracedGraphQLRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Query == "" {
		return &retracedFailure{retracedError{Status: 400, Type: "Error", Error: `the body must be {"query": "...", "variables": {...}}`}}
	}
	res := s.retracedSchema.Exec(r.Context(), req.Query, req.OperationName, req.Variables)
	status := http.StatusOK
	if len(res.Errors) > 0 {
		for _, e := range res.Errors {
			if e.ResolverError != nil && auditkeep.ErrorCode(e.ResolverError) != auditkeep.EINVALID {
				return e.ResolverError // unavailable, internal: not the query's fault
			}
		}
		status = http.StatusBadRequest
	}
	writeJSON(w, status, res)
	return nil
}

// retracedSchema is the part of Retraced's GraphQL schema its clients
// query (retraced-go graphql.go searchTmplSource, retraced-js
// src/graphql.ts): search with the event fields they select.
const retracedSchema = `
schema { query: Query }
type Query {
	search(query: String, first: Int, after: String, last: Int, before: String): SearchQueryResult!
}
type SearchQueryResult { edges: [SearchEventEdge!]!, pageInfo: PageInfo!, totalCount: Int! }
type PageInfo { hasNextPage: Boolean!, hasPreviousPage: Boolean! }
type SearchEventEdge { node: Event!, cursor: String! }
type Field { key: String!, value: String! }
type Group { id: String!, name: String! }
type Actor { id: String!, name: String!, href: String, fields: [Field!]! }
type Target { id: String!, name: String!, href: String, type: String!, fields: [Field!]! }
type Display { markdown: String }
enum CRUD { c r u d }
type Event {
	id: String!
	action: String!
	description: String
	group: Group
	actor: Actor
	target: Target
	crud: CRUD
	display: Display
	received: String!
	created: String!
	canonical_time: String!
	is_failure: Boolean!
	is_anonymous: Boolean!
	source_ip: String
	country: String
	loc_subdiv1: String
	loc_subdiv2: String
	component: String
	version: String
	fields: [Field!]!
	raw: String!
	external_id: String
	metadata: [Field!]!
}
`

// maxRetracedCount bounds totalCount: beyond it the count reads this many.
const maxRetracedCount = 100000

type retracedQuery struct{ s *Server }

type retracedSearchArgs struct {
	Query  *string
	First  *int32
	After  *string
	Last   *int32
	Before *string
}

type retracedConnection struct {
	Edges      []retracedEdge
	PageInfo   retracedPageInfo
	TotalCount int32
}

type retracedPageInfo struct{ HasNextPage, HasPreviousPage bool }

type retracedEdge struct {
	Node   *retraced.Node
	Cursor string
}

var errCountEnough = errors.New("counted enough")

// Search answers search(query, first, after, last, before) over the key's
// tenant: last/before pages from the newest event back, first/after from
// the oldest on (retraced src/handlers/graphql/search.ts). totalCount
// counts every match, up to maxRetracedCount.
func (q *retracedQuery) Search(ctx context.Context, args retracedSearchArgs) (*retracedConnection, error) {
	if args.First != nil && args.Last != nil {
		return nil, auditkeep.FieldErrorf("first", "Arguments 'first' and 'last' are exclusive")
	}
	if args.Before != nil && args.After != nil {
		return nil, auditkeep.FieldErrorf("before", "Arguments 'before' and 'after' are exclusive")
	}
	text := ""
	if args.Query != nil {
		text = *args.Query
	}
	f, err := retraced.ParseQuery(text)
	if err != nil {
		return nil, err
	}
	f.Sort, f.Order, f.Limit = auditkeep.SortTime, auditkeep.OrderAsc, auditkeep.DefaultLimit
	size, cursor := args.First, args.After
	if args.Last != nil || args.Before != nil {
		f.Order, size, cursor = auditkeep.OrderDesc, args.Last, args.Before
	}
	if size != nil {
		if *size < 1 || *size > auditkeep.MaxLimit {
			return nil, auditkeep.FieldErrorf("last", "first and last are from 1 to %d", auditkeep.MaxLimit)
		}
		f.Limit = int(*size)
	}
	tenant := principalFrom(ctx).tenant()
	count := f
	count.Sort, count.Order, count.Limit = "", "", 0
	if cursor != nil && *cursor != "" {
		c, err := auditkeep.DecodeCursor(*cursor)
		if err != nil || c.Sort != auditkeep.SortTime || c.Order != f.Order {
			return nil, auditkeep.FieldErrorf("cursor", "Invalid cursor")
		}
		f.Cursor = c
	}
	events, next, err := q.s.store.ListEvents(ctx, tenant, f)
	if err != nil {
		return nil, err
	}
	var n int32
	err = q.s.store.ScanEvents(ctx, tenant, count, func(*auditkeep.Event) error {
		if n++; n >= maxRetracedCount {
			return errCountEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errCountEnough) {
		return nil, err
	}
	conn := &retracedConnection{TotalCount: n, Edges: make([]retracedEdge, len(events))}
	for i, e := range events {
		c := auditkeep.Cursor{Seq: e.Seq, Order: f.Order, Sort: auditkeep.SortTime, At: e.OccurredAt.UnixNano()}
		conn.Edges[i] = retracedEdge{Node: retraced.NodeOf(e), Cursor: c.Encode()}
	}
	if f.Order == auditkeep.OrderDesc {
		conn.PageInfo.HasPreviousPage = next != nil
	} else {
		conn.PageInfo.HasNextPage = next != nil
	}
	return conn, nil
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// MaxBatch is the largest number of events the server accepts in one Ingest call.
const MaxBatch = 1000

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "auditkeep-go/1"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Client talks to one auditkeep server with one key. It is safe for
// concurrent use.
type Client struct {
	baseURL   string
	key       string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (for
// timeouts, proxies, TLS settings or tests). The default is a client without
// an overall timeout, since exports may stream for a long time: bound calls
// with their context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080" or "https://audit.example.com/prefix") that
// authenticates with key. An empty key sends no Authorization header.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{
		baseURL:   strings.TrimRight(baseURL, "/"),
		key:       key,
		hc:        &http.Client{},
		userAgent: DefaultUserAgent,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIError is an error answered by the server: {"error": {"code", "message",
// "field"}} and its HTTP status. Code is one of the auditkeep error codes
// (auditkeep.EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOTFOUND, ECONFLICT,
// ETOOLARGE, ERATELIMITED, EUNAVAILABLE, EINTERNAL). RetryAfter is the delay
// the server asked for with Retry-After (429 and 503), zero when absent.
type APIError struct {
	Status     int
	Code       string
	Message    string
	Field      string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Message == "" {
		b.WriteString(strings.ToLower(http.StatusText(e.Status)))
	}
	if e.Field != "" {
		b.WriteString(" (")
		b.WriteString(e.Field)
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " [%d %s]", e.Status, e.Code)
	return b.String()
}

// Unwrap returns the error as an *auditkeep.Error so that
// auditkeep.ErrorCode, ErrorMessage and ErrorField work on client errors.
func (e *APIError) Unwrap() error {
	return &auditkeep.Error{Code: e.Code, Message: e.Message, Field: e.Field}
}

// Temporary reports whether retrying the same request later may succeed
// (rate limited, unavailable, or a gateway error).
func (e *APIError) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// codeForStatus is the code assumed when an error body carries none.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return auditkeep.EINVALID
	case http.StatusUnauthorized:
		return auditkeep.EUNAUTHORIZED
	case http.StatusForbidden:
		return auditkeep.EFORBIDDEN
	case http.StatusNotFound:
		return auditkeep.ENOTFOUND
	case http.StatusConflict:
		return auditkeep.ECONFLICT
	case http.StatusRequestEntityTooLarge:
		return auditkeep.ETOOLARGE
	case http.StatusTooManyRequests:
		return auditkeep.ERATELIMITED
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return auditkeep.EUNAVAILABLE
	}
	return auditkeep.EINTERNAL
}

// TenantParams are the fields of a new tenant.
type TenantParams struct {
	Name          string `json:"name"`           // lowercase letters, digits and '-'; becomes the tenant's ID
	RetentionDays int    `json:"retention_days"` // 0 means unlimited
	Plan          string `json:"plan"`
}

// TenantUpdate changes a tenant's settings; nil fields are left as they are.
type TenantUpdate struct {
	RetentionDays *int    `json:"retention_days,omitempty"`
	Plan          *string `json:"plan,omitempty"`
}

// Tenant is a tenant as the server returns it.
type Tenant struct {
	auditkeep.Tenant
	Name string `json:"name"`
}

// NewKey is a key just created. Key is the secret itself: the server shows
// it once and keeps only its hash.
type NewKey struct {
	auditkeep.APIKey
	Key string `json:"key"`
}

// IngestResult is the server's answer to an accepted batch. IDs holds the
// events' IDs in the order sent, duplicates included; Duplicates counts the
// events whose ID had been stored before and were not stored again.
type IngestResult struct {
	Accepted   int      `json:"accepted"`
	IDs        []string `json:"ids"`
	Duplicates int      `json:"duplicates"`
	Tenant     string   `json:"tenant"` // the tenant of the key, which stored the events
}

// Page is one page of events. NextCursor is "" on the last page.
type Page struct {
	Events     []auditkeep.Event `json:"events"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// EventDetail is one event as GET /v1/events/{id} returns it: the event and
// its inclusion proof (raw, as the server sends it; absent until the event
// has been integrated into the tenant's Merkle tree).
type EventDetail struct {
	auditkeep.Event
	Proof json.RawMessage `json:"proof,omitempty"`
}

// CreateTenant creates a tenant (root key). Returns an *APIError with
// EINVALID for a bad name or retention, ECONFLICT when the name is taken,
// EUNAUTHORIZED or EFORBIDDEN without the root key.
func (c *Client) CreateTenant(ctx context.Context, p TenantParams) (*Tenant, error) {
	var t Tenant
	if err := c.do(ctx, http.MethodPost, "/v1/tenants", nil, p, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// UpdateTenant changes a tenant's retention or plan (root key) and returns
// the tenant as stored. Returns ENOTFOUND for an unknown tenant, EINVALID for
// a bad value.
func (c *Client) UpdateTenant(ctx context.Context, tenant string, u TenantUpdate) (*Tenant, error) {
	var t Tenant
	if err := c.do(ctx, http.MethodPut, "/v1/tenants/"+url.PathEscape(tenant), nil, u, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateKey creates a key of tenant with the scopes (auditkeep.ScopeIngest,
// ScopeRead, ScopeExport, ScopeAdmin), using the root key or the tenant's
// admin key. Returns ENOTFOUND for an unknown tenant, EINVALID for an unknown
// scope, EFORBIDDEN for a key of another tenant or without admin scope.
func (c *Client) CreateKey(ctx context.Context, tenant, name string, scopes []string) (*NewKey, error) {
	body := struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}{name, scopes}
	var k NewKey
	if err := c.do(ctx, http.MethodPost, "/v1/tenants/"+url.PathEscape(tenant)+"/keys", nil, body, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeKey revokes the key id of tenant. Returns ENOTFOUND when the tenant
// has no such key.
func (c *Client) RevokeKey(ctx context.Context, tenant, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tenants/"+url.PathEscape(tenant)+"/keys/"+url.PathEscape(id), nil, nil, nil)
}

// LedgerRebuild is the answer to RebuildLedger: the tenant's new latest
// checkpoint.
type LedgerRebuild struct {
	Tenant     string `json:"tenant"`
	Size       uint64 `json:"size"`
	Checkpoint string `json:"checkpoint"` // the signed note
	Origin     string `json:"origin"`
	Root       string `json:"root"` // hex
}

// RebuildLedger rebuilds the tenant's tree from its stored events and has
// the server sign it anew (root key): the one way out of a broken ledger.
// The server records ledger.rebuild with reason in the tenant's log.
// Returns EINVALID naming "reason" when it is empty, ENOTFOUND for an
// unknown tenant, ECONFLICT when a seq is missing from the stored events.
func (c *Client) RebuildLedger(ctx context.Context, tenant, reason string) (*LedgerRebuild, error) {
	var out LedgerRebuild
	if err := c.do(ctx, http.MethodPost, "/v1/tenants/"+url.PathEscape(tenant)+"/ledger/rebuild", nil, map[string]string{"reason": reason}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ingest sends events as one atomic batch (ingest scope; at most MaxBatch
// events and 5 MiB). It returns once the server has stored them durably.
// Only the sender's fields are sent: Tenant, Seq, ReceivedAt and Hash are
// assigned by the server; an empty ID lets the server generate one, a zero
// OccurredAt lets it use the time of receipt. Returns EINVALID (Field names
// the event's index, such as "events[3].actor.id") when any event is
// rejected, in which case none is stored; ETOOLARGE for a batch over the
// limits; ERATELIMITED and EUNAVAILABLE (with RetryAfter) when the caller
// may retry the same batch: IDs make the retry idempotent.
func (c *Client) Ingest(ctx context.Context, events []auditkeep.Event) (*IngestResult, error) {
	body := struct {
		Events []wireEvent `json:"events"`
	}{make([]wireEvent, len(events))}
	for i := range events {
		body.Events[i] = toWire(&events[i])
	}
	var res IngestResult
	if err := c.do(ctx, http.MethodPost, "/v1/events", nil, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// MarshalEvent returns the JSON that Ingest sends for e: the sender's fields
// only (no tenant, seq, received_at, hash or target.deleted), empty ones left
// out. For tools that build request bodies themselves.
func MarshalEvent(e *auditkeep.Event) ([]byte, error) {
	w := toWire(e)
	return json.Marshal(&w)
}

// wireEvent is the sender's part of an event, with empty fields omitted.
type wireEvent struct {
	ID          string                 `json:"id,omitempty"`
	OccurredAt  time.Time              `json:"occurred_at,omitzero"`
	Action      string                 `json:"action"`
	Type        string                 `json:"type,omitempty"`
	Actor       auditkeep.Actor        `json:"actor"`
	Target      *auditkeep.Target      `json:"target,omitempty"`
	Scope       []auditkeep.ScopeEntry `json:"scope,omitempty"`
	Team        string                 `json:"team,omitempty"`
	Source      string                 `json:"source,omitempty"`
	Context     auditkeep.Context      `json:"context,omitzero"`
	Status      string                 `json:"status,omitempty"`
	Description string                 `json:"description,omitempty"`
	Changes     []auditkeep.Change     `json:"changes,omitempty"`
	Before      json.RawMessage        `json:"before,omitempty"`
	Snapshot    json.RawMessage        `json:"snapshot,omitempty"`
	Metadata    json.RawMessage        `json:"metadata,omitempty"`
}

func toWire(e *auditkeep.Event) wireEvent {
	w := wireEvent{
		ID: e.ID, OccurredAt: e.OccurredAt, Action: e.Action, Type: e.Type, Actor: e.Actor,
		Target: e.Target, Scope: e.Scope, Team: e.Team, Source: e.Source, Context: e.Context,
		Status: e.Status, Description: e.Description, Changes: e.Changes,
		Before: e.Before, Snapshot: e.Snapshot, Metadata: e.Metadata,
	}
	if w.Target != nil && w.Target.Deleted {
		t := *w.Target
		t.Deleted = false // set by the server on read, never sent
		w.Target = &t
	}
	return w
}

// ListEvents returns one page of events matching the filter query parameters q
// (from, to, action, type, actor, actor_type, target_type, target_id, target,
// scope, team, ip, source, status, q, limit, cursor, order; see "Filters" in
// README.md). Read scope. Returns EINVALID, with Field naming the parameter,
// for a bad filter or search.
func (c *Client) ListEvents(ctx context.Context, q url.Values) (*Page, error) {
	var p Page
	if err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// FilterEvents is ListEvents for a Filter: its From, To, non-negated Terms,
// Limit, Order and Cursor (see auditkeep.Filter.Params). Text terms and
// negated terms cannot be sent this way; give them as q to ListEvents.
func (c *Client) FilterEvents(ctx context.Context, f auditkeep.Filter) (*Page, error) {
	return c.ListEvents(ctx, f.Params())
}

// Events yields every event matching q, page after page, following
// next_cursor until the last page. A cursor given in q is the starting
// point. It stops at the first error, which it yields with a zero event.
func (c *Client) Events(ctx context.Context, q url.Values) iter.Seq2[auditkeep.Event, error] {
	return func(yield func(auditkeep.Event, error) bool) {
		q := cloneValues(q)
		for {
			p, err := c.ListEvents(ctx, q)
			if err != nil {
				yield(auditkeep.Event{}, err)
				return
			}
			for _, e := range p.Events {
				if !yield(e, nil) {
					return
				}
			}
			if p.NextCursor == "" || len(p.Events) == 0 {
				return
			}
			q.Set("cursor", p.NextCursor)
		}
	}
}

// GetEvent returns the event with id (read scope), with its proof when the
// server has one. Returns ENOTFOUND.
func (c *Client) GetEvent(ctx context.Context, id string) (*EventDetail, error) {
	var e EventDetail
	if err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Diff is the field-level comparison of two events' snapshots: what
// changed from event From to event To.
type Diff struct {
	From    string             `json:"from"`
	To      string             `json:"to"`
	Changes []auditkeep.Change `json:"changes"`
}

// Diff compares the snapshot of event id with that of event other (read
// scope): what changed from id to other. Returns ENOTFOUND (its Field
// "with" when other is the missing one).
func (c *Client) Diff(ctx context.Context, id, other string) (*Diff, error) {
	var d Diff
	q := url.Values{"with": {other}}
	if err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id)+"/diff", q, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Export streams every event matching the filter query parameters q, in
// format "csv" or "ndjson", into w (export scope), and returns the number of
// bytes written. Errors the server reports before the body starts are
// *APIError (EINVALID for a bad format or filter); an error while streaming
// is returned with the bytes written so far, and the output is then
// incomplete.
func (c *Client) Export(ctx context.Context, format string, q url.Values, w io.Writer) (int64, error) {
	q = cloneValues(q)
	q.Set("format", format)
	resp, err := c.send(ctx, http.MethodGet, "/v1/export", q, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("export: after %d bytes: %w", n, err)
	}
	return n, nil
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// do sends a request with body (JSON-encoded unless nil) and decodes a 2xx
// answer into out (unless nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, method, path, q, rd)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns the response when its status is 2xx; any
// other status is read and returned as an *APIError.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(resp)
}

// readError turns an error response into an *APIError.
func readError(resp *http.Response) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != nil {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) <= 200 && !strings.ContainsAny(s, "<\x00") {
		e.Message = s // a plain-text answer, such as a proxy's
	}
	if e.Code == "" {
		e.Code = codeForStatus(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	return e
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

package httpapi

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/compat/workos"
)

// WorkOS Audit Logs, under /audit_logs/ (workos-node src/audit-logs,
// workos-go audit_logs.go). The SDKs send "Authorization: Bearer <key>":
// an auditkeep API key, whose tenant the body's organization_id must name
// (workos.Tenant). README.md, "Drop-in for other audit-log APIs", lists the
// mapping.

// workosError is WorkOS's error body (workos-node src/workos.ts
// handleHttpError reads message, code and errors).
type workosError struct {
	Message string               `json:"message"`
	Code    string               `json:"code,omitempty"`
	Errors  []*workos.FieldError `json:"errors,omitempty"`
}

type workosFailure struct {
	status int
	body   workosError
}

func (f *workosFailure) Error() string { return f.body.Message }

var workosCodes = map[string]string{
	auditkeep.EUNAUTHORIZED: "unauthorized", auditkeep.EFORBIDDEN: "forbidden", auditkeep.ENOTFOUND: "entity_not_found",
	auditkeep.ECONFLICT: "conflict", auditkeep.ETOOLARGE: "payload_too_large", auditkeep.ERATELIMITED: "rate_limit_exceeded",
	auditkeep.EUNAVAILABLE: "service_unavailable", auditkeep.EINTERNAL: "server_error",
}

// writeWorkOSError answers err in WorkOS's shape: a refused field is 422
// with errors [{code, field, message}]; other codes keep the statuses of
// README.md "HTTP API" (429 and 503 with Retry-After, which the SDKs
// honour).
func (s *Server) writeWorkOSError(w http.ResponseWriter, r *http.Request, err error) {
	var f *workosFailure
	if !errors.As(err, &f) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return
		}
		code := auditkeep.ErrorCode(err)
		f = &workosFailure{status: statusOf(code), body: workosError{Message: auditkeep.ErrorMessage(err), Code: workosCodes[code]}}
		switch code {
		case auditkeep.EINTERNAL:
			s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		case auditkeep.EUNAVAILABLE, auditkeep.ERATELIMITED:
			if w.Header().Get("Retry-After") == "" {
				w.Header().Set("Retry-After", "1")
			}
		case auditkeep.EINVALID:
			f.status, f.body.Code = http.StatusUnprocessableEntity, "invalid_request_parameters"
			f.body.Errors = []*workos.FieldError{{Code: "invalid", Field: auditkeep.ErrorField(err), Message: f.body.Message}}
		}
		if code == auditkeep.EUNAUTHORIZED {
			f.body.Message = "Unauthorized"
		}
	}
	writeJSON(w, f.status, f.body)
}

func workosInvalid(err error) error {
	var fe *workos.FieldError
	if errors.As(err, &fe) {
		if fe.Code == "invalid_json" {
			return &workosFailure{status: 400, body: workosError{Message: fe.Message, Code: "invalid_request"}}
		}
		return &workosFailure{status: 422, body: workosError{Message: "Validation failed", Code: "invalid_request_parameters",
			Errors: []*workos.FieldError{fe}}}
	}
	return err
}

// workosAuth authenticates the bearer key as auditkeep's own routes do,
// checks that it carries scope, and answers errors in WorkOS's shape.
func (s *Server) workosAuth(scope string, next func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return s.vendorAuth(scope, s.authenticate, s.writeWorkOSError, next)
}

// workosTenant checks that an organization id names the key's tenant.
func workosTenant(ctx context.Context, org string) error {
	if t := principalFrom(ctx).tenant(); workos.Tenant(org) != t {
		return &workosFailure{status: 403, body: workosError{Code: "forbidden",
			Message: fmt.Sprintf("organization %q is not the tenant of this API key", org)}}
	}
	return nil
}

// workosRoutes adds WorkOS's Audit Logs API to the table.
func (s *Server) workosRoutes(route func(pattern, name string, h http.HandlerFunc)) {
	route("POST /audit_logs/events", "workos_event", s.workosAuth(scopeIngest, s.handleWorkOSEvent))
	route("POST /audit_logs/exports", "workos_export_create", s.workosAuth(scopeExport, s.handleWorkOSCreateExport))
	route("GET /audit_logs/exports/{id}", "workos_export_get", s.workosAuth(scopeExport, s.handleWorkOSGetExport))
	route("GET /audit_logs/exports/{id}/csv", "workos_export_csv", func(w http.ResponseWriter, r *http.Request) {
		if err := s.handleWorkOSExportCSV(w, r); err != nil {
			s.writeWorkOSError(w, r, err)
		}
	})
	route("POST /audit_logs/actions/{action}/schemas", "workos_schema_create", s.workosAuth(scopeAdmin, s.handleWorkOSCreateSchema))
	route("/audit_logs/", "workos_unknown", func(w http.ResponseWriter, r *http.Request) {
		s.writeWorkOSError(w, r, auditkeep.Errorf(auditkeep.ENOTFOUND, "Not Found"))
	})
}

// handleWorkOSEvent serves POST /audit_logs/events: 200 {"success": true}
// once the event is durable. The SDKs send an Idempotency-Key on every
// call and retry with it; the event's id derives from it and the
// organization, so a retry stores nothing new, and the same key with
// another event is refused (409).
func (s *Server) handleWorkOSEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	c, err := workos.ParseCreate(body)
	if err != nil {
		return workosInvalid(err)
	}
	if err := workosTenant(r.Context(), c.OrganizationID); err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	id, digest := workos.EventID(c.OrganizationID, key), ""
	if key != "" {
		digest = workos.Digest(body)
	}
	mapped, err := json.Marshal(map[string]any{"events": []any{c.Map(id, digest)}})
	if err != nil {
		return err
	}
	tenant := principalFrom(r.Context()).tenant()
	res, err := s.compatIngest(r, tenant, mapped)
	if err != nil {
		return workosIngestError(err)
	}
	if res.Duplicates > 0 && key != "" {
		e, err := s.store.GetEvent(r.Context(), tenant, id)
		if err != nil {
			return err
		}
		var m struct {
			X workos.Extra `json:"workos"`
		}
		if json.Unmarshal(e.Metadata, &m) != nil || m.X.Digest != digest {
			return &workosFailure{status: 409, body: workosError{Code: "idempotency_key_reused",
				Message: "This Idempotency-Key was already used with another event"}}
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	return nil
}

// workosIngestError names the field ingest refused as WorkOS does
// ("event.metadata.transactionId"): 422.
func workosIngestError(err error) error {
	if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) == "" {
		return err
	}
	err = compat.Rename(err, func(int) string { return "event" }, workos.Names)
	return &workosFailure{status: 422, body: workosError{Message: "Validation failed", Code: "invalid_request_parameters",
		Errors: []*workos.FieldError{{Code: "invalid", Field: auditkeep.ErrorField(err), Message: auditkeep.ErrorMessage(err)}}}}
}

// handleWorkOSCreateSchema serves POST /audit_logs/actions/{action}/schemas:
// the schema becomes the action's latest version in the catalog (README.md
// "Action catalog"), and 201 answers it in WorkOS's shape.
func (s *Server) handleWorkOSCreateSchema(w http.ResponseWriter, r *http.Request) error {
	if s.catalog == nil {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "Not Found")
	}
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	sc, err := workos.ParseSchema(body)
	if err != nil {
		return workosInvalid(err)
	}
	js, err := sc.CatalogSchema(body)
	if err != nil {
		return err
	}
	v, _, err := s.catalog.Register(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("action"), js)
	if err != nil {
		if auditkeep.ErrorCode(err) == auditkeep.EINVALID {
			return &workosFailure{status: 422, body: workosError{Message: auditkeep.ErrorMessage(err), Code: "invalid_request_parameters",
				Errors: []*workos.FieldError{{Code: "invalid", Field: auditkeep.ErrorField(err), Message: auditkeep.ErrorMessage(err)}}}}
		}
		return err
	}
	out := map[string]any{"object": "audit_log_schema", "version": v.Version, "targets": sc.Targets,
		"created_at": v.CreatedAt.UTC().Format(workosTime)}
	if sc.Actor != nil {
		out["actor"] = sc.Actor
	}
	if len(sc.Metadata) > 0 {
		out["metadata"] = sc.Metadata
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// workosTime is how WorkOS writes times.
const workosTime = "2006-01-02T15:04:05.000Z07:00"

// Exports. An export is a record in the tenant's settings (so that every
// node of a PostgreSQL deployment answers for it): its filter, the last seq
// it covers, and its state. A job counts its events and the SHA-256 of the
// CSV, then marks it ready; the CSV is served from the store at a signed
// URL valid for ten minutes, the events with a seq up to the export's,
// newest first.

const (
	workosExportPrefix  = "workos.export."
	workosExportURLLife = 10 * time.Minute
	workosSecretName    = "workos_export_secret"
)

type workosExportRequest struct {
	OrganizationID string   `json:"organization_id"`
	RangeStart     string   `json:"range_start"`
	RangeEnd       string   `json:"range_end"`
	Actions        []string `json:"actions"`
	Actors         []string `json:"actors"`
	ActorNames     []string `json:"actor_names"`
	ActorIDs       []string `json:"actor_ids"`
	Targets        []string `json:"targets"`
}

// workosExport is an export's record.
type workosExport struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Params    url.Values `json:"params"`
	MaxSeq    int64      `json:"max_seq"`
	State     string     `json:"state"` // pending, ready, error
	Events    int        `json:"events,omitempty"`
	SHA256    string     `json:"sha256,omitempty"`
	Error     string     `json:"error,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// workosJobs runs the export jobs of this node.
type workosJobs struct {
	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

func (j *workosJobs) start(id string, run func(ctx context.Context)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx == nil {
		j.ctx, j.cancel = context.WithCancel(context.Background())
		j.running = map[string]bool{}
	}
	if j.running[id] || j.ctx.Err() != nil {
		return
	}
	j.running[id] = true
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		run(j.ctx)
		j.mu.Lock()
		delete(j.running, id)
		j.mu.Unlock()
	}()
}

func (j *workosJobs) isRunning(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.running[id]
}

// stop cancels the running jobs and waits for them.
func (j *workosJobs) stop() {
	j.mu.Lock()
	if j.cancel != nil {
		j.cancel()
	} else {
		j.ctx, j.cancel = context.WithCancel(context.Background())
		j.cancel()
	}
	j.mu.Unlock()
	j.wg.Wait()
}

func (s *Server) handleWorkOSCreateExport(w http.ResponseWriter, r *http.Request) error {
	body, err := s.compatBody(w, r)
	if err != nil {
		return err
	}
	var req workosExportRequest
	if err := compat.Decode(body, &req); err != nil {
		return workosInvalid(workos.DecodeError(err))
	}
	for _, f := range []struct{ name, v string }{{"organization_id", req.OrganizationID}, {"range_start", req.RangeStart}, {"range_end", req.RangeEnd}} {
		if f.v == "" {
			return workosInvalid(&workos.FieldError{Code: "required", Field: f.name, Message: f.name + " is required"})
		}
	}
	if err := workosTenant(r.Context(), req.OrganizationID); err != nil {
		return err
	}
	params := url.Values{"from": {req.RangeStart}, "to": {req.RangeEnd}}
	for name, vals := range map[string][]string{"action": req.Actions, "actor": append(append(append([]string{}, req.Actors...), req.ActorNames...), req.ActorIDs...),
		"target_type": req.Targets} {
		if len(vals) > 0 {
			params[name] = vals
		}
	}
	if _, err := parseFilter(params); err != nil {
		field := map[string]string{"from": "range_start", "to": "range_end", "action": "actions", "actor": "actor_names", "target_type": "targets"}[auditkeep.ErrorField(err)]
		return workosInvalid(&workos.FieldError{Code: "invalid", Field: field, Message: auditkeep.ErrorMessage(err)})
	}
	tenant := principalFrom(r.Context()).tenant()
	last, _, err := s.store.ListEvents(r.Context(), tenant, auditkeep.Filter{Limit: 1})
	if err != nil {
		return err
	}
	now := s.Now().UTC()
	x := &workosExport{ID: newID("audit_log_export_"), Tenant: tenant, Params: params, State: "pending", CreatedAt: now, UpdatedAt: now}
	if len(last) > 0 {
		x.MaxSeq = last[0].Seq
	}
	if err := s.putWorkOSExport(r.Context(), x); err != nil {
		return err
	}
	s.workosJobs.start(x.ID, func(ctx context.Context) { s.runWorkOSExport(ctx, x) })
	writeJSON(w, http.StatusCreated, s.workosExportBody(r, x))
	return nil
}

// exportFilter is the filter of an export's events: its parameters, up to
// its last seq, newest first.
func (x *workosExport) filter() (auditkeep.Filter, error) {
	f, err := parseFilter(x.Params)
	if err != nil {
		return f, err
	}
	f.Order, f.Cursor = auditkeep.OrderDesc, &auditkeep.Cursor{Seq: x.MaxSeq + 1, Order: auditkeep.OrderDesc}
	return f, nil
}

// runWorkOSExport writes the export's CSV once, to count its events and
// hash it, and records the result.
func (s *Server) runWorkOSExport(ctx context.Context, x *workosExport) {
	h := sha256.New()
	n, err := s.writeWorkOSCSV(ctx, x, h)
	if ctx.Err() != nil {
		return // shutting down: another node, or this one restarted, picks it up
	}
	x.UpdatedAt = s.Now().UTC()
	if err != nil {
		x.State, x.Error = "error", auditkeep.ErrorMessage(err)
		s.log.Warn("export failed", "tenant", x.Tenant, "export", x.ID, "err", err)
	} else {
		x.State, x.Events, x.SHA256 = "ready", n, hex.EncodeToString(h.Sum(nil))
	}
	if err := s.putWorkOSExport(ctx, x); err != nil {
		s.log.Warn("export: could not record its state", "tenant", x.Tenant, "export", x.ID, "err", err)
	}
}

func (s *Server) writeWorkOSCSV(ctx context.Context, x *workosExport, w io.Writer) (int, error) {
	f, err := x.filter()
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	n, flush, err := s.exportEvents(ctx, x.Tenant, f, "csv", bw)
	if err != nil {
		return n, err
	}
	return n, flush()
}

func (s *Server) putWorkOSExport(ctx context.Context, x *workosExport) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	return s.store.PutSetting(ctx, x.Tenant, workosExportPrefix+x.ID, b)
}

func (s *Server) getWorkOSExport(ctx context.Context, tenant, id string) (*workosExport, error) {
	if !strings.HasPrefix(id, "audit_log_export_") {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "Audit Log Export not found: '%s'", id)
	}
	b, err := s.store.GetSetting(ctx, tenant, workosExportPrefix+id)
	if auditkeep.ErrorCode(err) == auditkeep.ENOTFOUND {
		return nil, auditkeep.Errorf(auditkeep.ENOTFOUND, "Audit Log Export not found: '%s'", id)
	}
	if err != nil {
		return nil, err
	}
	var x workosExport
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, err
	}
	return &x, nil
}

// handleWorkOSGetExport serves GET /audit_logs/exports/{id}: its state and,
// when ready, a URL valid for ten minutes. A pending export whose job no
// node has advanced for a minute (its node stopped) is run here.
func (s *Server) handleWorkOSGetExport(w http.ResponseWriter, r *http.Request) error {
	x, err := s.getWorkOSExport(r.Context(), principalFrom(r.Context()).tenant(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if x.State == "pending" && !s.workosJobs.isRunning(x.ID) && s.Now().Sub(x.UpdatedAt) > time.Minute {
		s.workosJobs.start(x.ID, func(ctx context.Context) { s.runWorkOSExport(ctx, x) })
	}
	writeJSON(w, http.StatusOK, s.workosExportBody(r, x))
	return nil
}

func (s *Server) workosExportBody(r *http.Request, x *workosExport) map[string]any {
	out := map[string]any{"object": "audit_log_export", "id": x.ID, "state": x.State,
		"created_at": x.CreatedAt.Format(workosTime), "updated_at": x.UpdatedAt.Format(workosTime)}
	if x.State == "ready" {
		if u, err := s.workosExportURL(r, x); err == nil {
			out["url"] = u
		}
	}
	return out
}

func (s *Server) workosExportMAC(ctx context.Context, tenant, id string, expires int64) ([]byte, error) {
	secret, err := s.browser.secrets.get(ctx, s.store, workosSecretName)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "auditkeep export url\n%s\n%s\n%d", tenant, id, expires)
	return m.Sum(nil), nil
}

// workosExportURL signs the export's CSV URL, on the host the request came to.
func (s *Server) workosExportURL(r *http.Request, x *workosExport) (string, error) {
	expires := s.Now().Add(workosExportURLLife).Unix()
	mac, err := s.workosExportMAC(r.Context(), x.Tenant, x.ID, expires)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := url.Values{"tenant": {x.Tenant}, "expires": {strconv.FormatInt(expires, 10)}, "signature": {hex.EncodeToString(mac)}}
	return scheme + "://" + r.Host + "/audit_logs/exports/" + url.PathEscape(x.ID) + "/csv?" + q.Encode(), nil
}

// handleWorkOSExportCSV serves the CSV at a signed URL: no credential but
// the signature, refused once expired.
func (s *Server) handleWorkOSExportCSV(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tenant, id := q.Get("tenant"), r.PathValue("id")
	expires, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	sig, err2 := hex.DecodeString(q.Get("signature"))
	if err != nil || err2 != nil {
		return auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the URL is not signed")
	}
	mac, err := s.workosExportMAC(r.Context(), tenant, id, expires)
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, sig) {
		return auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the URL's signature is not valid")
	}
	if s.Now().Unix() > expires {
		return auditkeep.Errorf(auditkeep.EUNAUTHORIZED, "the URL expired; get the export again for a new one")
	}
	x, err := s.getWorkOSExport(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if x.State != "ready" {
		return auditkeep.Errorf(auditkeep.ENOTFOUND, "the export is %s", x.State)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+x.ID+`.csv"`)
	if _, err := s.writeWorkOSCSV(r.Context(), x, w); err != nil {
		s.log.Warn("export aborted", "tenant", tenant, "export", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Hold is a legal hold: while it is active, no event of the tenant within
// its scope is removed, whatever the retention says.
type Hold struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Scope     string    `json:"scope,omitempty"` // a scope path ("project:prj_1"); "" holds the whole tenant
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"` // the key id (or "root") that created it
	CreatedAt time.Time `json:"created_at"`
}

// Covers reports whether the hold covers an event whose scope path is path
// (auditkeep.ScopePath): a whole-tenant hold covers every event; a scope
// hold covers its path and everything below it.
func (h *Hold) Covers(path string) bool {
	return h.Scope == "" || path == h.Scope || strings.HasPrefix(path, h.Scope+"/")
}

// HoldStore keeps legal holds. The stores implement it next to their
// events, so that DeleteEvents can honour holds in its own transaction.
type HoldStore interface {
	// CreateHold stores an active hold. Returns ENOTFOUND for an unknown
	// tenant, ECONFLICT when the id is taken.
	CreateHold(ctx context.Context, h *Hold) error
	// DeleteHold ends the tenant's active hold id. Returns ENOTFOUND when
	// the tenant has no such active hold.
	DeleteHold(ctx context.Context, tenant, id string) error
	// ListHolds returns the tenant's active holds, oldest first.
	ListHolds(ctx context.Context, tenant string) ([]*Hold, error)
}

// NewHoldID returns a new hold id: "hold_" and 18 hex digits.
func NewHoldID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return "hold_" + hex.EncodeToString(b)
}

// ValidateScope checks a hold's scope: "" or a scope path such as
// "project:prj_1/environment:env_7". Returns EINVALID naming "scope".
func ValidateScope(scope string) error {
	if scope == "" {
		return nil
	}
	return auditkeep.ValidateTermValue(auditkeep.FieldScope, "scope", scope)
}

// Actor is who asked for a change that the tenant's log records.
type Actor = auditkeep.Actor

// SystemActor is the actor of what the retention job does on its own.
var SystemActor = auditkeep.Actor{Type: auditkeep.ActorSystem, ID: "auditkeep-retention", Name: "retention"}

// CreateHold validates and stores a new hold on tenant and records
// hold.create in the tenant's log. Returns EINVALID naming "scope" or
// "reason", ENOTFOUND for an unknown tenant.
func (s *Service) CreateHold(ctx context.Context, tenant, scope, reason string, by Actor) (*Hold, error) {
	if err := ValidateScope(scope); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, auditkeep.FieldErrorf("reason", "reason is required: say why the events must be kept (a case, a ticket)")
	}
	if len(reason) > 1024 {
		return nil, auditkeep.FieldErrorf("reason", "reason is longer than 1024 bytes")
	}
	h := &Hold{ID: NewHoldID(), Tenant: tenant, Scope: scope, Reason: reason, CreatedBy: by.ID, CreatedAt: s.now().UTC()}
	if err := s.store.CreateHold(ctx, h); err != nil {
		return nil, err
	}
	s.invalidate(tenant)
	s.log.Info("legal hold created", "tenant", tenant, "hold", h.ID, "scope", scope)
	s.record(ctx, tenant, by, "hold.create", "create", &auditkeep.Target{Type: "legal_hold", ID: h.ID},
		map[string]any{"scope": scope, "reason": reason}, "Created legal hold "+h.ID+holdScopeText(scope))
	return h, nil
}

// DeleteHold ends a hold and records hold.delete in the tenant's log.
// Returns ENOTFOUND when the tenant has no such active hold.
func (s *Service) DeleteHold(ctx context.Context, tenant, id string, by Actor) error {
	if err := s.store.DeleteHold(ctx, tenant, id); err != nil {
		return err
	}
	s.invalidate(tenant)
	s.log.Info("legal hold released", "tenant", tenant, "hold", id)
	s.record(ctx, tenant, by, "hold.delete", "delete", &auditkeep.Target{Type: "legal_hold", ID: id}, nil, "Released legal hold "+id)
	return nil
}

// ListHolds returns the tenant's active holds.
func (s *Service) ListHolds(ctx context.Context, tenant string) ([]*Hold, error) {
	hs, err := s.store.ListHolds(ctx, tenant)
	if hs == nil && err == nil {
		hs = []*Hold{}
	}
	return hs, err
}

func holdScopeText(scope string) string {
	if scope == "" {
		return " on the whole tenant"
	}
	return " on " + scope
}

// Request is the request that asked for a change (a hold, a retention
// change, a restore): its event is recorded with the request's address and
// user agent, source SourceRequest, instead of source "system".
type Request struct {
	IP        string
	UserAgent string
}

// SourceRequest is the source of the events of changes a request asked for.
const SourceRequest = "auditkeep"

type requestKey struct{}

// WithRequest returns ctx carrying the request that asks for a change.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// record ingests an event of the retention feature into the tenant's own
// log. A failure is logged, not returned: the change it records is made.
func (s *Service) record(ctx context.Context, tenant string, by Actor, action, typ string, target *auditkeep.Target, metadata map[string]any, desc string) {
	if err := s.recordEvent(ctx, tenant, by, action, typ, target, metadata, desc); err != nil {
		s.log.Warn("retention: could not record an event in the tenant's log", "tenant", tenant, "action", action, "err", err)
	}
}

// recordEvent ingests an event of the retention feature into the tenant's
// own log and returns once it is committed, or the error that stopped it
// (the recorder's). Without a recorder, nothing is recorded.
func (s *Service) recordEvent(ctx context.Context, tenant string, by Actor, action, typ string, target *auditkeep.Target, metadata map[string]any, desc string) error {
	if s.recorder == nil {
		return nil
	}
	ev := map[string]any{
		"occurred_at": s.now().UTC(),
		"action":      action,
		"type":        typ,
		"actor":       by,
		"source":      "system",
		"description": desc,
	}
	if o, ok := ctx.Value(requestKey{}).(Request); ok {
		ev["source"] = SourceRequest
		ev["context"] = auditkeep.Context{IP: o.IP, UserAgent: o.UserAgent}
	}
	if target != nil {
		ev["target"] = target
	}
	if metadata != nil {
		ev["metadata"] = metadata
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	return s.recorder(ctx, tenant, body)
}

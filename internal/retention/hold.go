package retention

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/auditkeep/auditkeep"
)

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
func (s *Service) CreateHold(ctx context.Context, tenant, scope, reason string, by Actor) (*auditkeep.Hold, error) {
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
	h := &auditkeep.Hold{ID: NewHoldID(), Tenant: tenant, Scope: scope, Reason: reason, CreatedBy: by.ID, CreatedAt: s.now().UTC()}
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
func (s *Service) ListHolds(ctx context.Context, tenant string) ([]*auditkeep.Hold, error) {
	hs, err := s.store.ListHolds(ctx, tenant)
	if hs == nil && err == nil {
		hs = []*auditkeep.Hold{}
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

package httpapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ingest"
)

// SourceAuditkeep is the source of the events auditkeep records of its own
// operations (exports, keys, settings, sign-ins, streams): `source:auditkeep`
// finds them. A sender's event may not claim it.
const SourceAuditkeep = ingest.SourceServer

// Audit is one of auditkeep's own operations, as the tenant's log records it.
type Audit struct {
	Action      string // such as "key.create", "export.run", "stream.update"
	Type        string // the event type: create, read, update, delete, execute, login
	Target      *auditkeep.Target
	Failed      bool // status failure (a refused sign-in); success otherwise
	Description string
	Metadata    map[string]any
	// Actor is who did it; nil means the request's principal (its key,
	// or the root key).
	Actor *auditkeep.Actor
}

// record commits a as an event of the tenant's own log and returns once it
// is durable: source auditkeep, the actor of the request unless a names
// one, the request's address and user agent as context. An operation that
// must not happen unrecorded (an export) calls it first and stops on its
// error; one already made logs the error (recordLogged).
func (s *Server) record(r *http.Request, tenant string, a Audit) error {
	actor := actorOf(principalFrom(r.Context()))
	if a.Actor != nil {
		actor = *a.Actor
	}
	return s.recordFrom(r.Context(), requestOrigin{IP: clientIP(r), UserAgent: r.UserAgent()}, actor, tenant, a)
}

// requestOrigin is where a request came from, as a recorded event's
// context holds it.
type requestOrigin struct {
	IP        string
	UserAgent string
}

type originKey struct{}

// withOrigin keeps r's origin in its context, for what is recorded later
// from the context alone (reads, the console's sign-ins).
func withOrigin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o := requestOrigin{IP: clientIP(r), UserAgent: r.UserAgent()}
		next(w, r.WithContext(context.WithValue(r.Context(), originKey{}, o)))
	}
}

// originFrom returns the origin withOrigin kept in ctx.
func originFrom(ctx context.Context) requestOrigin {
	o, _ := ctx.Value(originKey{}).(requestOrigin)
	return o
}

// recordFrom commits a as record does, with the actor and origin given.
func (s *Server) recordFrom(ctx context.Context, o requestOrigin, actor auditkeep.Actor, tenant string, a Audit) error {
	status := auditkeep.StatusSuccess
	if a.Failed {
		status = auditkeep.StatusFailure
	}
	ev := map[string]any{
		"occurred_at": s.Now().UTC(),
		"action":      a.Action,
		"type":        a.Type,
		"actor":       actor,
		"source":      SourceAuditkeep,
		"status":      status,
		"context":     auditkeep.Context{IP: o.IP, UserAgent: o.UserAgent},
	}
	if a.Target != nil {
		ev["target"] = a.Target
	}
	if a.Description != "" {
		ev["description"] = a.Description
	}
	if a.Metadata != nil {
		ev["metadata"] = a.Metadata
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = s.ingest.Ingest(auditkeep.AsServer(context.WithoutCancel(ctx)), tenant, body)
	return err
}

// recordLogged records a change already made; a failure to record is
// logged, not returned.
func (s *Server) recordLogged(r *http.Request, tenant string, a Audit) {
	if err := s.record(r, tenant, a); err != nil {
		s.log.Warn("could not record an operation in the tenant's log", "tenant", tenant, "action", a.Action, "err", err)
	}
}

// clientIP is the address of the request's client: its peer, or the
// address a trusted proxy forwarded it for (withClientAddr).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

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
		"context":     auditkeep.Context{IP: clientIP(r), UserAgent: r.UserAgent()},
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
	_, err = s.ingest.Ingest(ingest.AsServer(context.WithoutCancel(r.Context())), tenant, body)
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

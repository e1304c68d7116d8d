package auditkeep

import (
	"context"
	"encoding/json"
	"time"
)

// Event types. An event's Type is one of these.
const (
	TypeCreate  = "create"
	TypeRead    = "read"
	TypeUpdate  = "update"
	TypeDelete  = "delete"
	TypeExecute = "execute"
	TypeLogin   = "login"
	TypeLogout  = "logout"
	TypeInfo    = "info"
)

// Types lists every valid event type.
var Types = []string{TypeCreate, TypeRead, TypeUpdate, TypeDelete, TypeExecute, TypeLogin, TypeLogout, TypeInfo}

// Actor types.
const (
	ActorUser     = "user"
	ActorAPIToken = "api_token"
	ActorService  = "service"
	ActorSystem   = "system"
)

// ActorTypes lists every valid actor type.
var ActorTypes = []string{ActorUser, ActorAPIToken, ActorService, ActorSystem}

// Statuses.
const (
	StatusSuccess = "success"
	StatusFailure = "failure"
)

// Event is one audited action. Tenant, ReceivedAt, Seq and Hash are assigned
// by the server; everything else comes from the sender. Event content is
// attacker-controlled text.
type Event struct {
	Tenant     string    `json:"tenant"`
	Seq        int64     `json:"seq"`
	ReceivedAt time.Time `json:"received_at"`
	Hash       string    `json:"hash,omitempty"` // hex leaf hash in the tenant's Merkle tree, once integrated

	ID          string          `json:"id"`
	OccurredAt  time.Time       `json:"occurred_at"`
	Action      string          `json:"action"`
	Type        string          `json:"type"`
	Actor       Actor           `json:"actor"`
	Target      *Target         `json:"target,omitempty"`
	Scope       []ScopeEntry    `json:"scope,omitempty"`
	Team        string          `json:"team,omitempty"`
	Source      string          `json:"source,omitempty"`
	Context     Context         `json:"context,omitzero"`
	Status      string          `json:"status"`
	Description string          `json:"description,omitempty"`
	Changes     []Change        `json:"changes,omitempty"`
	Before      json.RawMessage `json:"before,omitempty"`
	Snapshot    json.RawMessage `json:"snapshot,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
}

// Actor is who performed the action. For API-token actors Name is the token's name.
type Actor struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// Target is the object acted upon. Deleted is set on read, never stored: it is
// true when the tenant's log holds a successful delete event (type delete,
// status success) for the same type and id.
type Target struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// ScopeEntry is one level of the target's place in a hierarchy
// (project → environment → service).
type ScopeEntry struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Context is where the action came from.
type Context struct {
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Change operations.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// Change is one field-level change. Field is a path such as "settings.cpu",
// "env.LOG_LEVEL" or "ports[1]". Old is absent for added fields and New for
// removed ones.
type Change struct {
	Field string          `json:"field"`
	Op    string          `json:"op,omitempty"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"`
}

// ScopePath renders a scope as the filter syntax "project:prj_1/environment:env_7".
func ScopePath(scope []ScopeEntry) string {
	var b []byte
	for i, s := range scope {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, s.Type...)
		b = append(b, ':')
		b = append(b, s.ID...)
	}
	return string(b)
}

type serverOrigin struct{}

// AsServer marks ctx as the server's own recording (retention, holds,
// exports), which may use the actions reserved to the server.
func AsServer(ctx context.Context) context.Context {
	return context.WithValue(ctx, serverOrigin{}, true)
}

// FromServer reports whether ctx is the server's own recording (AsServer):
// such events are not the tenant's to redact or to hold to its schemas.
func FromServer(ctx context.Context) bool {
	v, _ := ctx.Value(serverOrigin{}).(bool)
	return v
}

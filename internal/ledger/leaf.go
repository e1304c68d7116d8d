package ledger

import (
	"encoding/json"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every hash of the tree (SHA-256).
const HashSize = 32

// leafEvent is the stored form of an event that its leaf covers. Its JSON
// names and omission rules are those of auditkeep.Event, frozen here so that
// the leaf encoding does not change when the event's wire form does.
type leafEvent struct {
	Tenant     string `json:"tenant"`
	Seq        int64  `json:"seq"`
	ReceivedAt string `json:"received_at"`

	ID          string                 `json:"id"`
	OccurredAt  string                 `json:"occurred_at"`
	Action      string                 `json:"action"`
	Type        string                 `json:"type"`
	Actor       leafActor              `json:"actor"`
	Target      *leafTarget            `json:"target,omitempty"`
	Scope       []auditkeep.ScopeEntry `json:"scope,omitempty"`
	Team        string                 `json:"team,omitempty"`
	Source      string                 `json:"source,omitempty"`
	Context     auditkeep.Context      `json:"context,omitzero"`
	Status      string                 `json:"status"`
	Description string                 `json:"description,omitempty"`
	Changes     []auditkeep.Change     `json:"changes,omitempty"`
	Before      json.RawMessage        `json:"before,omitempty"`
	Snapshot    json.RawMessage        `json:"snapshot,omitempty"`
	Metadata    json.RawMessage        `json:"metadata,omitempty"`
}

type leafActor struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// leafTarget is auditkeep.Target without the read-time Deleted flag.
type leafTarget struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// leafTime formats t as the leaf encoding does: RFC 3339 in UTC with as many
// fractional digits as needed (none for whole seconds), like
// time.RFC3339Nano.
func leafTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// LeafData returns the canonical encoding of the stored event e that its leaf
// in the tenant's Merkle tree commits to. See the package documentation for
// the exact form. It returns EINVALID when a raw JSON field (before,
// snapshot, metadata, changes[].old/new) is not valid JSON or holds a number
// outside the range of a double or an object with duplicate member names.
func LeafData(e *auditkeep.Event) ([]byte, error) {
	le := leafEvent{
		Tenant:      e.Tenant,
		Seq:         e.Seq,
		ReceivedAt:  leafTime(e.ReceivedAt),
		ID:          e.ID,
		OccurredAt:  leafTime(e.OccurredAt),
		Action:      e.Action,
		Type:        e.Type,
		Actor:       leafActor(e.Actor),
		Scope:       e.Scope,
		Team:        e.Team,
		Source:      e.Source,
		Context:     e.Context,
		Status:      e.Status,
		Description: e.Description,
		Changes:     e.Changes,
		Before:      e.Before,
		Snapshot:    e.Snapshot,
		Metadata:    e.Metadata,
	}
	if e.Target != nil {
		le.Target = &leafTarget{Type: e.Target.Type, ID: e.Target.ID, Name: e.Target.Name}
	}
	b, err := json.Marshal(&le)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: "event " + e.ID + " cannot be encoded", Err: err}
	}
	c, err := CanonicalJSON(b)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: "event " + e.ID + " cannot be encoded", Err: err}
	}
	return c, nil
}

// LeafHash returns the RFC 6962 leaf hash of e: SHA-256(0x00 || LeafData(e)).
// Its errors are those of LeafData.
func LeafHash(e *auditkeep.Event) ([]byte, error) {
	d, err := LeafData(e)
	if err != nil {
		return nil, err
	}
	return rfc6962.DefaultHasher.HashLeaf(d), nil
}

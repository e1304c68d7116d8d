package ledger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every hash of the tree (SHA-256).
const HashSize = 32

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
	return appendLeafData(make([]byte, 0, 1024), e)
}

// appendLeafData appends LeafData(e) to b.
func appendLeafData(b []byte, e *auditkeep.Event) ([]byte, error) {
	b, err := appendLeaf(b, e)
	if err != nil {
		return nil, &auditkeep.Error{Code: auditkeep.EINVALID, Message: fmt.Sprintf("event %q (seq %d) cannot be encoded", e.ID, e.Seq), Err: err}
	}
	return b, nil
}

// leafHasher computes leaf hashes as LeafHash does, reusing one buffer for
// the encodings. Not safe for concurrent use.
type leafHasher struct{ buf []byte }

func (h *leafHasher) hash(e *auditkeep.Event) ([]byte, error) {
	b, err := appendLeafData(h.buf[:0], e)
	if err != nil {
		return nil, err
	}
	h.buf = b
	return rfc6962.DefaultHasher.HashLeaf(b), nil
}

// appendLeaf writes the JCS form of e directly: the members of each object
// in sorted order, empty optional members left out as auditkeep.Event's JSON
// leaves them out. TestLeafDataIsJCSOfExport holds it equal to
// CanonicalJSON of the event's JSON.
func appendLeaf(b []byte, e *auditkeep.Event) ([]byte, error) {
	var err error
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	b = append(b, `,"actor":{`...)
	if e.Actor.Email != "" {
		b = append(b, `"email":`...)
		b = appendString(b, e.Actor.Email)
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	b = appendString(b, e.Actor.ID)
	if e.Actor.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, e.Actor.Name)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, e.Actor.Type)
	b = append(b, '}')
	if b, err = appendRaw(b, "before", e.Before); err != nil {
		return nil, err
	}
	if len(e.Changes) > 0 {
		b = append(b, `,"changes":[`...)
		for i, c := range e.Changes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"field":`...)
			b = appendString(b, c.Field)
			if b, err = appendRaw(b, "new", c.New); err != nil {
				return nil, fmt.Errorf("changes[%d]: %w", i, err)
			}
			if b, err = appendRaw(b, "old", c.Old); err != nil {
				return nil, fmt.Errorf("changes[%d]: %w", i, err)
			}
			if c.Op != "" {
				b = append(b, `,"op":`...)
				b = appendString(b, c.Op)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if e.Context != (auditkeep.Context{}) {
		b = append(b, `,"context":{`...)
		if e.Context.IP != "" {
			b = append(b, `"ip":`...)
			b = appendString(b, e.Context.IP)
		}
		if e.Context.UserAgent != "" {
			if e.Context.IP != "" {
				b = append(b, ',')
			}
			b = append(b, `"user_agent":`...)
			b = appendString(b, e.Context.UserAgent)
		}
		b = append(b, '}')
	}
	b = appendOptional(b, "description", e.Description)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	if b, err = appendRaw(b, "metadata", e.Metadata); err != nil {
		return nil, err
	}
	b = append(b, `,"occurred_at":`...)
	b = appendString(b, leafTime(e.OccurredAt))
	b = append(b, `,"received_at":`...)
	b = appendString(b, leafTime(e.ReceivedAt))
	if len(e.Scope) > 0 {
		b = append(b, `,"scope":[`...)
		for i, s := range e.Scope {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTypedRef(b, s.Type, s.ID, s.Name)
		}
		b = append(b, ']')
	}
	b = append(b, `,"seq":`...)
	if b, err = appendNumber(b, float64(e.Seq)); err != nil {
		return nil, err
	}
	if b, err = appendRaw(b, "snapshot", e.Snapshot); err != nil {
		return nil, err
	}
	b = appendOptional(b, "source", e.Source)
	b = append(b, `,"status":`...)
	b = appendString(b, e.Status)
	if e.Target != nil {
		b = append(b, `,"target":`...)
		b = appendTypedRef(b, e.Target.Type, e.Target.ID, e.Target.Name)
	}
	b = appendOptional(b, "team", e.Team)
	b = append(b, `,"tenant":`...)
	b = appendString(b, e.Tenant)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	return append(b, '}'), nil
}

// appendOptional appends the member ,"name":"v" unless v is empty.
func appendOptional(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendRaw appends the member ,"name":<canonical raw> unless raw is empty.
func appendRaw(b []byte, name string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return b, nil
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	b, err := appendCanonical(b, raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// appendTypedRef appends {"id":…,"name":…,"type":…}, name left out when empty.
func appendTypedRef(b []byte, typ, id, name string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	if name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, name)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	return append(b, '}')
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

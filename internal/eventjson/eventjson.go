// Package eventjson splices an event's stored JSON into the JSON of the
// event as read: a store keeps an event's encoding with Tenant, Seq and
// Target.Deleted cleared, and fills them in for a read. Splicing writes the
// bytes encoding/json writes for the decoded event, without decoding it,
// when the stored JSON is in encoding/json's form (see Parse).
package eventjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// Shape locates the members of an event's JSON that a read fills or marks.
// Offsets are into the JSON; value spans include a string's quotes.
type Shape struct {
	Tenant, TenantEnd         int  // the tenant value
	Seq, SeqEnd               int  // the seq value
	Head                      int  // just past the received_at value
	TargetType, TargetTypeEnd int  // the target's type value
	TargetID, TargetIDEnd     int  // the target's id value
	TargetEnd                 int  // the target's closing brace; 0 when there is no target
	Deleted                   bool // the target has a deleted member
}

// eventMembers are the first members of an event's JSON, in the order
// encoding/json writes auditkeep.Event's fields when Hash is empty
// (the rest are read up to the target).
var eventMembers = []string{"tenant", "seq", "received_at", "id", "occurred_at", "action", "type", "actor"}

// Parse reads the shape of js, an event's JSON as encoding/json writes it:
// no space, members in field order. ok is false when js has another form (a
// stored hash, another member order, anything unexpected): such JSON is not
// spliced.
func Parse(js []byte) (sh Shape, ok bool) {
	if len(js) < 2 || js[0] != '{' {
		return sh, false
	}
	i := 1
	for m := 0; ; m++ {
		key, v, end, ok := ijson.MemberAt(js, i)
		if !ok {
			return sh, false
		}
		if m < len(eventMembers) {
			if string(key) != eventMembers[m] {
				return sh, false
			}
			switch m {
			case 0:
				sh.Tenant, sh.TenantEnd = v, end
			case 1:
				sh.Seq, sh.SeqEnd = v, end
			case 2:
				if js[v] != '"' {
					return sh, false
				}
				sh.Head = end
			}
		} else {
			if string(key) == "target" {
				if !parseTarget(js, v, end, &sh) {
					return sh, false
				}
			}
			return sh, true
		}
		if end >= len(js) || js[end] != ',' {
			// An event has more members than these.
			return sh, false
		}
		i = end + 1
	}
}

// ParseStored reads the shape of a stored event's JSON and reports whether
// it is spliced: it is in encoding/json's form (Parse), its tenant is "",
// its seq 0, its target not marked deleted, and it holds no \ufffd escape.
// A string that held invalid UTF-8 was stored with \ufffd escapes, which
// decode to U+FFFD, which encodes unescaped: such JSON is decoded and
// encoded instead.
func ParseStored(js []byte) (sh Shape, ok bool) {
	sh, ok = Parse(js)
	ok = ok && string(js[sh.Tenant:sh.TenantEnd]) == `""` && string(js[sh.Seq:sh.SeqEnd]) == "0" && !sh.Deleted &&
		!bytes.Contains(js, replacementEscape)
	return sh, ok
}

// replacementEscape is how encoding/json writes invalid UTF-8.
var replacementEscape = []byte(`\ufffd`)

// Target returns the type and id of the target of js, an event's JSON of
// shape sh; ok is false when it has none. The bytes may be js's: they are
// not to be changed.
func (sh *Shape) Target(js []byte) (typ, id []byte, ok bool, err error) {
	if sh.TargetEnd == 0 {
		return nil, nil, false, nil
	}
	if typ, err = ijson.Text(js[sh.TargetType:sh.TargetTypeEnd]); err != nil {
		return nil, nil, false, err
	}
	if id, err = ijson.Text(js[sh.TargetID:sh.TargetIDEnd]); err != nil {
		return nil, nil, false, err
	}
	return typ, id, true, nil
}

// AppendSpliced appends to dst the JSON of the event stored as js, of shape
// sh (from ParseStored): its tenant (tenantJSON, a JSON string) and seq
// filled in, and "deleted":true added to its target when deleted. hashAt
// is where a "hash" member belongs in the JSON appended (an offset from
// its start): just past the received_at value, where encoding/json writes
// a non-empty Hash.
func AppendSpliced(dst, js []byte, sh *Shape, tenantJSON []byte, seq int64, deleted bool) (out []byte, hashAt int) {
	start := len(dst)
	out = append(dst, js[:sh.Tenant]...)
	out = append(out, tenantJSON...)
	out = append(out, js[sh.TenantEnd:sh.Seq]...)
	out = strconv.AppendInt(out, seq, 10)
	hashAt = sh.Head + len(out) - start - sh.SeqEnd
	if deleted && sh.TargetEnd != 0 {
		out = append(out, js[sh.SeqEnd:sh.TargetEnd]...)
		out = append(out, `,"deleted":true`...)
		out = append(out, js[sh.TargetEnd:]...)
	} else {
		out = append(out, js[sh.SeqEnd:]...)
	}
	return out, hashAt
}

// Encode returns the JSON encoding/json writes for e with Hash empty and
// its target's Deleted set to deleted (e is not changed), and where a
// "hash" member belongs in it (see AppendSpliced).
func Encode(e *auditkeep.Event, deleted bool) (js []byte, hashAt int, err error) {
	c := *e
	c.Hash = ""
	if c.Target != nil {
		t := *c.Target
		t.Deleted = deleted
		c.Target = &t
	}
	if js, err = json.Marshal(&c); err != nil {
		return nil, 0, err
	}
	sh, ok := Parse(js)
	if !ok {
		return nil, 0, fmt.Errorf("event %d: unexpected encoding", e.Seq)
	}
	return js, sh.Head, nil
}

// AppendTargetKey appends to dst a key of a target's type and id: distinct
// pairs get distinct keys.
func AppendTargetKey(dst, typ, id []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(typ)))
	dst = append(dst, typ...)
	return append(dst, id...)
}

// parseTarget reads the target object js[v:end] into sh.
func parseTarget(js []byte, v, end int, sh *Shape) bool {
	if js[v] != '{' || js[end-1] != '}' {
		return false
	}
	i := v + 1
	for i < end-1 {
		key, mv, mend, ok := ijson.MemberAt(js, i)
		if !ok || js[mv] == '{' || js[mv] == '[' {
			return false
		}
		switch string(key) {
		case "type":
			sh.TargetType, sh.TargetTypeEnd = mv, mend
		case "id":
			sh.TargetID, sh.TargetIDEnd = mv, mend
		case "deleted":
			sh.Deleted = true
		}
		switch js[mend] {
		case ',':
			i = mend + 1
		case '}':
			i = mend
		default:
			return false
		}
	}
	if sh.TargetType == 0 || sh.TargetID == 0 || js[sh.TargetType] != '"' || js[sh.TargetID] != '"' {
		return false
	}
	sh.TargetEnd = end - 1
	return true
}

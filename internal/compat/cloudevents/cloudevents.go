// Package cloudevents maps CloudEvents 1.0 onto auditkeep events, as the
// HTTP protocol binding carries them (github.com/cloudevents/spec,
// cloudevents/bindings/http-protocol-binding.md): structured mode (a JSON
// event, Content-Type application/cloudevents+json, formats/json-format.md),
// batched mode (a JSON array of them, application/cloudevents-batch+json)
// and binary mode (the attributes in ce-* headers, the body the data, its
// Content-Type the datacontenttype). Actors come from the data or from the
// authcontext extension (cloudevents/extensions/authcontext.md). The
// mapping is the table in README.md, "CloudEvents".
package cloudevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/compat"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// The media types of the structured and batched modes.
const (
	StructuredType = "application/cloudevents+json"
	BatchType      = "application/cloudevents-batch+json"
)

// Mode returns the mode of a request by its Content-Type: "structured",
// "batch" or "binary".
func Mode(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch strings.ToLower(mt) {
	case StructuredType:
		return "structured"
	case BatchType:
		return "batch"
	}
	return "binary"
}

// Each function returns the event as ingest's JSON: the members of the
// data that are auditkeep's event fields are passed on as sent, for ingest
// to read as strictly as any event.

// Structured returns the event of a structured-mode body. Errors are
// EINVALID naming the CloudEvents attribute ("time", "data.actor").
func Structured(body []byte) (json.RawMessage, error) {
	if err := ijson.Check(body, nil, ""); err != nil {
		return nil, err
	}
	attrs, err := object(body, "body")
	if err != nil {
		return nil, err
	}
	return fromJSON(attrs, "")
}

// Batch returns the events of a batched-mode body, naming fields
// "events[i].…" by their index in the array.
func Batch(body []byte) ([]json.RawMessage, error) {
	if err := ijson.Check(body, nil, "events"); err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, auditkeep.FieldErrorf("body", "a batch is a JSON array of CloudEvents: %v", err)
	}
	events := make([]json.RawMessage, len(raws))
	for i, raw := range raws {
		prefix := fmt.Sprintf("events[%d]", i)
		attrs, err := object(raw, prefix)
		if err != nil {
			return nil, err
		}
		if events[i], err = fromJSON(attrs, prefix+"."); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// Binary returns the event of a binary-mode request: its ce-* headers
// (percent-decoded) and its body. Errors name the header ("ce-time") or
// the data ("data.actor").
func Binary(h http.Header, body []byte) (json.RawMessage, error) {
	attrs := map[string]string{}
	for k, v := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "ce-")
		if !ok || len(v) == 0 {
			continue
		}
		if !validName(name) {
			return nil, auditkeep.FieldErrorf(strings.ToLower(k), "%s is not a CloudEvents attribute header (ce- and lowercase letters and digits)", strings.ToLower(k))
		}
		s, err := url.PathUnescape(v[0])
		if err != nil {
			return nil, auditkeep.FieldErrorf("ce-"+name, "ce-%s is not percent-encoded text: %v", name, err)
		}
		attrs[name] = s
	}
	ev := &ce{attrs: attrs, field: func(a string) string { return "ce-" + a }}
	if ct := h.Get("Content-Type"); ct != "" {
		ev.attrs["datacontenttype"] = ct
	}
	if len(body) > 0 {
		if isJSON(ev.attrs["datacontenttype"]) {
			if !json.Valid(body) {
				return nil, auditkeep.FieldErrorf("body", "the body is not JSON, as its Content-Type says")
			}
			if err := ijson.Check(body, nil, "data"); err != nil {
				return nil, err
			}
			ev.data = bytes.TrimSpace(body)
		} else if mt, _, _ := mime.ParseMediaType(ev.attrs["datacontenttype"]); strings.HasPrefix(mt, "text/") {
			ev.data, _ = json.Marshal(string(body))
		} else {
			ev.dataBase64 = body
		}
	}
	return ev.event()
}

func object(raw []byte, field string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, auditkeep.FieldErrorf(field, "%s is not a CloudEvent (a JSON object)", field)
	}
	return m, nil
}

// fromJSON reads a structured event's members: string attributes, data or
// data_base64. prefix is "events[i]." in a batch.
func fromJSON(m map[string]json.RawMessage, prefix string) (json.RawMessage, error) {
	ev := &ce{attrs: map[string]string{}, field: func(a string) string { return prefix + a }, prefix: prefix}
	for k, v := range m {
		switch k {
		case "data":
			if string(v) != "null" {
				ev.data = v
			}
		case "data_base64":
			var b []byte
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, auditkeep.FieldErrorf(prefix+k, "%s%s is not base64: %v", prefix, k, err)
			}
			ev.dataBase64 = b
		default:
			if !validName(k) {
				f := prefix + k
				if k == "" {
					f = strings.TrimSuffix(prefix, ".")
					if f == "" {
						f = "body"
					}
				}
				return nil, auditkeep.FieldErrorf(f, "%q is not a CloudEvents attribute name (lowercase letters and digits)", k)
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				// Extension attributes may be numbers or booleans: their JSON text.
				var x any
				if json.Unmarshal(v, &x) != nil {
					return nil, auditkeep.FieldErrorf(prefix+k, "%s%s is not a CloudEvents attribute value", prefix, k)
				}
				if _, isObj := x.(map[string]any); isObj || x == nil {
					return nil, auditkeep.FieldErrorf(prefix+k, "%s%s is not a CloudEvents attribute value (a string, number or boolean)", prefix, k)
				}
				s = string(v)
			}
			ev.attrs[k] = s
		}
	}
	if ev.data != nil && ev.dataBase64 != nil {
		return nil, auditkeep.FieldErrorf(prefix+"data", "%sdata and %sdata_base64 are both given; send one", prefix, prefix)
	}
	return ev.event()
}

// ce is one CloudEvent: its attributes as text, its data (JSON) or binary
// data, and how its fields are named in errors.
type ce struct {
	attrs      map[string]string
	data       json.RawMessage
	dataBase64 []byte
	field      func(attr string) string
	prefix     string // of the data's members in errors
}

// dataMembers are the members of an object data that are auditkeep's event
// fields.
var dataMembers = []string{"actor", "target", "scope", "team", "context", "status", "description", "changes", "before", "snapshot", "metadata"}

func (c *ce) event() (json.RawMessage, error) {
	for _, a := range []string{"specversion", "id", "source", "type"} {
		if c.attrs[a] == "" {
			return nil, auditkeep.FieldErrorf(c.field(a), "%s is required", c.field(a))
		}
	}
	if v := c.attrs["specversion"]; v != "1.0" {
		return nil, auditkeep.FieldErrorf(c.field("specversion"), "%s %q is not 1.0, the version taken", c.field("specversion"), v)
	}
	e := &auditkeep.Event{
		ID:     compat.ID("ce", c.attrs["source"], c.attrs["id"]),
		Action: strings.ToLower(c.attrs["type"]),
		Source: "cloudevents",
	}
	if !auditkeep.ValidAction(e.Action) {
		return nil, auditkeep.FieldErrorf(c.field("type"), "%s %q is not a dotted name such as com.example.invoice.created", c.field("type"), c.attrs["type"])
	}
	last := e.Action[strings.LastIndexAny(e.Action, ".-")+1:]
	e.Type = compat.TypeOfWord(last)
	if t := c.attrs["time"]; t != "" {
		at, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return nil, auditkeep.FieldErrorf(c.field("time"), "%s %q is not an RFC 3339 time", c.field("time"), t)
		}
		e.OccurredAt = at.UTC()
	}

	// data: auditkeep's members are the event's, as sent (ingest reads
	// them strictly); the rest is kept in metadata.
	var rest map[string]json.RawMessage
	taken := map[string]json.RawMessage{}
	if d := bytes.TrimSpace(c.data); len(d) > 0 && d[0] == '{' {
		if err := json.Unmarshal(d, &rest); err != nil {
			return nil, auditkeep.FieldErrorf(c.prefix+"data", "%sdata: %v", c.prefix, err)
		}
		for _, k := range dataMembers {
			if v, ok := rest[k]; ok {
				taken[k] = v
				delete(rest, k)
			}
		}
	}
	if _, ok := taken["actor"]; !ok {
		switch {
		case c.attrs["authtype"] != "" || c.attrs["authid"] != "":
			e.Actor = auditkeep.Actor{Type: actorType(c.attrs["authtype"]), ID: c.attrs["authid"]}
			if e.Actor.ID == "" {
				e.Actor.ID = c.attrs["authtype"]
			}
		default:
			e.Actor = auditkeep.Actor{Type: auditkeep.ActorService, ID: c.attrs["source"]}
		}
	}
	if _, ok := taken["target"]; !ok && c.attrs["subject"] != "" {
		typ := "subject"
		if parts := strings.Split(e.Action, "."); len(parts) >= 2 {
			typ = parts[len(parts)-2]
		}
		e.Target = &auditkeep.Target{Type: typ, ID: c.attrs["subject"]}
	}

	// metadata: data's own metadata object, with the attributes and the
	// rest of data beside it.
	md := map[string]json.RawMessage{}
	if v, ok := taken["metadata"]; ok {
		if err := json.Unmarshal(v, &md); err != nil || md == nil {
			return nil, auditkeep.FieldErrorf(c.prefix+"data.metadata", "%sdata.metadata is not a JSON object", c.prefix)
		}
		delete(taken, "metadata")
	}
	attrs := map[string]string{}
	for k, v := range c.attrs {
		if k != "time" {
			attrs[k] = v
		}
	}
	md["cloudevents"], _ = json.Marshal(attrs)
	switch {
	case rest != nil:
		if len(rest) > 0 {
			md["data"], _ = json.Marshal(rest)
		}
	case c.data != nil:
		md["data"] = c.data
	case c.dataBase64 != nil:
		md["data_base64"], _ = json.Marshal(c.dataBase64)
	}
	var err error
	if e.Metadata, err = json.Marshal(md); err != nil {
		return nil, auditkeep.FieldErrorf(c.prefix+"data", "%sdata: %v", c.prefix, err)
	}
	base, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(taken) == 0 {
		return base, nil
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(base, &out); err != nil {
		return nil, err
	}
	for k, v := range taken {
		out[k] = v
	}
	return json.Marshal(out)
}

// validName reports whether s is a CloudEvents attribute name: lowercase
// ASCII letters and digits (spec.md, "Attribute Naming Convention").
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// actorType maps the authcontext extension's authtype.
func actorType(authtype string) string {
	switch authtype {
	case "service_account":
		return auditkeep.ActorService
	case "api_key":
		return auditkeep.ActorAPIToken
	case "system":
		return auditkeep.ActorSystem
	}
	return auditkeep.ActorUser // app_user, user, unauthenticated, unknown
}

func isJSON(contentType string) bool {
	if contentType == "" {
		return true // the binding: no datacontenttype means JSON
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/json"
}

// Names renames auditkeep's event fields to CloudEvents' in an ingest error
// of a structured or batched event (compat.Rename); BinaryNames in a
// binary one.
var Names = map[string]string{"occurred_at": "time", "action": "type", "id": "id"}

// BinaryNames is Names for binary mode, whose attributes are headers.
var BinaryNames = map[string]string{"occurred_at": "ce-time", "action": "ce-type", "id": "ce-id"}

func init() {
	for _, k := range dataMembers {
		Names[k] = "data." + k
		BinaryNames[k] = "data." + k
	}
}

package format

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
)

// cef writes an event as one ArcSight Common Event Format line, for syslog:
//
//	CEF:0|auditkeep|auditkeep|1|<action>|<description or action>|<severity>|<extension>
//
// Severity is 3 for a success and 6 for a failure. The extension carries
// rt (received), start (occurred), externalId, act, cat (the type),
// outcome, msg, suid/suser (the actor), src, requestClientApplication, and
// labelled custom fields: cs1 tenant, cs2 stream_id, cs3–cs5 the target's
// type, id and name, cs6 the scope, cn1 seq, cn2 stream_seq, cn3
// prev_stream_seq, flexString1 the actor's email, flexString2 "test" on a
// test delivery. Header fields escape \ and |; extension values escape \,
// = and line breaks; no line break is left in the line.
type cef struct{}

func init() { formats["cef"] = cef{} }

func (cef) Name() string { return "cef" }

// CEFVersion is the Device Version of the cef format's header.
const CEFVersion = "1"

// cefNameMax bounds the header's Name, as the CEF specification does.
const cefNameMax = 512

func (cef) Encode(r Record) ([]byte, error) {
	e := r.Event
	if e == nil {
		return nil, fmt.Errorf("format: cef: record without an event")
	}
	name := e.Description
	if name == "" {
		name = e.Action
	}
	if utf8.RuneCountInString(name) > cefNameMax {
		name = string([]rune(name)[:cefNameMax-1]) + "…"
	}
	severity := "3"
	if e.Status == auditkeep.StatusFailure {
		severity = "6"
	}
	b := make([]byte, 0, 512)
	b = append(b, "CEF:0|"+Product+"|"+Product+"|"+CEFVersion+"|"...)
	b = cefHeader(b, e.Action)
	b = append(b, '|')
	b = cefHeader(b, name)
	b = append(b, '|')
	b = append(b, severity...)
	b = append(b, '|')

	f := FieldsOf(r)
	ext := []cefField{
		{"rt", strconv.FormatInt(millis(e.ReceivedAt), 10)},
		{"start", strconv.FormatInt(millis(e.OccurredAt), 10)},
		{"externalId", e.ID},
		{"act", e.Action},
		{"cat", e.Type},
		{"outcome", e.Status},
		{"msg", e.Description},
		{"suid", e.Actor.ID},
		{"suser", e.Actor.Name},
		{"requestClientApplication", e.Context.UserAgent},
		{"cs1Label", "tenant"}, {"cs1", f.Tenant},
		{"cs2Label", "stream_id"}, {"cs2", f.StreamID},
		{"cn1Label", "seq"}, {"cn1", strconv.FormatInt(f.Seq, 10)},
		{"cn2Label", "stream_seq"}, {"cn2", strconv.FormatInt(f.StreamSeq, 10)},
		{"cn3Label", "prev_stream_seq"}, {"cn3", strconv.FormatInt(f.PrevStreamSeq, 10)},
	}
	if ip, err := netip.ParseAddr(e.Context.IP); err == nil {
		ext = append(ext, cefField{"src", ip.String()})
	}
	if e.Target != nil {
		ext = append(ext, []cefField{
			{"cs3Label", "target_type"}, {"cs3", e.Target.Type},
			{"cs4Label", "target_id"}, {"cs4", e.Target.ID},
			{"cs5Label", "target_name"}, {"cs5", e.Target.Name},
		}...)
	}
	if len(e.Scope) > 0 {
		ext = append(ext, []cefField{{"cs6Label", "scope"}, {"cs6", auditkeep.ScopePath(e.Scope)}}...)
	}
	if e.Actor.Email != "" {
		ext = append(ext, []cefField{{"flexString1Label", "actor_email"}, {"flexString1", e.Actor.Email}}...)
	}
	if r.Test {
		ext = append(ext, []cefField{{"flexString2Label", "delivery"}, {"flexString2", "test"}}...)
	}
	first := true
	for _, kv := range ext {
		if kv.value == "" {
			continue
		}
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = append(b, kv.key...)
		b = append(b, '=')
		b = cefValue(b, kv.value)
	}
	return b, nil
}

// cefField is one key=value of the extension.
type cefField struct{ key, value string }

// cefHeader appends a header field: \ and | escaped, line breaks and other
// control characters as spaces.
func cefHeader(b []byte, s string) []byte {
	for _, c := range s {
		switch {
		case c == '\\' || c == '|':
			b = append(b, '\\', byte(c))
		case c < 0x20 || c == 0x7f:
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, c)
		}
	}
	return b
}

// cefValue appends an extension value: \ and = escaped, line breaks as \n
// and \r, other control characters as spaces.
func cefValue(b []byte, s string) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for _, c := range s {
		switch {
		case c == '\\' || c == '=':
			b = append(b, '\\', byte(c))
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, c)
		}
	}
	return b
}

// Package format renders events as a stream destination receives them:
// auditkeep's own JSON, OCSF, ECS and CEF.
package format

import (
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Record is one event as a stream delivers it: the event and its place in
// the stream. StreamSeq counts the events this stream has delivered (1, 2,
// 3, … with no gaps, through the stream's filters); PrevStreamSeq is the
// StreamSeq before it (0 for the first), so that a receiver proves it has
// every event the stream matched.
type Record struct {
	Event         *auditkeep.Event
	StreamID      string
	StreamSeq     int64
	PrevStreamSeq int64
	Test          bool // a test delivery (POST /v1/streams/{id}/test), not an event of the log
}

// Format encodes one record. Encode returns the record's bytes without a
// trailing newline: one JSON object for the JSON formats, one CEF line for
// CEF. Every format carries the record's tenant, seq, stream_id, stream_seq
// and prev_stream_seq.
type Format interface {
	Name() string
	Encode(r Record) ([]byte, error)
}

// Names lists the formats, in the order the API documents them.
var Names = []string{"native", "ocsf", "ecs", "cef"}

// ByName returns the format named name, or nil when there is none.
func ByName(name string) Format {
	return formats[name]
}

// formats is filled by each format's file.
var formats = map[string]Format{}

// Fields are the members that place a record in its tenant's log and in its
// stream. The JSON formats other than native carry them as one object (OCSF
// under unmapped.auditkeep, ECS under auditkeep); native carries them at the
// top level beside the event's own members.
type Fields struct {
	Tenant        string `json:"tenant"`
	Seq           int64  `json:"seq"`
	StreamID      string `json:"stream_id"`
	StreamSeq     int64  `json:"stream_seq"`
	PrevStreamSeq int64  `json:"prev_stream_seq"`
	Test          bool   `json:"test,omitempty"`
}

// FieldsOf returns the record's Fields.
func FieldsOf(r Record) Fields {
	return Fields{Tenant: r.Event.Tenant, Seq: r.Event.Seq, StreamID: r.StreamID, StreamSeq: r.StreamSeq, PrevStreamSeq: r.PrevStreamSeq, Test: r.Test}
}

// Product names auditkeep in the formats that name the product (OCSF
// metadata.product, CEF's header).
const Product = "auditkeep"

// millis is t in milliseconds since the Unix epoch.
func millis(t time.Time) int64 { return t.UnixMilli() }

// rfc3339 is t in UTC with as many fractional digits as it has.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// isAccount reports whether a target type names an account, whose changes
// OCSF files under Account Change and ECS under iam.
func isAccount(typ string) bool {
	switch strings.ToLower(typ) {
	case "user", "account", "member", "service_account", "user_account":
		return true
	}
	return false
}

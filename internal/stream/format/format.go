// Package format renders events as a stream destination receives them:
// auditkeep's own JSON, OCSF, ECS and CEF.
package format

import (
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

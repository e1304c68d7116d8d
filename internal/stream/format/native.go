package format

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// native is auditkeep's own JSON: the event as GET /v1/events returns it,
// with stream_id, stream_seq and prev_stream_seq (and "test": true for a
// test delivery) after its own members.
type native struct{}

func init() { formats["native"] = native{} }

func (native) Name() string { return "native" }

func (native) Encode(r Record) ([]byte, error) {
	if r.Event == nil {
		return nil, fmt.Errorf("format: native: record without an event")
	}
	js, err := json.Marshal(r.Event)
	if err != nil {
		return nil, fmt.Errorf("format: native: %w", err)
	}
	f := FieldsOf(r)
	tail, err := json.Marshal(struct {
		StreamID      string `json:"stream_id"`
		StreamSeq     int64  `json:"stream_seq"`
		PrevStreamSeq int64  `json:"prev_stream_seq"`
		Test          bool   `json:"test,omitempty"`
	}{f.StreamID, f.StreamSeq, f.PrevStreamSeq, f.Test})
	if err != nil {
		return nil, fmt.Errorf("format: native: %w", err)
	}
	// Both are objects: join them as one.
	js = bytes.TrimSuffix(js, []byte("}"))
	js = append(js, ',')
	return append(js, tail[1:]...), nil
}

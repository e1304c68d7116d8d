package sqlite

import (
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep"
)

// encodeBody returns the stored form of e with seq: its JSON, with
// Target.Deleted cleared (it is computed on read, never stored).
func encodeBody(e *auditkeep.Event, seq int64) ([]byte, error) {
	c := *e
	c.Seq = seq
	if c.Target != nil && c.Target.Deleted {
		t := *c.Target
		t.Deleted = false
		c.Target = &t
	}
	return json.Marshal(&c)
}

// decodeBody parses a stored body.
func decodeBody(b []byte) (*auditkeep.Event, error) {
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("stored event: unknown encoding")
	}
	var e auditkeep.Event
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("stored event: %w", err)
	}
	return &e, nil
}

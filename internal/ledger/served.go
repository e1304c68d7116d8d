package ledger

import (
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// CheckServed returns an EINVALID naming the field when a JSON document of
// e as read (before, snapshot, metadata, a change's old or new) says other
// than what e's leaf commits to. The leaf holds each document's RFC 8785
// form: a number as the double nearest to it, a string as decoded, so that
// 9007199254740993 and 9007199254740992, -0 and 0, or "\ud800" and
// "\ufffd" give the same leaf. Ingest refuses such text (see ijson), so a
// stored event holds none; text that would be refused was written after
// ingest, and its event is not the one the log signed even when its leaf
// hash matches.
func CheckServed(e *auditkeep.Event) error {
	check := func(field string, raw json.RawMessage) error {
		if len(raw) == 0 {
			return nil
		}
		return ijson.Check(raw, nil, field)
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"before", e.Before}, {"snapshot", e.Snapshot}, {"metadata", e.Metadata}} {
		if err := check(d.name, d.raw); err != nil {
			return err
		}
	}
	for i, c := range e.Changes {
		if err := check(fmt.Sprintf("changes[%d].old", i), c.Old); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("changes[%d].new", i), c.New); err != nil {
			return err
		}
	}
	return nil
}

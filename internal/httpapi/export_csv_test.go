package httpapi

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// TestCSVRowFromJSON: the cells csvJSON reads from an event's JSON are
// those csvRow writes for the event, for events with and without each
// optional member, escapes, times in other zones, and a hash or none.
func TestCSVRowFromJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 120000000, time.FixedZone("", 5*3600+30*60))
	full := &auditkeep.Event{Tenant: "acme", Seq: 42, ReceivedAt: at.UTC(), ID: "evt_<1>", OccurredAt: at, Action: "env.update", Type: "update",
		Actor:  auditkeep.Actor{Type: "user", ID: "usr_1", Name: "=cmd|' /C calc'!A0", Email: "a&b@example.com"},
		Target: &auditkeep.Target{Type: "env\"ironment", ID: "env_\\7", Name: "+prod \u2028 <b>", Deleted: true},
		Scope:  []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "P"}, {Type: "env<x>", ID: "e\u00e9"}},
		Team:   "-team", Source: "@console", Context: auditkeep.Context{IP: "192.0.2.1", UserAgent: "\tcurl"},
		Status: "failure", Description: "line\nbreak, \"quoted\" & \u00e9 \u2029",
		Changes: []auditkeep.Change{{Field: "cpu", Op: "changed", Old: json.RawMessage(`1.0`), New: json.RawMessage(`"<2>"`)}},
		Before:  json.RawMessage(`{"a":[1,{"b":"}"}]}`), Snapshot: json.RawMessage(`{}`), Metadata: json.RawMessage(`{"k":"v"}`)}
	bare := &auditkeep.Event{Tenant: "acme", Seq: 1, ID: "e", Action: "a", Type: "info", Status: "success", Actor: auditkeep.Actor{Type: "system", ID: "system"}}
	notDeleted := *full
	nd := *full.Target
	nd.Deleted = false
	notDeleted.Target = &nd
	noScope := *full
	noScope.Scope = []auditkeep.ScopeEntry{{}}
	var c csvJSON
	for _, e := range []*auditkeep.Event{full, bare, &notDeleted, &noScope} {
		for _, hash := range [][]byte{nil, {0xde, 0xad, 0xbe, 0xef}} {
			js, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(CSVColumns))
			if !c.row(got, js, hash) {
				t.Fatalf("csvJSON.row(%s) = not ok", js)
			}
			w := *e
			if hash != nil {
				w.Hash = "deadbeef"
			}
			want := make([]string, len(CSVColumns))
			csvRow(want, &w)
			if !slices.Equal(got, want) {
				t.Errorf("csvJSON.row(%s, %x) =\n%q\nwant\n%q", js, hash, got, want)
			}
		}
	}
	// JSON in another form is refused, and csvRowJSON decodes it instead.
	spaced := []byte(`{"tenant": "acme", "seq": 3, "id": "e3", "action": "a", "type": "info", "status": "success", "actor": {"type": "system", "id": "system"}}`)
	if c.row(make([]string, len(CSVColumns)), spaced, nil) {
		t.Errorf("csvJSON.row(%s) = ok; want not", spaced)
	}
	row := make([]string, len(CSVColumns))
	if err := csvRowJSON(&c, row, spaced, nil); err != nil || row[0] != "3" || row[1] != "e3" || row[3] != "0001-01-01T00:00:00Z" {
		t.Errorf("csvRowJSON(%s) = %q, %v", spaced, row, err)
	}
}

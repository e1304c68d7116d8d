package postgres

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
)

// TestJSONPageSplices: bodies as Append stores them are spliced, but for
// those that held invalid UTF-8; bodies in other forms are decoded.
func TestJSONPageSplices(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	e := &auditkeep.Event{Tenant: "acme", Seq: 3, ID: "e", ReceivedAt: at, OccurredAt: at, Action: "a", Type: "create",
		Actor: auditkeep.Actor{Type: "user", ID: "u"}, Target: &auditkeep.Target{Type: "t", ID: "i", Deleted: true}, Status: "success"}
	body, err := encodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	invalid := *e
	invalid.Description = "a\xffb"
	invalidBody, _ := encodeEvent(&invalid)
	var m map[string]json.RawMessage
	json.Unmarshal(body, &m)
	sorted, _ := json.Marshal(m)
	for _, tt := range []struct {
		name string
		body []byte
		want bool
	}{
		{"stored", body, true},
		{"invalid UTF-8", invalidBody, false},
		{"hash", bytes.Replace(body, []byte(`","id":"`), []byte(`","hash":"ff","id":"`), 1), false},
		{"sorted", sorted, false},
		{"space", bytes.Replace(body, []byte(`"seq":0`), []byte(`"seq": 0`), 1), false},
	} {
		pg := &jsonPage{Page: eventjson.Page{Tenant: "acme", TenantJSON: []byte(`"acme"`)}}
		if err := pg.add(3, tt.body, true); err != nil || pg.events[0].Spliced() != tt.want {
			t.Errorf("%s body: spliced %v, %v; want %v", tt.name, pg.events[0].Spliced(), err, tt.want)
		}
	}
}

package eventjson_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
)

// TestParseEventShape: JSON not in encoding/json's form of an event is not
// spliced, and nothing makes the parser fail other than by saying so.
func TestParseEventShape(t *testing.T) {
	good := `{"tenant":"","seq":0,"received_at":"2026-11-26T09:00:00Z","id":"e","occurred_at":"2026-11-26T09:00:00Z","action":"a","type":"create","actor":{"type":"user","id":"u"},"target":{"type":"t","id":"i\"}"},"status":"success"}`
	sh, ok := eventjson.Parse([]byte(good))
	if !ok || good[sh.TargetType:sh.TargetTypeEnd] != `"t"` || good[sh.TargetID:sh.TargetIDEnd] != `"i\"}"` || good[sh.TargetEnd] != '}' ||
		good[sh.Head-1:sh.Head+6] != `","id":` {
		t.Errorf("eventjson.Parse(%s) = %+v, %v", good, sh, ok)
	}
	bad := []string{
		``, `{`, `{}`, `[]`, `{"tenant":""}`,
		strings.Replace(good, `"id":"e",`, ``, 1),
		strings.Replace(good, `"id":"e",`, `"hash":"ff","id":"e",`, 1),
		strings.Replace(good, `"actor":{"type":"user","id":"u"}`, `"actor":{"type":"user","id":"u"`, 1),
		strings.Replace(good, `"target":{"type":"t",`, `"target":{`, 1),
		strings.Replace(good, `"target":{"type":"t",`, `"target":{"type":{},`, 1),
		strings.Replace(good, `"received_at":"2026-11-26T09:00:00Z"`, `"received_at":1`, 1),
		good[:len(good)/2],
	}
	for _, b := range bad {
		if _, ok := eventjson.Parse([]byte(b)); ok {
			t.Errorf("eventjson.Parse(%s) = ok; want not", b)
		}
	}
	// Every prefix of the event parses or fails without panicking.
	for i := range len(good) {
		eventjson.Parse([]byte(good[:i]))
	}
}

// TestEventJSONForm pins the JSON of an event, empty and full. Stored
// bodies are spliced as they were written (the stores' ScanEventJSON):
// when this form changes (a field added, renamed, reordered, omitted
// otherwise), bodies written before read differently from the decoded
// event, and the stores must tell them apart and decode them instead.
func TestEventJSONForm(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	full := auditkeep.Event{Tenant: "t", Seq: 1, ReceivedAt: at, Hash: "h", ID: "i", OccurredAt: at, Action: "a", Type: "y",
		Actor:  auditkeep.Actor{Type: "y", ID: "i", Name: "n", Email: "e"},
		Target: &auditkeep.Target{Type: "y", ID: "i", Name: "n", Deleted: true},
		Scope:  []auditkeep.ScopeEntry{{Type: "y", ID: "i", Name: "n"}}, Team: "m", Source: "s",
		Context: auditkeep.Context{IP: "p", UserAgent: "u"}, Status: "s", Description: "d",
		Changes: []auditkeep.Change{{Field: "f", Op: "o", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)}},
		Before:  json.RawMessage(`{}`), Snapshot: json.RawMessage(`[]`), Metadata: json.RawMessage(`null`)}
	for _, tt := range []struct {
		e    auditkeep.Event
		want string
	}{
		{auditkeep.Event{}, `{"tenant":"","seq":0,"received_at":"0001-01-01T00:00:00Z","id":"","occurred_at":"0001-01-01T00:00:00Z","action":"","type":"","actor":{"type":"","id":""},"status":""}`},
		{full, `{"tenant":"t","seq":1,"received_at":"2026-11-26T09:00:00Z","hash":"h","id":"i","occurred_at":"2026-11-26T09:00:00Z","action":"a","type":"y",` +
			`"actor":{"type":"y","id":"i","name":"n","email":"e"},"target":{"type":"y","id":"i","name":"n","deleted":true},"scope":[{"type":"y","id":"i","name":"n"}],` +
			`"team":"m","source":"s","context":{"ip":"p","user_agent":"u"},"status":"s","description":"d","changes":[{"field":"f","op":"o","old":1,"new":2}],` +
			`"before":{},"snapshot":[],"metadata":null}`},
	} {
		if got, _ := json.Marshal(&tt.e); string(got) != tt.want {
			t.Errorf("the JSON of an event changed:\n%s\nwas\n%s", got, tt.want)
		}
	}
}

// TestAppendSpliced: an event's stored JSON (tenant, seq and deleted
// cleared) spliced with them, and the event encoded by Encode, are the
// bytes encoding/json writes for the event, a hash at hashAt included; JSON
// that is not in the stored form is not spliced.
func TestAppendSpliced(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	events := []auditkeep.Event{
		{ID: "none", ReceivedAt: at, OccurredAt: at, Action: "a", Type: "create", Actor: auditkeep.Actor{Type: "user", ID: "u"}, Status: "success"},
		{ID: "plain", ReceivedAt: at, OccurredAt: at, Action: "a", Type: "create", Actor: auditkeep.Actor{Type: "user", ID: "u"},
			Target: &auditkeep.Target{Type: "service", ID: "svc_1", Name: "n"}, Status: "success", Metadata: json.RawMessage(`{"a":[1,{"b":"}"}]}`)},
		{ID: "odd", ReceivedAt: at, OccurredAt: at, Action: "a", Type: "create", Actor: auditkeep.Actor{Type: "user", ID: "u<b>"},
			Target: &auditkeep.Target{Type: "env<1>", ID: `tgt_"}\{[` + "\u2028"}, Status: "success", Description: `<script> "x" \`},
	}
	for _, e := range events {
		stored, _ := json.Marshal(&e)
		sh, ok := eventjson.ParseStored(stored)
		if !ok {
			t.Fatalf("ParseStored(%s) = not ok", stored)
		}
		if typ, id, ok, err := sh.Target(stored); err != nil || ok != (e.Target != nil) ||
			ok && (string(typ) != e.Target.Type || string(id) != e.Target.ID) {
			t.Errorf("Target(%s) = %q, %q, %v, %v", stored, typ, id, ok, err)
		}
		for _, deleted := range []bool{false, true} {
			w := e
			w.Tenant, w.Seq = "acme<1>", 1234567
			if e.Target != nil {
				tg := *e.Target
				tg.Deleted = deleted
				w.Target = &tg
			}
			want, _ := json.Marshal(&w)
			w.Hash = "ab12"
			wantHash, _ := json.Marshal(&w)
			tj, _ := json.Marshal(w.Tenant)
			got, hashAt := eventjson.AppendSpliced([]byte("prefix"), stored, &sh, tj, w.Seq, deleted)
			if !strings.HasPrefix(string(got), "prefix") || string(got[6:]) != string(want) {
				t.Errorf("AppendSpliced(%s, deleted %v) =\n%s\nwant\n%s", stored, deleted, got, want)
			}
			got = got[6:]
			if s := string(got[:hashAt]) + `,"hash":"ab12"` + string(got[hashAt:]); s != string(wantHash) {
				t.Errorf("AppendSpliced(%s): hash at %d:\n%s\nwant\n%s", stored, hashAt, s, wantHash)
			}
			enc, hashAt, err := eventjson.Encode(&w, deleted)
			if err != nil || string(enc) != string(want) {
				t.Errorf("Encode(%s, %v) = %s, %v; want %s", w.ID, deleted, enc, err, want)
			}
			if s := string(enc[:hashAt]) + `,"hash":"ab12"` + string(enc[hashAt:]); s != string(wantHash) {
				t.Errorf("Encode(%s): hash at %d:\n%s\nwant\n%s", w.ID, hashAt, s, wantHash)
			}
		}
	}
	// Stored JSON with a tenant, a seq, a marked target or the escape of
	// invalid UTF-8 is not spliced.
	good, _ := json.Marshal(&events[1])
	for _, b := range []string{
		strings.Replace(string(good), `"tenant":""`, `"tenant":"acme"`, 1),
		strings.Replace(string(good), `"seq":0`, `"seq":7`, 1),
		strings.Replace(string(good), `"name":"n"}`, `"name":"n","deleted":true}`, 1),
		strings.Replace(string(good), `"action":"a"`, `"action":"\ufffd"`, 1),
	} {
		if b == string(good) {
			t.Fatalf("replacement did not apply to %s", b)
		}
		if _, ok := eventjson.ParseStored([]byte(b)); ok {
			t.Errorf("ParseStored(%s) = ok; want not", b)
		}
	}
}

// TestEncodeStored: the stored JSON leaves out what the row holds and
// what reads compute, and the caller's event is not changed.
func TestEncodeStored(t *testing.T) {
	e := &auditkeep.Event{Tenant: "acme", Seq: 7, ID: "evt-1", Action: "a.delete", Type: "delete",
		Actor: auditkeep.Actor{Type: "user", ID: "u"}, Target: &auditkeep.Target{Type: "t", ID: "1", Deleted: true}, Status: "success"}
	js, err := eventjson.EncodeStored(e)
	if err != nil {
		t.Fatal(err)
	}
	if sh, ok := eventjson.ParseStored(js); !ok || sh.Deleted {
		t.Errorf("EncodeStored = %s; want stored JSON that is spliced (ParseStored ok, deleted unmarked)", js)
	}
	if e.Tenant != "acme" || e.Seq != 7 || !e.Target.Deleted {
		t.Errorf("EncodeStored changed its event: %+v", e)
	}
}

package ledger_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

func TestLeafDataGolden(t *testing.T) {
	e := sampleEvent("acme", 7)
	e.Hash = "deadbeef"
	e.Target.Deleted = true
	e.ReceivedAt = e.ReceivedAt.In(time.FixedZone("CET", 3600)) // stored zone must not matter
	e.Metadata = json.RawMessage(`{"z": [1.0, 2e3, "<b>&"], "a": null, "€": "\u00e9"}`)
	got, err := ledger.LeafData(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"action":"environment.update","actor":{"email":"alice@example.com","id":"usr_42","name":"Alice Martin","type":"user"},` +
		`"before":{"cpu":1.5,"name":"prod"},"changes":[{"field":"name","new":"production","old":"prod","op":"changed"}],` +
		`"context":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0"},` +
		`"description":"Updated environment 'production': name changed from 'prod' to 'production'","id":"evt_000007",` +
		`"metadata":{"a":null,"z":[1,2000,"<b>&"],"€":"é"},"occurred_at":"2026-11-26T09:00:10.5Z","received_at":"2026-11-26T09:00:10.500123456Z",` +
		`"scope":[{"id":"prj_1","name":"Shop","type":"project"},{"id":"env_7","type":"environment"}],"seq":7,` +
		`"snapshot":{"cpu":1.5,"name":"production"},"source":"console","status":"success",` +
		`"target":{"id":"env_0","name":"production","type":"environment"},"team":"platform","tenant":"acme","type":"update"}`
	if string(got) != want {
		t.Errorf("LeafData(sample) =\n%s\nwant\n%s", got, want)
	}
	h, err := ledger.LeafHash(e)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256(0x00 || want), computed independently of the package.
	if got, want := hex.EncodeToString(h), leafHashOf([]byte(want)); got != want {
		t.Errorf("LeafHash(sample) = %s; want %s", got, want)
	}
}

// TestLeafDataIsJCSOfExport checks the documented property: an exported
// event without "hash" and "target.deleted", canonicalised, is its leaf data.
func TestLeafDataIsJCSOfExport(t *testing.T) {
	minimal := &auditkeep.Event{Tenant: "acme", Seq: 1, ReceivedAt: time.Unix(1e9, 0).UTC(), ID: "x", OccurredAt: time.Unix(1e9, 0).UTC(),
		Action: "user.login", Type: "login", Actor: auditkeep.Actor{Type: "user", ID: "u"}, Status: "success"}
	odd := sampleEvent("acme", 9)
	odd.Description = "quote \" backslash \\ tab \t nul \x00 del \x7f bad \xff\xfe utf-8 é 😀 \u2028 <script>&"
	odd.Actor = auditkeep.Actor{Type: "user", ID: "u\x01", Email: "e@x"}
	odd.Target = &auditkeep.Target{Type: "t", ID: ""}
	odd.Context = auditkeep.Context{UserAgent: "ua only"}
	odd.Scope = []auditkeep.ScopeEntry{{Type: "a", ID: "b"}}
	odd.Changes = []auditkeep.Change{{Field: "f"}, {Field: "g", New: json.RawMessage(`[1, 2.50, {"b":true,"a":false}]`)}}
	odd.Before, odd.Snapshot, odd.Metadata = json.RawMessage(`null`), json.RawMessage(`"s"`), json.RawMessage(`12e-1`)
	odd.Team, odd.Source = "", ""
	ipOnly := sampleEvent("acme", 10)
	ipOnly.Context = auditkeep.Context{IP: "::1"}
	ipOnly.Changes, ipOnly.Scope, ipOnly.Target = []auditkeep.Change{}, []auditkeep.ScopeEntry{}, nil
	for _, e := range []*auditkeep.Event{sampleEvent("acme", 3), minimal, odd, ipOnly} {
		e.Hash = "00ff"
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "hash")
		if tg, ok := m["target"].(map[string]any); ok {
			delete(tg, "deleted")
		}
		b, _ = json.Marshal(m)
		want, err := ledger.CanonicalJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ledger.LeafData(e)
		if err != nil || string(got) != string(want) {
			t.Errorf("LeafData(%s) = %s, %v; want %s", e.ID, got, err, want)
		}
	}
}

// TestLeafHashCoversEveryField changes each stored field in turn and expects
// a different leaf; read-time fields (hash, target.deleted) and the time
// zone must not change it.
func TestLeafHashCoversEveryField(t *testing.T) {
	base := mustLeafHash(t, sampleEvent("acme", 5))
	changes := map[string]func(e *auditkeep.Event){
		"tenant":             func(e *auditkeep.Event) { e.Tenant = "other" },
		"seq":                func(e *auditkeep.Event) { e.Seq = 6 },
		"received_at":        func(e *auditkeep.Event) { e.ReceivedAt = e.ReceivedAt.Add(time.Nanosecond) },
		"id":                 func(e *auditkeep.Event) { e.ID = "evt_x" },
		"occurred_at":        func(e *auditkeep.Event) { e.OccurredAt = e.OccurredAt.Add(time.Microsecond) },
		"action":             func(e *auditkeep.Event) { e.Action = "environment.delete" },
		"type":               func(e *auditkeep.Event) { e.Type = "delete" },
		"actor.type":         func(e *auditkeep.Event) { e.Actor.Type = "service" },
		"actor.id":           func(e *auditkeep.Event) { e.Actor.ID = "usr_43" },
		"actor.name":         func(e *auditkeep.Event) { e.Actor.Name = "Mallory" },
		"actor.email":        func(e *auditkeep.Event) { e.Actor.Email = "" },
		"target":             func(e *auditkeep.Event) { e.Target = nil },
		"target.type":        func(e *auditkeep.Event) { e.Target.Type = "service" },
		"target.id":          func(e *auditkeep.Event) { e.Target.ID = "env_9" },
		"target.name":        func(e *auditkeep.Event) { e.Target.Name = "staging" },
		"scope":              func(e *auditkeep.Event) { e.Scope = e.Scope[:1] },
		"scope.name":         func(e *auditkeep.Event) { e.Scope[0].Name = "Shop2" },
		"team":               func(e *auditkeep.Event) { e.Team = "" },
		"source":             func(e *auditkeep.Event) { e.Source = "api" },
		"context.ip":         func(e *auditkeep.Event) { e.Context.IP = "203.0.113.8" },
		"context.user_agent": func(e *auditkeep.Event) { e.Context.UserAgent = "curl" },
		"status":             func(e *auditkeep.Event) { e.Status = "failure" },
		"description":        func(e *auditkeep.Event) { e.Description += "." },
		"changes.field":      func(e *auditkeep.Event) { e.Changes[0].Field = "title" },
		"changes.op":         func(e *auditkeep.Event) { e.Changes[0].Op = "added" },
		"changes.old":        func(e *auditkeep.Event) { e.Changes[0].Old = json.RawMessage(`"dev"`) },
		"changes.new":        func(e *auditkeep.Event) { e.Changes[0].New = nil },
		"before":             func(e *auditkeep.Event) { e.Before = json.RawMessage(`{"name":"prod","cpu":2}`) },
		"snapshot":           func(e *auditkeep.Event) { e.Snapshot = json.RawMessage(`null`) },
		"metadata":           func(e *auditkeep.Event) { e.Metadata = nil },
	}
	for name, change := range changes {
		e := sampleEvent("acme", 5)
		change(e)
		if got := mustLeafHash(t, e); got == base {
			t.Errorf("LeafHash with %s changed = %s; want a hash other than the original's", name, got)
		}
	}
	same := map[string]func(e *auditkeep.Event){
		"hash":           func(e *auditkeep.Event) { e.Hash = "abcd" },
		"target.deleted": func(e *auditkeep.Event) { e.Target.Deleted = true },
		"time zone":      func(e *auditkeep.Event) { e.OccurredAt = e.OccurredAt.In(time.FixedZone("X", -7*3600)) },
		"raw whitespace": func(e *auditkeep.Event) { e.Snapshot = json.RawMessage(" {\"cpu\" : 1.50 ,\"name\":\"production\"}") },
	}
	for name, change := range same {
		e := sampleEvent("acme", 5)
		change(e)
		if got := mustLeafHash(t, e); got != base {
			t.Errorf("LeafHash with %s changed = %s; want the original %s", name, got, base)
		}
	}
}

func TestLeafDataInvalid(t *testing.T) {
	e := sampleEvent("acme", 1)
	e.Metadata = json.RawMessage(`{"a":1,"a":2}`)
	if _, err := ledger.LeafData(e); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("LeafData(duplicate member) error = %v; want code %s", err, auditkeep.EINVALID)
	}
	e.Metadata = json.RawMessage(`{"a":`)
	if _, err := ledger.LeafData(e); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("LeafData(broken raw JSON) error = %v; want code %s", err, auditkeep.EINVALID)
	}
}

func mustLeafHash(t *testing.T, e *auditkeep.Event) string {
	t.Helper()
	h, err := ledger.LeafHash(e)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h)
}

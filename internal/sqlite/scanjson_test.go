package sqlite

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/eventjson"
	"github.com/auditkeep/auditkeep/internal/storetest"
)

// hostileEvents returns events whose JSON exercises escaping and numbers:
// HTML, unicode line separators, control characters, invalid UTF-8,
// numbers as sent, nulls, targets whose type and id need escapes, targets
// later deleted (and one whose delete failed), events without a target.
func hostileEvents(tenant string, at time.Time) []*auditkeep.Event {
	odd := &auditkeep.Target{Type: "env<1>", ID: `tgt_"}\{[` + "\u2028", Name: "</script>"}
	user := auditkeep.Actor{Type: "user", ID: "usr_<b>", Name: "Zoë \u2028\u2029 日本 😀 & <i>", Email: "a&b@example.com"}
	events := []*auditkeep.Event{
		{ID: "h1", Action: "env.create", Type: "create", Actor: user, Target: odd, Status: "success",
			Scope:       []auditkeep.ScopeEntry{{Type: "project", ID: "prj_<1>", Name: "\x00\x01\x1f\t\n\r\x7f"}},
			Description: `Created "env" <script>alert(1)</script> \ & more`, Team: "t\xff\xfeam",
			Context:  auditkeep.Context{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 <x>"},
			Metadata: json.RawMessage(`{ "a" : 1.0, "b":1e21, "c":-0, "d":12345678901234567890123, "e":1E-7, "f":[true,false,null], "g":"<>&\u2028" }`)},
		{ID: "h2", Action: "env.update", Type: "update", Actor: user, Target: odd, Status: "success",
			Before: json.RawMessage(`null`), Snapshot: json.RawMessage(`{}`),
			Changes: []auditkeep.Change{{Field: "settings.cpu", Op: "changed", Old: json.RawMessage(`1.0`), New: json.RawMessage(`"<2>"`)},
				{Field: "env.SECRET", Op: "added", New: json.RawMessage(`"hmac-sha256:9f86d081884c7d65"`)},
				{Field: "ports[1]", Op: "removed", Old: json.RawMessage(`[1,{"x":null}]`)}}},
		{ID: "h3", Action: "user.login", Type: "login", Actor: auditkeep.Actor{Type: "system", ID: "system"}, Status: "success",
			Description: "a real \ufffd and a written \\ufffd", Metadata: json.RawMessage(`{"s":"\\ufffd \\u00e9 \\/"}`)},
		{ID: "h4", Action: "svc.create", Type: "create", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_1"}, Status: "success"},
		{ID: "h5", Action: "svc.delete", Type: "delete", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_2"}, Status: "failure"},
		{ID: "h6", Action: "env.delete", Type: "delete", Actor: user, Target: odd, Status: "success"},
		{ID: "h7", Action: "svc.update", Type: "update", Actor: user, Target: &auditkeep.Target{Type: "database", ID: "svc_1", Name: "same id, other type"}, Status: "success"},
		{ID: "h8", Action: "svc.delete", Type: "delete", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_1"}, Status: "success"},
	}
	for i, e := range events {
		e.Tenant = tenant
		e.OccurredAt = at.Add(time.Duration(i) * time.Second)
		e.ReceivedAt = at.Add(time.Minute).UTC()
	}
	events[0].OccurredAt = events[0].OccurredAt.In(time.FixedZone("", -5*3600-30*60))
	return events
}

// TestScanEventJSON: ScanEventJSON yields, for every event ScanEvents
// yields and in the same order, the bytes encoding/json writes for it (a
// hash put at hashAt included), over several pages, with filters, for
// bodies in every codec and for stored JSON that is not spliced.
func TestScanEventJSON(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tenant := range []string{"acme", "globex"} {
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: tenant, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 26, 9, 0, 0, 123456789, time.UTC)
	var events []*auditkeep.Event
	for i := range 3 {
		// Pages of scanPage events: the hostile ones, then others.
		events = append(events, hostileEvents("acme", at.Add(time.Duration(i)*time.Hour))...)
		for j := range 600 {
			e := &auditkeep.Event{Tenant: "acme", ID: fmt.Sprintf("e%d_%d", i, j), OccurredAt: at.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Millisecond),
				ReceivedAt: at, Action: "svc.deploy", Type: "execute", Status: "success", Actor: auditkeep.Actor{Type: "user", ID: "usr_1"},
				Target: &auditkeep.Target{Type: "service", ID: fmt.Sprintf("svc_%d", j%7)}}
			events = append(events, e)
		}
		for _, e := range events[len(events)-608:] {
			e.ID = fmt.Sprintf("%s_%d", e.ID, i)
		}
	}
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	other := hostileEvents("globex", at)
	if err := s.Append(ctx, other); err != nil {
		t.Fatal(err)
	}

	// Store some bodies in the other codecs, and some in shapes that are
	// not spliced: a stored hash, spaces, members in another order.
	stored := func(seq int64) []byte {
		var body []byte
		num, _ := s.tenantNum(ctx, "acme")
		if err := s.w.QueryRowContext(ctx, "SELECT body FROM events WHERE k = ?", num<<40|seq).Scan(&body); err != nil {
			t.Fatal(err)
		}
		js, err := appendBodyJSON(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	rewrite := func(seq int64, body []byte) {
		num, _ := s.tenantNum(ctx, "acme")
		if _, err := s.w.ExecContext(ctx, "UPDATE events SET body = ? WHERE k = ?", body, num<<40|seq); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(4, stored(4)) // plain JSON
	var fl bytes.Buffer
	fl.WriteByte(codecFlate1)
	fw, _ := flate.NewWriterDict(&fl, flateLevel, []byte(bodyDictionary))
	fw.Write(stored(5))
	fw.Close()
	rewrite(5, fl.Bytes())
	rewrite(6, bytes.Replace(stored(6), []byte(`","id":"`), []byte(`","hash":"00ff","id":"`), 1))
	rewrite(7, bytes.Replace(stored(7), []byte(`"seq":0,`), []byte(`"seq": 0,`), 1))
	js8 := stored(8)
	var m map[string]json.RawMessage
	json.Unmarshal(js8, &m)
	reordered, _ := json.Marshal(m) // keys sorted
	rewrite(8, reordered)

	// Which bodies are spliced: the ones in encoding/json's form, in any
	// codec; not those in other forms, nor those that held invalid UTF-8
	// (nor, to be safe, those that hold the text of its escape).
	num, _ := s.tenantNum(ctx, "acme")
	for seq, want := range map[int64]bool{1: false, 2: true, 3: false, 4: true, 5: true, 6: false, 7: false, 8: false, 609: false, 610: true} {
		var body []byte
		if err := s.w.QueryRowContext(ctx, "SELECT body FROM events WHERE k = ?", num<<40|seq).Scan(&body); err != nil {
			t.Fatal(err)
		}
		pg := &jsonPage{Page: eventjson.Page{Tenant: "acme"}, events: make([]eventjson.PageEvent, 1)}
		if err := pg.add(0, seq, body); err != nil || pg.events[0].Spliced() != want {
			t.Errorf("body of seq %d: spliced %v, %v; want %v", seq, pg.events[0].Spliced(), err, want)
		}
	}

	tests := []struct {
		tenant string
		f      auditkeep.Filter
		n      int
	}{
		{"acme", auditkeep.Filter{}, len(events)},
		{"acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, len(events)},
		{"acme", auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldTargetID, Values: []string{"svc_1", "svc_3"}}}}, -1},
		{"acme", auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldType, Values: []string{"delete"}, Negate: true}}, Order: auditkeep.OrderAsc}, -1},
		{"acme", auditkeep.Filter{From: at.Add(90 * time.Minute)}, -1},
		{"acme", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 1500, Order: auditkeep.OrderAsc}, Order: auditkeep.OrderAsc}, len(events) - 1500},
		{"globex", auditkeep.Filter{}, len(other)},
		{"nobody", auditkeep.Filter{}, 0},
	}
	for _, tt := range tests {
		n, deleted := storetest.CheckEventJSON(t, ctx, s, tt.tenant, tt.f)
		if tt.n >= 0 && n != tt.n {
			t.Fatalf("ScanEvents(%s, %+v): %d events; want %d", tt.tenant, tt.f, n, tt.n)
		}
		if tt.f.Terms == nil && tt.f.Cursor == nil && tt.f.From.IsZero() && tt.n > 0 && deleted == 0 {
			t.Errorf("ScanEventJSON(%s, %+v): no deleted target", tt.tenant, tt.f)
		}
	}

	storetest.CheckEventJSONStops(t, ctx, s, "acme", len(events))
	// A body that cannot be read fails the scan: a defect, not a store
	// that cannot serve now.
	rewrite(5, []byte{codecS2, 0xff, 0xff})
	err = s.ScanEventJSON(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(int64, []byte, int) error { return nil })
	if auditkeep.ErrorCode(err) != auditkeep.EINTERNAL {
		t.Errorf("ScanEventJSON over a corrupt body = %v; want EINTERNAL", err)
	}
}

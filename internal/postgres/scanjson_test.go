package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/storetest"
	"github.com/jackc/pgx/v5"
)

// hostileEvents returns events whose JSON exercises escaping and numbers:
// HTML, unicode line separators, control characters, invalid UTF-8 (in
// a value no column but body holds: text columns refuse it),
// numbers as sent, nulls, targets whose type and id need escapes, targets
// later deleted (and one whose delete failed), events without a target.
func hostileEvents(tenant, prefix string, at time.Time) []*auditkeep.Event {
	odd := &auditkeep.Target{Type: "env<1>", ID: `tgt_"}\{[` + "\u2028", Name: "</script>"}
	user := auditkeep.Actor{Type: "user", ID: "usr_<b>", Name: "Zoë \u2028\u2029 日本 😀 & <i>", Email: "a&b@example.com"}
	events := []*auditkeep.Event{
		{Action: "env.create", Type: "create", Actor: user, Target: odd, Status: "success",
			Scope:       []auditkeep.ScopeEntry{{Type: "project", ID: "prj_<1>", Name: "\x01\x1f\t\n\r\x7f"}},
			Description: `Created "env" <script>alert(1)</script> \ & more`, Team: "t<e>am",
			Context:  auditkeep.Context{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 <x> \xff\xfe"},
			Metadata: json.RawMessage(`{ "a" : 1.0, "b":1e21, "c":-0, "d":12345678901234567890123, "e":1E-7, "f":[true,false,null], "g":"<>&\u2028", "h":"\u0000" }`)},
		{Action: "env.update", Type: "update", Actor: user, Target: odd, Status: "success",
			Before: json.RawMessage(`null`), Snapshot: json.RawMessage(`{}`),
			Changes: []auditkeep.Change{{Field: "settings.cpu", Op: "changed", Old: json.RawMessage(`1.0`), New: json.RawMessage(`"<2>"`)},
				{Field: "ports[1]", Op: "removed", Old: json.RawMessage(`[1,{"x":null}]`)}}},
		{Action: "user.login", Type: "login", Actor: auditkeep.Actor{Type: "system", ID: "system"}, Status: "success",
			Description: "a real \ufffd and a written \\ufffd", Metadata: json.RawMessage(`{"s":"\\ufffd \\u00e9 \\/"}`)},
		{Action: "svc.create", Type: "create", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_1"}, Status: "success"},
		{Action: "svc.delete", Type: "delete", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_2"}, Status: "failure"},
		{Action: "env.delete", Type: "delete", Actor: user, Target: odd, Status: "success"},
		{Action: "svc.update", Type: "update", Actor: user, Target: &auditkeep.Target{Type: "database", ID: "svc_1", Name: "same id, other type"}, Status: "success"},
		{Action: "svc.delete", Type: "delete", Actor: user, Target: &auditkeep.Target{Type: "service", ID: "svc_1"}, Status: "success"},
	}
	for i, e := range events {
		e.Tenant = tenant
		e.ID = fmt.Sprintf("%s_h%d", prefix, i)
		e.OccurredAt = at.Add(time.Duration(i) * time.Second)
		e.ReceivedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	events[0].OccurredAt = events[0].OccurredAt.In(time.FixedZone("", -5*3600-30*60))
	return events
}

// TestScanEventJSON: ScanEventJSON yields, for every event ScanEvents
// yields and in the same order, the bytes encoding/json writes for it (a
// hash put at hashAt included), over several pages, with filters, for
// stored JSON that is spliced and stored JSON that is not.
func TestScanEventJSON(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	s := open(t, url, postgres.WithPartitionsAhead(0), quiet)
	createTenant(t, s, "acme")
	createTenant(t, s, "globex")
	at := time.Date(2026, 11, 26, 9, 0, 0, 123456789, time.UTC)
	var events []*auditkeep.Event
	for i := range 3 {
		// Pages of 500 events: the hostile ones, then others.
		events = append(events, hostileEvents("acme", fmt.Sprint(i), at.Add(time.Duration(i)*time.Hour))...)
		for j := range 600 {
			events = append(events, &auditkeep.Event{Tenant: "acme", ID: fmt.Sprintf("e%d_%d", i, j),
				OccurredAt: at.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Millisecond),
				Action:     "svc.deploy", Type: "execute", Status: "success", Actor: auditkeep.Actor{Type: "user", ID: "usr_1"},
				Target: &auditkeep.Target{Type: "service", ID: fmt.Sprintf("svc_%d", j%7)}})
		}
	}
	if err := s.Append(ctx, events); err != nil {
		t.Fatal(err)
	}
	other := hostileEvents("globex", "g", at)
	if err := s.Append(ctx, other); err != nil {
		t.Fatal(err)
	}

	// Store some bodies in shapes that are not spliced: a stored hash,
	// spaces, members in another order, a tenant and seq filled in.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rewrite := func(seq int64, edit func([]byte) []byte) {
		t.Helper()
		const where = ` WHERE tenant_no = (SELECT no FROM tenants WHERE id = 'acme') AND seq = $1`
		var body []byte
		if err := conn.QueryRow(ctx, `SELECT body FROM events`+where, seq).Scan(&body); err != nil {
			t.Fatal(err)
		}
		edited := edit(bytes.Clone(body))
		if bytes.Equal(edited, body) {
			t.Fatalf("body of seq %d unchanged: %s", seq, body)
		}
		if _, err := conn.Exec(ctx, `UPDATE events SET body = $2`+where, seq, edited); err != nil {
			t.Fatal(err)
		}
	}
	rewrite(4, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`","id":"`), []byte(`","hash":"00ff","id":"`), 1)
	})
	rewrite(5, func(b []byte) []byte { return bytes.Replace(b, []byte(`"seq":0,`), []byte(`"seq": 0,`), 1) })
	rewrite(6, func(b []byte) []byte {
		var m map[string]json.RawMessage
		json.Unmarshal(b, &m)
		b, _ = json.Marshal(m) // keys sorted
		return b
	})
	rewrite(7, func(b []byte) []byte {
		b = bytes.Replace(b, []byte(`"tenant":""`), []byte(`"tenant":"someone"`), 1)
		return bytes.Replace(b, []byte(`"seq":0`), []byte(`"seq":99`), 1)
	})
	rewrite(610, func(b []byte) []byte { // a target marked deleted when stored
		return bytes.Replace(b, []byte(`"name":"\u003c/script\u003e"}`), []byte(`"name":"\u003c/script\u003e","deleted":true}`), 1)
	})

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
		{"acme", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 1000, Order: auditkeep.OrderAsc}, Order: auditkeep.OrderAsc}, len(events) - 1000},
		{"acme", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 1001}}, 1000},
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

	// A filter the store cannot run is EINVALID.
	bad := auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 5, Order: auditkeep.OrderAsc}}
	if err := s.ScanEventJSON(ctx, "acme", bad, func(int64, []byte, int) error { return nil }); auditkeep.ErrorCode(err) != auditkeep.EINVALID {
		t.Errorf("ScanEventJSON with a cursor of the other order = %v; want EINVALID", err)
	}
	storetest.CheckEventJSONStops(t, ctx, s, "acme", len(events))
	// A body that cannot be read fails the scan, as it fails ScanEvents.
	rewrite(5, func(b []byte) []byte { return b[:len(b)/2] })
	want := s.ScanEvents(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(*auditkeep.Event) error { return nil })
	err = s.ScanEventJSON(ctx, "acme", auditkeep.Filter{Order: auditkeep.OrderAsc}, func(int64, []byte, int) error { return nil })
	if err == nil || want == nil || auditkeep.ErrorCode(err) != auditkeep.ErrorCode(want) {
		t.Errorf("ScanEventJSON over a corrupt body = %v; want an error as ScanEvents's (%v)", err, want)
	}
}

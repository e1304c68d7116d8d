package sqlite

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestFTSExpr(t *testing.T) {
	for _, tc := range []struct {
		in   auditkeep.TextTerm
		want string
	}{
		{auditkeep.TextTerm{Text: "alice"}, `("alice")`},
		{auditkeep.TextTerm{Text: "alice@example.com"}, `("alice@example.com")`},
		{auditkeep.TextTerm{Text: "prod db", Phrase: true}, `("prod db")`},
		{auditkeep.TextTerm{Text: "prod db"}, `("prod" AND "db")`},
		{auditkeep.TextTerm{Text: "prod", Prefix: true}, `("prod" *)`},
		{auditkeep.TextTerm{Text: "image not fou", Phrase: true, Prefix: true}, `("image not fou" *)`},
		{auditkeep.TextTerm{Text: `say "hi"`, Phrase: true}, `("say ""hi""")`},
		{auditkeep.TextTerm{Text: `a" OR "b`}, `("a""" AND "OR" AND """b")`},
		{auditkeep.TextTerm{Text: `NEAR(a b)`}, `("NEAR(a" AND "b)")`},
		{auditkeep.TextTerm{Text: `" * -- ^`}, ``},
		{auditkeep.TextTerm{Text: "   "}, ``},
	} {
		if got := ftsExpr(tc.in); got != tc.want {
			t.Errorf("ftsExpr(%+v) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

func TestIPTerm(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.7", "4cb007107"},
		{"::ffff:203.0.113.7", "4cb007107"},
		{"2001:db8::1", "620010db8000000000000000000000001"},
		{"fe80::1%eth0", "6fe800000000000000000000000000001"},
		{"not an ip", "xnot an ip"},
	} {
		if got := ipTerm(tc.in); got != tc.want {
			t.Errorf("ipTerm(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		prefix  string
		in, out []string
	}{
		{"203.0.113.0/24", []string{"203.0.113.0", "203.0.113.255", "::ffff:203.0.113.9"}, []string{"203.0.112.255", "203.0.114.0", "2001:db8::1"}},
		{"203.0.113.7/32", []string{"203.0.113.7"}, []string{"203.0.113.6", "203.0.113.8"}},
		{"0.0.0.0/0", []string{"0.0.0.0", "255.255.255.255"}, []string{"::1"}},
		{"2001:db8::/32", []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"2001:db9::", "203.0.113.7"}},
		{"::/0", []string{"::", "2001:db8::1"}, []string{"10.0.0.1"}},
	} {
		lo, hi := ipRange(netip.MustParsePrefix(tc.prefix))
		for _, a := range tc.in {
			if v := ipTerm(a); v < lo || v > hi {
				t.Errorf("ipRange(%s) = [%s, %s] leaves out %s (%s)", tc.prefix, lo, hi, a, v)
			}
		}
		for _, a := range tc.out {
			if v := ipTerm(a); v >= lo && v <= hi {
				t.Errorf("ipRange(%s) = [%s, %s] holds %s (%s)", tc.prefix, lo, hi, a, v)
			}
		}
	}
}

func TestBodyCodec(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 0, 0, 123456789, time.FixedZone("CET", 3600))
	e := &auditkeep.Event{Tenant: "acme", Seq: 42, ID: "evt_1", OccurredAt: at, ReceivedAt: at.UTC(), Action: "token.create",
		Type: "create", Actor: auditkeep.Actor{Type: "user", ID: "usr_1"}, Status: "success",
		Target:   &auditkeep.Target{Type: "token", ID: "tok_1", Deleted: true},
		Snapshot: json.RawMessage(`{"b":1,"a":[1,2,{"x":null}]}`)}
	body, err := encodeBody(e)
	if err != nil {
		t.Fatal(err)
	}
	if body[0] != codecS2Model {
		t.Fatalf("encodeBody: codec %#x; want %#x", body[0], codecS2Model)
	}
	if !e.Target.Deleted || e.Seq != 42 || e.Tenant != "acme" {
		t.Errorf("encodeBody changed its argument: %+v", e)
	}
	got, err := decodeBody(body, "acme", 42)
	if err != nil {
		t.Fatal(err)
	}
	want := *e
	tg := *e.Target
	tg.Deleted = false
	want.Target = &tg
	wj, _ := json.Marshal(&want)
	gj, _ := json.Marshal(got)
	if string(gj) != string(wj) {
		t.Errorf("decodeBody(encodeBody(e)) =\n%s\nwant\n%s", gj, wj)
	}
	// Plain JSON bodies are read too; unknown codecs are errors.
	plain, _ := json.Marshal(&auditkeep.Event{ID: "evt_2"})
	if got, err := decodeBody(plain, "acme", 7); err != nil || got.ID != "evt_2" || got.Seq != 7 || got.Tenant != "acme" {
		t.Errorf("decodeBody(plain) = %+v, %v; want evt_2, seq 7 of acme", got, err)
	}
	// Bodies of the earlier DEFLATE codec are still read.
	var old bytes.Buffer
	old.WriteByte(codecFlate1)
	fw, _ := flate.NewWriterDict(&old, flateLevel, []byte(bodyDictionary))
	fw.Write([]byte(`{"tenant":"","seq":0,"id":"evt_3","action":"user.login"}`))
	fw.Close()
	if got, err := decodeBody(old.Bytes(), "acme", 3); err != nil || got.ID != "evt_3" {
		t.Errorf("decodeBody(DEFLATE body) = %+v, %v; want evt_3", got, err)
	}
	// So are bodies of the earlier S2 codec, with its dictionary.
	s2Old := append([]byte{codecS2}, s2Dict.Encode(nil, []byte(`{"tenant":"","seq":0,"id":"evt_4","action":"user.login"}`))...)
	if got, err := decodeBody(s2Old, "acme", 4); err != nil || got.ID != "evt_4" {
		t.Errorf("decodeBody(S2 body of codec 2) = %+v, %v; want evt_4", got, err)
	}
	for _, bad := range [][]byte{nil, {0x7f, 1, 2}, {codecFlate1, 0xff, 0xff}, {codecS2, 0xff, 0xff}, {codecS2Model, 0xff, 0xff}} {
		if _, err := decodeBody(bad, "acme", 1); err == nil {
			t.Errorf("decodeBody(%x) = nil error; want one", bad)
		}
	}
}

// TestTermCounts: after batches that create terms and reuse them, with
// duplicates, a failed batch and a reopen, every term's count is its
// number of postings and term ids are unique.
func TestTermCounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	s, err := Open(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme", "globex"} {
		if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	appendOK := func(events []*auditkeep.Event) {
		t.Helper()
		if err := s.Append(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	appendOK(BenchEvents("acme", 0, 300))
	appendOK(append(BenchEvents("globex", 0, 200), BenchEvents("acme", 250, 100)...)) // 50 duplicates
	bad := append(BenchEvents("acme", 1000, 10), BenchEvents("nope", 0, 1)...)
	if err := s.Append(ctx, bad); err == nil {
		t.Fatal("Append with an unknown tenant succeeded")
	}
	appendOK(BenchEvents("acme", 1000, 50))
	s.Close()
	if s, err = Open(ctx, dir, quiet); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendOK(BenchEvents("globex", 150, 100))

	rows, err := s.r.Query(`SELECT field, count, (SELECT count(*) FROM postings p WHERE p.term = t.id) FROM terms t`)
	if err != nil {
		t.Fatal(err)
	}
	var wrong, total int
	for rows.Next() {
		var field int
		var count, postings int64
		if err := rows.Scan(&field, &count, &postings); err != nil {
			t.Fatal(err)
		}
		total++
		if want := map[bool]int64{true: postings, false: 0}[counted(field)]; count != want {
			wrong++
			if wrong < 5 {
				t.Errorf("a term of field %d has count %d; want %d (%d postings)", field, count, want, postings)
			}
		}
	}
	rows.Close()
	if total < 100 || wrong != 0 {
		t.Errorf("%d of %d terms have a wrong count", wrong, total)
	}
	var orphans int
	if err := s.r.QueryRow(`SELECT count(*) FROM postings WHERE term NOT IN (SELECT id FROM terms)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d postings name no term (%v)", orphans, err)
	}
	st, err := s.Stats(ctx, "acme")
	if err != nil || st.Events != 400 || st.LastSeq != 400 {
		t.Errorf("Stats(acme) = %+v, %v; want 400 events", st, err)
	}
}

func TestBestGroup(t *testing.T) {
	ids := func(n int) []int64 { return make([]int64, n) }
	for _, tc := range []struct {
		name   string
		events int64
		groups []group
		want   int
	}{
		{"none", 1000, nil, -1},
		{"one", 1000, []group{{ids(1), 10}}, 0},
		{"rarest of single terms", 100_000, []group{{ids(1), 50_000}, {ids(1), 7}, {ids(1), 2_000}}, 1},
		// status=failure (1 term, 4,931) and action=service.* (8 terms,
		// 15,188): probing 8 terms per failure costs more than one term
		// per service event.
		{"fewer probes", 100_000, []group{{ids(1), 4_931}, {ids(8), 15_188}}, 1},
		// A rare set wins even when it is large.
		{"rare but wide", 100_000, []group{{ids(1), 50_000}, {ids(40), 300}}, 1},
	} {
		p := &plan{events: tc.events, pos: tc.groups}
		if got := p.bestGroup(51); got != tc.want {
			t.Errorf("%s: bestGroup = %d; want %d", tc.name, got, tc.want)
		}
	}
}

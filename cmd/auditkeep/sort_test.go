package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSortByTime(t *testing.T) { forEachStore(t, testSortByTime) }

// testSortByTime: GET /v1/events and `auditkeep events` list by occurred_at
// (seq breaking ties) unless sort=seq; both sorts page by cursor.
func testSortByTime(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	// Committed in the order a, b, c, d, e; happened in the order d, b, e=c (tie), a.
	at := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Hour)
	var events []any
	for i, min := range []int{170, 20, 100, 5, 100} {
		e := event(string(rune('a'+i)), "environment.deploy", "usr_1")
		e["occurred_at"] = at.Add(time.Duration(min) * time.Minute).Format(time.RFC3339Nano)
		events = append(events, e)
	}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": events}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ query, want string }{
		{"", "a,e,c,b,d"},
		{"sort=occurred_at", "a,e,c,b,d"},
		{"sort=occurred_at&order=asc", "d,b,c,e,a"},
		{"sort=seq", "e,d,c,b,a"},
		{"sort=seq&order=asc", "a,b,c,d,e"},
		{"action=environment.deploy", "a,e,c,b,d"},
		{"q=production", "a,e,c,b,d"},
	} {
		if got := strings.Join(listIDs(t, base, key, tc.query), ","); got != tc.want {
			t.Errorf("GET /v1/events?%s = %s; want %s", tc.query, got, tc.want)
		}
		// Page by page, two at a time.
		var paged []string
		q, _ := url.ParseQuery(tc.query)
		q.Set("limit", "2")
		for range 5 {
			r := call(t, "GET", base+"/v1/events?"+q.Encode(), key, nil)
			if r.status != 200 {
				t.Fatalf("GET /v1/events?%s = %d %s", q.Encode(), r.status, r.body)
			}
			m := r.json(t)
			for _, e := range m["events"].([]any) {
				paged = append(paged, e.(map[string]any)["id"].(string))
			}
			next, _ := m["next_cursor"].(string)
			if next == "" {
				break
			}
			q.Set("cursor", next)
		}
		if got := strings.Join(paged, ","); got != tc.want {
			t.Errorf("GET /v1/events?%s by pages of 2 = %s; want %s", tc.query, got, tc.want)
		}
	}
	// The CLI lists by time too.
	vars := map[string]string{"AUDITKEEP_SERVER": base, "AUDITKEEP_KEY": key, "TZ": "UTC"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "--json"}, "a,e,c,b,d"},
		{[]string{"events", "--json", "--sort", "seq"}, "e,d,c,b,a"},
		{[]string{"events", "--json", "--all", "--limit", "2", "--order", "asc"}, "d,b,c,e,a"},
	} {
		code, stdout, stderr := runCLI(t, vars, tc.args...)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if i := strings.Index(line, `"id":"`); i >= 0 {
				got = append(got, strings.SplitN(line[i+6:], `"`, 2)[0])
			}
		}
		if code != 0 || strings.Join(got, ",") != tc.want {
			t.Errorf("auditkeep %s = %d, %v (%s); want %s", strings.Join(tc.args, " "), code, got, stderr, tc.want)
		}
	}
	// Export keeps seq order. It is recorded in the log (last, so that
	// the lists above hold the sent events only).
	r := call(t, "GET", base+"/v1/export?format=csv&sort=seq", key, nil)
	if r.status != 200 || strings.Count(string(r.body), "\n") != 7 || !strings.Contains(string(r.body), ",export.run,") {
		t.Errorf("export sort=seq = %d %s; want the header, 5 events and the export's record", r.status, r.body)
	}
}

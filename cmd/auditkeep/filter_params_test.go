package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestFilterParamsAnswers: on each store, the filter parameters of the
// read endpoints answer as the README states them, whatever the store: an
// empty or malformed value is 400 naming the parameter, with the same
// message on both; IP filters match by address or CIDR prefix, IPv4 and
// IPv6 apart, an IPv4-mapped IPv6 address as its IPv4 address; a page of order=asc resumes where the last ended.
func TestFilterParamsAnswers(t *testing.T) { forEachStore(t, testFilterParamsAnswers) }

func testFilterParamsAnswers(t *testing.T, cfg Config) {
	a := testServer(t, cfg)
	base := a.URL()
	key := setupTenant(t, base, "acme")
	at := func(id, action, ip string) map[string]any {
		e := event(id, action, "usr_"+id)
		e["context"] = map[string]any{"ip": ip}
		return e
	}
	batch := []any{at("e1", "a.create", "10.1.2.3"), at("e2", "b.create", "2001:db8::1"), at("e3", "a.create", "192.0.2.1"),
		at("e4", "b.delete", "::ffff:10.9.9.9")}
	if r := call(t, "POST", base+"/v1/events", key, map[string]any{"events": batch}); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}

	refused := []struct {
		query, field, message string
	}{
		{"action=", "action", "action must not be empty"},
		{"action=&action=a.create", "action", "action must not be empty"},
		{"target_id=", "target_id", "target_id must not be empty"},
		{"ip=", "ip", "ip must not be empty"},
		{"type=", "type", "type must not be empty"},
		{"scope=", "scope", "scope must not be empty"},
		{"status=", "status", "status must not be empty"},
		{"actor_type=", "actor_type", "actor_type must not be empty"},
		{"actor_id=usr_e1", "actor_id", `unknown filter parameter "actor_id"`},
		{"from=", "from", `from "" is not an RFC 3339 time (2026-11-26T09:00:00Z) or a date`},
		{"limit=0", "limit", "limit must be a whole number from 1 to 1000"},
		{"order=sideways", "order", "order must be asc or desc"},
		{"order=", "order", "order must be asc or desc"},
		{"sort=sideways", "sort", "sort must be occurred_at or seq"},
		{"cursor=", "cursor", "cursor is not valid; use next_cursor from a previous page"},
		{"ip=10.0.0.0/33", "ip", `ip "10.0.0.0/33" is not an IP address or CIDR prefix`},
		{"q=action:", "q", `expected a value after "action:" at 7`},
		{"q=%22%22", "q", "empty phrase at 0"},
		{"q=ip:notanip", "q", `ip "notanip" is not an IP address or CIDR prefix at 3`},
		{"q=-ip:x", "q", `ip "x" is not an IP address or CIDR prefix at 4`},
		{"q=type:mutate", "q", `type "mutate" is not one of create, read, update, delete, execute, login, logout, info at 5`},
		{"q=status:weird", "q", `status "weird" is not success or failure at 7`},
		{"q=action:Bad", "q", `action "Bad" is not an action name (lowercase dotted words, optionally ending in *) at 7`},
	}
	for _, tt := range refused {
		for _, path := range []string{"/v1/events?", "/v1/export?format=ndjson&", "/v1/facets?field=team&"} {
			if path != "/v1/events?" && strings.HasPrefix(tt.query, "sort=") {
				continue // the export and facets have sorts of their own
			}
			if path == "/v1/facets?field=team&" && (strings.HasPrefix(tt.query, "cursor=") || strings.HasPrefix(tt.query, "limit=") || strings.HasPrefix(tt.query, "order=")) {
				continue
			}
			r := call(t, "GET", base+path+tt.query, key, nil)
			var e struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			json.Unmarshal(r.body, &e)
			if r.status != 400 || e.Error.Code != "invalid" || e.Error.Field != tt.field || e.Error.Message != tt.message {
				t.Errorf("GET %s%s = %d %s; want 400 invalid naming %q: %q", path, tt.query, r.status, r.body, tt.field, tt.message)
			}
		}
	}

	lists := []struct{ query, want string }{
		{"q=", "e4,e3,e2,e1"},
		{"ip=10.0.0.0/8", "e4,e1"}, // e4's IPv4-mapped address is its IPv4 address
		{"ip=10.1.2.3", "e1"},
		{"ip=2001:db8::/32", "e2"},
		{"ip=0.0.0.0/0", "e4,e3,e1"},
		{"ip=::/0", "e2"},
		{"ip=::ffff:10.9.9.9", "e4"},
		{"ip=::ffff:10.1.2.3", "e1"},
		{"ip=192.0.2.0/24&ip=2001:db8::1", "e3,e2"},
		{"action=a.create&order=asc", "e1,e3"},
		{"action=b.create&action=b.delete", "e4,e2"},
	}
	for _, tt := range lists {
		if got := strings.Join(listIDs(t, base, key, tt.query+"&sort=seq"), ","); got != tt.want {
			t.Errorf("GET /v1/events?%s&sort=seq = %q; want %q", tt.query, got, tt.want)
		}
	}

	// One event a page, both orders, both sorts: each cursor resumes
	// after the last event of its page.
	for _, q := range []string{"order=asc&sort=seq", "order=desc&sort=seq", "order=asc", "order=desc"} {
		var got []string
		cursor := ""
		for range 10 {
			r := call(t, "GET", base+"/v1/events?limit=1&"+q+cursor, key, nil)
			var page struct {
				Events     []struct{ ID string }
				NextCursor string `json:"next_cursor"`
			}
			if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil {
				t.Fatalf("GET /v1/events?limit=1&%s%s = %d %s", q, cursor, r.status, r.body)
			}
			for _, e := range page.Events {
				got = append(got, e.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(page.NextCursor)
		}
		want := "e1,e2,e3,e4"
		if strings.Contains(q, "desc") {
			want = "e4,e3,e2,e1"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("pages of one event, %s: %v; want %s", q, got, want)
		}
	}
}

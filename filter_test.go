package auditkeep_test

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

func TestParseFilterParams(t *testing.T) {
	tests := []struct {
		query string
		want  auditkeep.Filter
	}{
		{"", auditkeep.Filter{}},
		{"action=token.*&type=create,delete", auditkeep.Filter{Terms: []auditkeep.Term{
			{Field: "action", Values: []string{"token.*"}}, {Field: "type", Values: []string{"create", "delete"}}}}},
		{"actor=Martin,+Alice&actor=usr_1", auditkeep.Filter{Terms: []auditkeep.Term{
			{Field: "actor", Values: []string{"Martin, Alice", "usr_1"}}}}},
		{"ip=10.0.0.0/8&scope=project:prj_1/environment:env_7", auditkeep.Filter{Terms: []auditkeep.Term{
			{Field: "ip", Values: []string{"10.0.0.0/8"}}, {Field: "scope", Values: []string{"project:prj_1/environment:env_7"}}}}},
		{"from=2026-11-01&to=2026-11-02", auditkeep.Filter{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
			To: time.Date(2026, 11, 2, 23, 59, 59, 999999999, time.UTC)}},
		{"from=2026-11-01T10:00:00%2B01:00&limit=10&order=asc", auditkeep.Filter{From: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC), Limit: 10, Order: "asc"}},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		got, err := auditkeep.ParseFilterParams(q)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFilterParams(%q) = %+v, %v; want %+v", tt.query, got, err, tt.want)
		}
	}
}

func TestParseFilterParamsErrors(t *testing.T) {
	for query, field := range map[string]string{
		"type=mutate":                   "type",
		"actor_type=robot":              "actor_type",
		"status=ok":                     "status",
		"ip=1.2.3":                      "ip",
		"ip=10.0.0.0/33":                "ip",
		"action=Token.Create":           "action",
		"scope=project":                 "scope",
		"from=yesterday":                "from",
		"from=2026-11-02&to=2026-11-01": "to",
		"limit=0":                       "limit",
		"limit=1001":                    "limit",
		"order=up":                      "order",
		"sort=time":                     "sort",
		"sort=seq&sort=seq":             "sort",
		"cursor=!!":                     "cursor",
		"colour=red":                    "colour",
		"team=":                         "team",
		"order=asc&cursor=" + auditkeep.Cursor{Seq: 5, Order: "desc"}.Encode(): "cursor",
	} {
		q, _ := url.ParseQuery(query)
		_, err := auditkeep.ParseFilterParams(q)
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != field {
			t.Errorf("ParseFilterParams(%q) = %v (field %q); want invalid %q", query, err, auditkeep.ErrorField(err), field)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []auditkeep.Cursor{{Seq: 0, Order: "desc"}, {Seq: 1, Order: "asc"}, {Seq: 1 << 40, Order: "desc"},
		{Seq: 7, Order: "desc", Sort: "occurred_at", At: 1764000000123456789}, {Seq: 1, Order: "asc", Sort: "occurred_at", At: -1}} {
		got, err := auditkeep.DecodeCursor(c.Encode())
		if err != nil || *got != c {
			t.Errorf("DecodeCursor(Encode(%+v)) = %+v, %v", c, got, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(auditkeep.Cursor{Seq: 42, Order: "asc"}.Encode())
	f.Add(auditkeep.Cursor{Seq: 42, Order: "desc", Sort: "occurred_at", At: 1764000000123456789}.Encode())
	f.Add("AWQB")
	f.Add("")
	f.Add("////")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := auditkeep.DecodeCursor(s)
		if err != nil {
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Fatalf("DecodeCursor(%q) error code %q", s, auditkeep.ErrorCode(err))
			}
			return
		}
		if c.Seq < 0 || (c.Order != "asc" && c.Order != "desc") || (c.Sort != "" && c.Sort != "occurred_at") || (c.Sort == "" && c.At != 0) {
			t.Fatalf("DecodeCursor(%q) = %+v", s, c)
		}
		again, err := auditkeep.DecodeCursor(c.Encode())
		if err != nil || *again != *c {
			t.Fatalf("round trip of %+v: %+v %v", c, again, err)
		}
	})
}

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

func TestFilterValidate(t *testing.T) {
	action := func(v ...string) auditkeep.Term { return auditkeep.Term{Field: auditkeep.FieldAction, Values: v} }
	desc, asc := auditkeep.OrderDesc, auditkeep.OrderAsc
	tests := []struct {
		name  string
		f     auditkeep.Filter
		field string // "": valid
	}{
		{"zero", auditkeep.Filter{}, ""},
		{"asc by time", auditkeep.Filter{Order: asc, Sort: auditkeep.SortTime}, ""},
		{"from after to", auditkeep.Filter{From: time.Unix(100, 0), To: time.Unix(1, 0)}, ""},
		{"limit out of range", auditkeep.Filter{Limit: -3}, ""},
		{"text without a word", auditkeep.Filter{Text: []auditkeep.TextTerm{{Text: "--"}}}, ""},
		{"terms", auditkeep.Filter{Terms: []auditkeep.Term{action("token.*"), {Field: auditkeep.FieldIP, Values: []string{"10.0.0.0/8"}, Negate: true}}}, ""},
		{"cursor order \"\" is desc", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3}}, ""},
		{"cursor order \"\" with desc", auditkeep.Filter{Order: desc, Cursor: &auditkeep.Cursor{Seq: 3}}, ""},
		{"desc cursor with order \"\"", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3, Order: desc}}, ""},
		{"time cursor by time", auditkeep.Filter{Sort: auditkeep.SortTime, Cursor: &auditkeep.Cursor{Seq: 3, Sort: auditkeep.SortTime, Order: desc}}, ""},

		{"unknown order", auditkeep.Filter{Order: "sideways"}, "order"},
		{"unknown sort", auditkeep.Filter{Sort: "sideways"}, "sort"},
		{"cursor order \"\" with asc", auditkeep.Filter{Order: asc, Cursor: &auditkeep.Cursor{Seq: 3}}, "cursor"},
		{"asc cursor with order \"\"", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3, Order: asc}}, "cursor"},
		{"unknown cursor order", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3, Order: "sideways"}}, "cursor"},
		{"unknown cursor sort", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3, Sort: "sideways"}}, "cursor"},
		{"seq cursor by time", auditkeep.Filter{Sort: auditkeep.SortTime, Cursor: &auditkeep.Cursor{Seq: 3}}, "cursor"},
		{"time cursor by seq", auditkeep.Filter{Cursor: &auditkeep.Cursor{Seq: 3, Sort: auditkeep.SortTime}}, "cursor"},
		{"term without values", auditkeep.Filter{Terms: []auditkeep.Term{action()}}, "terms[0]"},
		{"negated term without values", auditkeep.Filter{Terms: []auditkeep.Term{action("a"), {Field: auditkeep.FieldTeam, Negate: true}}}, "terms[1]"},
		{"unknown field", auditkeep.Filter{Terms: []auditkeep.Term{{Field: "colour", Values: []string{"red"}}}}, "terms[0]"},
		{"empty value", auditkeep.Filter{Terms: []auditkeep.Term{action("")}}, "terms[0]"},
		{"malformed value", auditkeep.Filter{Terms: []auditkeep.Term{{Field: auditkeep.FieldStatus, Values: []string{"maybe"}}}}, "terms[0]"},
	}
	for _, tc := range tests {
		err := tc.f.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v; want nil", tc.name, err)
			}
			continue
		}
		if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != tc.field {
			t.Errorf("%s: Validate() = %v (field %q); want %s naming %s", tc.name, err, auditkeep.ErrorField(err), auditkeep.EINVALID, tc.field)
		}
	}
}

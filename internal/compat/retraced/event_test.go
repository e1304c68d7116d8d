package retraced

import (
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/compat/compattest"
)

// TestGolden: each testdata/NAME.json, parsed, gives the hash target and
// hash (for the id "evt_1") and the auditkeep event in NAME.golden.
func TestGolden(t *testing.T) {
	compattest.Golden(t, ".json", func(body []byte) (any, error) {
		p, err := Parse(body)
		if err != nil {
			return nil, err
		}
		return map[string]any{"hash_target": p.HashTarget("evt_1"), "hash": p.Hash("evt_1"), "event": p.Map()}, nil
	})
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ body, field string }{
		{`{"crud":"c","actor":{"id":"a"}}`, "action"},
		{`{"action":"a.b","actor":{"id":"a"}}`, "crud"},
		{`{"action":"a.b","crud":"x","actor":{"id":"a"}}`, "crud"},
		{`{"action":"A.B","crud":"c","actor":{"id":"a"}}`, "action"},
		{`{"action":"a.b","crud":"c"}`, "actor"},
		{`{"action":"a.b","crud":"c","actor":{"name":"n"}}`, "actor.id"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"group":{"name":"g"}}`, "group.id"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"target":{"type":"t"}}`, "target.id"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"created":"yesterday"}`, "created"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"source_ip":"1.2.3"}`, "source_ip"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"fields":{"n":1}}`, "fields.n"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"metadata":[]}`, "metadata"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"team":"x"}`, "team"},
		{`{"action":"a.b","crud":"c","actor":{"id":"a"},"is_failure":"yes"}`, "is_failure"},
		{`{"action":"a.b","action":"a.c","crud":"c","actor":{"id":"a"}}`, "action"},
		{`{"ACTION":"a.b","crud":"c","actor":{"id":"a"}}`, "ACTION"},
	} {
		_, err := Parse([]byte(c.body))
		v, ok := err.(*Violation)
		if !ok || v.Field != c.field || v.Message == "" {
			t.Errorf("Parse(%s) = %v; want a violation of %s", c.body, err, c.field)
		}
	}
}

func TestParseQuery(t *testing.T) {
	for _, c := range []struct{ q, want string }{
		{`action:"user.login"`, `{action [user.login]}`},
		{`action:user.* crud:c,d`, `{action [user.*]} {type [create delete]}`},
		{`actor.id:usr_1 target.type:doc target.id:d1 target.name:"Q3 plan"`, `{actor [usr_1]} {target_type [doc]} {target_id [d1]} {target [Q3 plan]}`},
	} {
		f, err := ParseQuery(c.q)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", c.q, err)
			continue
		}
		var parts []string
		for _, term := range f.Terms {
			parts = append(parts, "{"+term.Field+" ["+strings.Join(term.Values, " ")+"]}")
		}
		if got := strings.Join(parts, " "); got != c.want {
			t.Errorf("ParseQuery(%q) = %s; want %s", c.q, got, c.want)
		}
	}
	f, err := ParseQuery(`created:2026-11-01T00:00:00Z, "dry run" prod`)
	if err != nil || f.From.IsZero() || !f.To.IsZero() || len(f.Text) != 2 || !f.Text[0].Phrase || f.Text[1].Text != "prod" {
		t.Errorf("ParseQuery(created, phrase, word) = %+v, %v", f, err)
	}
	for _, q := range []string{`received:2026-11-01T00:00:00Z,`, `location:Paris`, `external_id:x`, `fields.a:b`, `crud:x`, `created:bad,`, `created:2026-11-01T00:00:00Z`, `%`} {
		if _, err := ParseQuery(q); err == nil {
			t.Errorf("ParseQuery(%q) succeeded; want it refused", q)
		}
	}
}

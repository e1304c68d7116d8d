package ijson_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

type inner struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type Embedded struct {
	Plan string `json:"plan"`
}

type doc struct {
	Embedded
	Action   string            `json:"action"`
	Actor    *inner            `json:"actor"`
	Scope    []inner           `json:"scope"`
	Filters  map[string]inner  `json:"filters"`
	Metadata json.RawMessage   `json:"metadata"`
	At       time.Time         `json:"at"`
	Skipped  string            `json:"-"`
	Tags     map[string]string `json:"tags"`
	Untagged int
}

func TestCheck(t *testing.T) {
	s := ijson.SchemaOf(&doc{})
	for _, tc := range []struct {
		body, prefix string
		field, msg   string // "" when accepted
	}{
		{`{"action":"a.create","actor":{"id":"u"}}`, "", "", ""},
		{`{"action":"a.create","action":"a.delete"}`, "", "action", "duplicate member"},
		{`{"action":"a.create","action":"a.delete"}`, "events[2]", "events[2].action", "duplicate member"},
		{`{"ACTION":"a.create"}`, "events[0]", "events[0].ACTION", `unknown member "ACTION" (did you mean "action"?)`},
		{`{"Action":"a"}`, "", "Action", `did you mean "action"?`},
		{`{"actor":{"ID":"u"}}`, "", "actor.ID", `did you mean "id"?`},
		{`{"actor":{"id":"u","id":"v"}}`, "", "actor.id", "duplicate member"},
		{`{"scope":[{"id":"a"},{"id":"b","Name":"x"}]}`, "", "scope[1].Name", `did you mean "name"?`},
		{`{"filters":{"Actor":{"id":"x"},"b":{"NAME":"y"}}}`, "", "filters.b.NAME", `did you mean "name"?`},
		{`{"filters":{"a":{},"a":{}}}`, "", "filters.a", "duplicate member"},
		{`{"tags":{"Env":"x","env":"y"}}`, "", "", ""},
		{`{"metadata":{"Action":1,"a":{"b":[{"c":1,"c":2}]}}}`, "", "metadata.a.b[0].c", "duplicate member"},
		{`{"metadata":{"action":1,"Action":2}}`, "", "", ""},
		{`{"PLAN":"x"}`, "", "PLAN", `did you mean "plan"?`},
		{`{"untagged":1}`, "", "untagged", `did you mean "Untagged"?`},
		{`{"Untagged":1,"at":"2026-01-01T00:00:00Z","Skipped":"x"}`, "", "", ""},
		{`{"\u0061ction":"a","action":"b"}`, "", "action", "duplicate member"},
		{`{"unknown":1}`, "", "", ""}, // the decoder names unknown members
		{`{"action":`, "", "", ""},    // and syntax errors
		{` { "action" : "a" , "action" : "b" } `, "", "action", "duplicate member"},
	} {
		checkCase(t, ijson.Check([]byte(tc.body), s, tc.prefix), tc.body, tc.field, tc.msg)
	}
}

// checkCase fails t unless err is nil (field "") or an EINVALID naming
// field whose message has msg.
func checkCase(t *testing.T, err error, body, field, msg string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("Check(%s) = %v; want nil", body, err)
		}
		return
	}
	if auditkeep.ErrorCode(err) != auditkeep.EINVALID || auditkeep.ErrorField(err) != field || !strings.Contains(err.Error(), msg) {
		t.Errorf("Check(%s) = %v (field %q); want invalid naming %q with %q", body, err, auditkeep.ErrorField(err), field, msg)
	}
}

func TestCheckFree(t *testing.T) {
	if err := ijson.Check([]byte(`[{"a":1},{"a":1,"b":{"a":2,"A":3}}]`), nil, ""); err != nil {
		t.Errorf("Check = %v; want nil", err)
	}
	err := ijson.Check([]byte(`[{"a":1},{"b":{"x":2,"x":3}}]`), nil, "")
	if auditkeep.ErrorField(err) != "[1].b.x" {
		t.Errorf("Check = %v (field %q); want [1].b.x", err, auditkeep.ErrorField(err))
	}
}

func TestCheckLargeObject(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 200 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	ok := b.String()[:b.Len()-1] + "}"
	if err := ijson.Check([]byte(ok), nil, ""); err != nil {
		t.Errorf("Check of 200 members = %v; want nil", err)
	}
	dup := b.String() + `"k150":1}`
	if err := ijson.Check([]byte(dup), nil, ""); auditkeep.ErrorField(err) != "k150" {
		t.Errorf("Check of a repeated k150 = %v; want it named", err)
	}
}

func TestCheckIJSON(t *testing.T) {
	s := ijson.SchemaOf(&doc{})
	for _, tc := range []struct {
		body, field, msg string // field "" when accepted
	}{
		{`{"action":"caf\u00e9 \ud83d\ude00 é 😀","metadata":{"n":[0,1,-1,0.1,1.5e300,1e21,123456789012345,9007199254740992,1.0,1E2,-0.5,0.0,2e-5]}}`, "", ""},
		{`{"action":"\ud800"}`, "action", `lone surrogate (\ud800)`},
		{`{"action":"a\udc00b"}`, "action", `lone surrogate (\udc00)`},
		{`{"action":"\ud800\u0041"}`, "action", `lone surrogate (\ud800)`},
		{`{"action":"\ud800"}`, "action", `lone surrogate`},
		{`{"action":"\uFFFE"}`, "action", "noncharacter U+FFFE"},
		{`{"action":"\uffff"}`, "action", "noncharacter U+FFFF"},
		{`{"action":"\ufdd0"}`, "action", "noncharacter U+FDD0"},
		{"{\"action\":\"a\uffffb\"}", "action", "noncharacter U+FFFF"},
		{"{\"action\":\"\ufdef\"}", "action", "noncharacter U+FDEF"},
		{`{"action":"\ud83f\udffe"}`, "action", "noncharacter U+1FFFE"},
		{"{\"action\":\"\U0010ffff\"}", "action", "noncharacter U+10FFFF"},
		{`{"metadata":{"a":{"b":["x","\ud800"]}}}`, "metadata.a.b[1]", "lone surrogate"},
		{`{"metadata":{"\ud800":1}}`, "metadata", "a member name has a lone surrogate"},
		{`{"metadata":{"n":9007199254740993}}`, "metadata.n", "it would read as 9007199254740992"},
		{`{"metadata":{"n":-0}}`, "metadata.n", "negative zero"},
		{`{"metadata":{"n":-0.0e5}}`, "metadata.n", "negative zero"},
		{`{"metadata":{"n":1e400}}`, "metadata.n", "beyond the range of a double"},
		{`{"metadata":{"n":1e-400}}`, "metadata.n", "it would read as 0"},
		{`{"metadata":{"n":0.1000000000000000055511151231257827}}`, "metadata.n", "it would read as 0.1"},
		{`{"metadata":{"n":12345678901234567890}}`, "metadata.n", "more precision than a double holds"},
		{`{"metadata":{"n":0e999999999999999}}`, "", ""},
	} {
		checkCase(t, ijson.Check([]byte(tc.body), s, ""), tc.body, tc.field, tc.msg)
	}
}

// FuzzCheck: Check never panics, on JSON or not.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"action":"a","actor":{"id":"\ud800"},"metadata":{"n":1e5}}`))
	f.Add([]byte(`{"a":"\u12`))
	f.Add([]byte(`[1.2.3, -, "\ud800\u`))
	s := ijson.SchemaOf(&doc{})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ijson.Check(b, s, "x")
		if err != nil && auditkeep.ErrorCode(err) != auditkeep.EINVALID {
			t.Errorf("Check(%q) = %v; want nil or EINVALID", b, err)
		}
	})
}

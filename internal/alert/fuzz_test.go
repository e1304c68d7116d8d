package alert_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
)

// FuzzCompile feeds rules' match and condition from anywhere (the API
// takes them from a tenant's admin): Compile either refuses them with an
// EINVALID error naming match or condition, or returns a rule that
// evaluates any event without panicking, true, false or an error.
func FuzzCompile(f *testing.F) {
	for _, r := range alert.DefaultRules("acme", time.Unix(0, 0)) {
		f.Add(r.Match, r.Condition)
	}
	f.Add("actor:alice -status:success \"prod db\" depl*", `event.actor.id.startsWith("u_") && size(event.changes) > 0`)
	f.Add("ip:203.0.113.0/24", `event.metadata.request.path.matches("^/api/")`)
	f.Add("action:", `event.`)
	f.Add("(", `[1,2,3].all(x, x > 0) ? true : 1/0 == 0`)
	f.Add("type:delete", `event.changes.map(c, c.new).exists(v, v == "admin")`)
	f.Add("a", strings.Repeat("[", 200))
	e := &auditkeep.Event{Tenant: "acme", ID: "e1", Seq: 1, OccurredAt: time.Unix(1700000000, 0).UTC(), Action: "member.role.update",
		Type: auditkeep.TypeUpdate, Actor: auditkeep.Actor{Type: "user", ID: "u_1", Name: "Alice"}, Status: auditkeep.StatusSuccess,
		Context: auditkeep.Context{IP: "203.0.113.7"}, Target: &auditkeep.Target{Type: "user", ID: "u_2"},
		Changes:  []auditkeep.Change{{Field: "role", Op: "changed", Old: json.RawMessage(`"viewer"`), New: json.RawMessage(`"admin"`)}},
		Metadata: json.RawMessage(`{"request":{"path":"/api/x","n":[1,2.5,null,true]}}`)}
	f.Fuzz(func(t *testing.T, match, cond string) {
		r := &auditkeep.AlertRule{ID: "alr_f", Tenant: "acme", Name: "fuzz", Match: match, Condition: cond,
			Threshold: 1, Severity: auditkeep.SeverityLow, Enabled: true, Version: 1}
		c, err := alert.Compile(r)
		if err != nil {
			if auditkeep.ErrorCode(err) != auditkeep.EINVALID {
				t.Fatalf("Compile(%q, %q) = %v (%s); want EINVALID", match, cond, err, auditkeep.ErrorCode(err))
			}
			if fld := auditkeep.ErrorField(err); fld != "match" && fld != "condition" {
				t.Fatalf("Compile(%q, %q) error names %q; want match or condition", match, cond, fld)
			}
			return
		}
		c.Matches(e, &alert.Input{})
	})
}

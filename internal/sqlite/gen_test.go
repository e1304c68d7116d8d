package sqlite

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
)

// BenchEvents returns n realistic events of tenant starting at seq-like
// index start: 200 users and 20 API tokens, 40 actions, 10,000 targets in
// projects → environments → services, 1,000 IPs, descriptions, changes and
// snapshots, 500 B–2 KiB of JSON each. Deterministic for (start, n).
func BenchEvents(tenant string, start, n int) []*auditkeep.Event {
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	verbs := []string{"create", "update", "delete", "read", "deploy", "restart", "login", "logout"}
	nouns := []string{"project", "environment", "service", "database", "token", "secret", "user", "pod"}
	events := make([]*auditkeep.Event, n)
	for i := range events {
		idx := start + i
		r := rand.New(rand.NewPCG(uint64(idx), 42))
		noun := nouns[r.IntN(5)+r.IntN(4)] // skewed
		verb := verbs[r.IntN(len(verbs))]
		action := noun + "." + verb
		typ := auditkeep.TypeInfo
		switch verb {
		case "create", "update", "delete", "read", "login", "logout":
			typ = verb
		case "deploy", "restart":
			typ = auditkeep.TypeExecute
		}
		var actor auditkeep.Actor
		if r.IntN(4) == 0 {
			tok := r.IntN(20)
			actor = auditkeep.Actor{Type: auditkeep.ActorAPIToken, ID: fmt.Sprintf("tok_%d", tok), Name: fmt.Sprintf("ci-token-%d", tok)}
		} else {
			u := int(r.ExpFloat64()*30) % 200
			actor = auditkeep.Actor{Type: auditkeep.ActorUser, ID: fmt.Sprintf("usr_%d", u), Name: fmt.Sprintf("User Number%d", u), Email: fmt.Sprintf("user%d@example.com", u)}
		}
		prj, env, svc := r.IntN(20), r.IntN(5), r.IntN(10)
		tid := r.IntN(10000)
		target := &auditkeep.Target{Type: noun, ID: fmt.Sprintf("%s_%d", noun[:3], tid), Name: fmt.Sprintf("%s-%d", noun, tid)}
		status := auditkeep.StatusSuccess
		if r.IntN(20) == 0 {
			status = auditkeep.StatusFailure
		}
		at := base.Add(time.Duration(idx)*250*time.Millisecond + time.Duration(r.IntN(1000)))
		e := &auditkeep.Event{
			Tenant: tenant, ReceivedAt: at.Add(20 * time.Millisecond),
			ID:         fmt.Sprintf("evt_%08d_%016x", idx, r.Uint64()),
			OccurredAt: at, Action: action, Type: typ, Actor: actor, Target: target,
			Scope: []auditkeep.ScopeEntry{
				{Type: "project", ID: fmt.Sprintf("prj_%d", prj), Name: fmt.Sprintf("Project %d", prj)},
				{Type: "environment", ID: fmt.Sprintf("env_%d_%d", prj, env), Name: []string{"production", "staging", "dev", "qa", "preview"}[env]},
				{Type: "service", ID: fmt.Sprintf("svc_%d_%d_%d", prj, env, svc)},
			},
			Team:    []string{"platform", "billing", "security", "data"}[r.IntN(4)],
			Source:  []string{"console", "api", "cli", "terraform"}[r.IntN(4)],
			Context: auditkeep.Context{IP: fmt.Sprintf("203.0.%d.%d", r.IntN(4), r.IntN(250)), UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"},
			Status:  status,
		}
		e.Description = fmt.Sprintf("%s %s '%s' in %s", strings.ToUpper(verb[:1])+verb[1:], noun, target.Name, e.Scope[1].Name)
		if verb == "update" {
			e.Changes = []auditkeep.Change{
				{Field: "settings.cpu", Op: auditkeep.ChangeChanged, Old: json.RawMessage(fmt.Sprint(250 * (1 + r.IntN(4)))), New: json.RawMessage(fmt.Sprint(250 * (1 + r.IntN(4))))},
				{Field: "env.LOG_LEVEL", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"hmac-sha256:5d41402abc4b2a76b9719d911017c592"`), New: json.RawMessage(`"hmac-sha256:7d793037a0760186574b0282f2f435e7"`)},
			}
		}
		if r.IntN(10) < 7 {
			var snap strings.Builder
			fmt.Fprintf(&snap, `{"id":%q,"name":%q,"cpu":%d,"memory":%d,"min_instances":1,"max_instances":%d,"auto_deploy":true,"ports":[{"internal":8080,"external":443,"protocol":"HTTP","public":true}]`,
				target.ID, target.Name, 250*(1+r.IntN(4)), 256*(1+r.IntN(8)), 1+r.IntN(10))
			if r.IntN(2) == 0 {
				snap.WriteString(`,"environment_variables":[`)
				for j := range 4 + r.IntN(8) {
					if j > 0 {
						snap.WriteByte(',')
					}
					fmt.Fprintf(&snap, `{"key":"VAR_%d","value":"hmac-sha256:%016x%016x","scope":"SERVICE"}`, j, r.Uint64(), r.Uint64())
				}
				snap.WriteByte(']')
			}
			fmt.Fprintf(&snap, `,"created_at":"2026-09-%02dT10:00:00Z","git_repository":{"url":"https://git.example.com/acme/%s.git","branch":"main","root_path":"/"}}`, 1+r.IntN(28), target.Name)
			e.Snapshot = json.RawMessage(snap.String())
		}
		events[i] = e
	}
	return events
}

package format

import (
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep"
)

// ECSVersion is the Elastic Common Schema version the ecs format writes.
const ECSVersion = "8.11.0"

// ecs writes an event as an Elastic Common Schema document: event.action,
// event.outcome, event.sequence (the event's seq), user.* (the actor; and
// user.target.* when the target is an account), source.ip,
// user_agent.original, organization.id (the tenant). What ECS has no field
// for, and the stream's fields, are under the custom field set auditkeep.
type ecs struct{}

func init() { formats["ecs"] = ecs{} }

func (ecs) Name() string { return "ecs" }

type ecsDoc struct {
	Timestamp    string        `json:"@timestamp"`
	ECS          ecsVersion    `json:"ecs"`
	Event        ecsEvent      `json:"event"`
	Message      string        `json:"message,omitempty"`
	User         ecsUser       `json:"user"`
	Source       *ecsSource    `json:"source,omitempty"`
	UserAgent    *ecsUserAgent `json:"user_agent,omitempty"`
	Organization ecsOrg        `json:"organization"`
	Tags         []string      `json:"tags,omitempty"`
	Auditkeep    ecsAuditkeep  `json:"auditkeep"`
}

type ecsVersion struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Outcome  string   `json:"outcome"`
	Sequence int64    `json:"sequence"`
	ID       string   `json:"id"`
	Created  string   `json:"created"`
	Module   string   `json:"module"`
	Dataset  string   `json:"dataset"`
}

type ecsUser struct {
	ID     string         `json:"id"`
	Name   string         `json:"name,omitempty"`
	Email  string         `json:"email,omitempty"`
	Target *ecsTargetUser `json:"target,omitempty"`
}

type ecsTargetUser struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type ecsSource struct {
	IP string `json:"ip"`
}

type ecsUserAgent struct {
	Original string `json:"original"`
}

type ecsOrg struct {
	ID string `json:"id"`
}

type ecsAuditkeep struct {
	Fields
	ActorType string                 `json:"actor_type"`
	Type      string                 `json:"type"`
	Source    string                 `json:"source,omitempty"`
	Team      string                 `json:"team,omitempty"`
	Target    *auditkeep.Target      `json:"target,omitempty"`
	Scope     []auditkeep.ScopeEntry `json:"scope,omitempty"`
	Changes   []auditkeep.Change     `json:"changes,omitempty"`
}

func (ecs) Encode(r Record) ([]byte, error) {
	e := r.Event
	if e == nil {
		return nil, fmt.Errorf("format: ecs: record without an event")
	}
	d := ecsDoc{
		Timestamp: rfc3339(e.OccurredAt),
		ECS:       ecsVersion{Version: ECSVersion},
		Event: ecsEvent{
			Kind: "event", Action: e.Action, Outcome: e.Status, Sequence: e.Seq, ID: e.ID,
			Created: rfc3339(e.ReceivedAt), Module: Product, Dataset: Product + ".audit",
		},
		Message:      e.Description,
		User:         ecsUser{ID: e.Actor.ID, Name: e.Actor.Name, Email: e.Actor.Email},
		Organization: ecsOrg{ID: e.Tenant},
		Auditkeep: ecsAuditkeep{
			Fields: FieldsOf(r), ActorType: e.Actor.Type, Type: e.Type, Source: e.Source, Team: e.Team,
			Target: e.Target, Scope: e.Scope, Changes: e.Changes,
		},
	}
	if e.Status != auditkeep.StatusSuccess && e.Status != auditkeep.StatusFailure {
		d.Event.Outcome = "unknown"
	}
	if e.Context.IP != "" {
		d.Source = &ecsSource{IP: e.Context.IP}
	}
	if e.Context.UserAgent != "" {
		d.UserAgent = &ecsUserAgent{Original: e.Context.UserAgent}
	}
	if r.Test {
		d.Tags = []string{"test"}
	}
	account := e.Target != nil && isAccount(e.Target.Type)
	if account {
		d.User.Target = &ecsTargetUser{ID: e.Target.ID, Name: e.Target.Name}
	}
	d.Event.Category, d.Event.Type = ecsCategory(e.Type, account)
	js, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("format: ecs: %w", err)
	}
	return js, nil
}

// ecsCategory is event.category and event.type for an event type: logins
// and logouts are authentication start and end, changes to accounts iam,
// anything else configuration.
func ecsCategory(typ string, account bool) ([]string, []string) {
	switch typ {
	case auditkeep.TypeLogin:
		return []string{"authentication"}, []string{"start"}
	case auditkeep.TypeLogout:
		return []string{"authentication"}, []string{"end"}
	}
	var t string
	switch typ {
	case auditkeep.TypeCreate:
		t = "creation"
	case auditkeep.TypeUpdate:
		t = "change"
	case auditkeep.TypeDelete:
		t = "deletion"
	case auditkeep.TypeRead:
		t = "access"
	default:
		t = "info"
	}
	if account {
		if t == "access" {
			t = "info"
		}
		return []string{"iam"}, []string{"user", t}
	}
	return []string{"configuration"}, []string{t}
}

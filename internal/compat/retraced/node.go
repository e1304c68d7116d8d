package retraced

import (
	"encoding/json"
	"sort"

	"github.com/auditkeep/auditkeep"
)

// Node is an event as Retraced's GraphQL search answers it (the Event type
// of retraced src/handlers/graphql/schema.ts; retraced-go graphql.go
// EventNode reads it). Absent values are nil pointers (null).
type Node struct {
	ID            string
	Action        string
	CRUD          *string
	Description   *string
	IsFailure     bool
	IsAnonymous   bool
	SourceIP      *string
	Received      string
	Created       string
	CanonicalTime string
	Component     *string
	Version       *string
	ExternalID    *string
	Fields        []KeyValue
	Metadata      []KeyValue
	Group         *NodeGroup
	Actor         *NodeActor
	Target        *NodeTarget
	Raw           string
	Display       *Display
	// Country and the subdivisions come from a geo-IP lookup auditkeep
	// does not make: always null.
	Country, LocSubdiv1, LocSubdiv2 *string
}

// Display is the event's display text: its description.
type Display struct{ Markdown *string }

// KeyValue is one entry of a Retraced string map.
type KeyValue struct{ Key, Value string }

// NodeGroup is the group of a Node.
type NodeGroup struct{ ID, Name string }

// NodeActor is the actor of a Node.
type NodeActor struct {
	ID, Name string
	Href     *string
	Fields   []KeyValue
}

// NodeTarget is the target of a Node.
type NodeTarget struct {
	ID, Name, Type string
	Href           *string
	Fields         []KeyValue
}

var typeCRUD = map[string]string{auditkeep.TypeCreate: "c", auditkeep.TypeRead: "r", auditkeep.TypeUpdate: "u", auditkeep.TypeDelete: "d"}

// NodeOf returns the Retraced view of a stored event: what Map stored, read
// back (an event sent through auditkeep's own API reads as well, with what
// has a counterpart).
func NodeOf(e *auditkeep.Event) *Node {
	var x Extra
	if len(e.Metadata) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(e.Metadata, &m) == nil && m[ExtraKey] != nil {
			_ = json.Unmarshal(m[ExtraKey], &x)
		}
	}
	n := &Node{ID: e.ID, Action: e.Action, IsFailure: e.Status == auditkeep.StatusFailure, IsAnonymous: x.IsAnonymous,
		Received: TimeString(e.ReceivedAt), Created: TimeString(e.OccurredAt), CanonicalTime: TimeString(e.OccurredAt),
		Fields: pairs(x.Fields), Metadata: pairs(x.Metadata),
		Description: opt(e.Description), SourceIP: opt(e.Context.IP), Component: opt(x.Component), Version: opt(x.Version),
		ExternalID: opt(x.ExternalID)}
	if c, ok := typeCRUD[e.Type]; ok {
		n.CRUD = &c
	}
	for _, s := range e.Scope {
		if s.Type == GroupScope {
			n.Group = &NodeGroup{ID: s.ID, Name: s.Name}
		}
	}
	if !(x.IsAnonymous && e.Actor.ID == AnonymousActor) {
		name := e.Actor.Name
		if name == "" {
			name = e.Actor.Email
		}
		n.Actor = &NodeActor{ID: e.Actor.ID, Name: name, Href: opt(x.ActorHref), Fields: pairs(x.ActorFields)}
	}
	if e.Target != nil {
		n.Target = &NodeTarget{ID: e.Target.ID, Name: e.Target.Name, Type: e.Target.Type, Href: opt(x.TargetHref), Fields: pairs(x.TargetFields)}
	}
	n.Display = &Display{Markdown: n.Description}
	n.Raw = n.raw()
	return n
}

// raw is the event as a Retraced client would have sent it, rebuilt from
// what is stored (redacted values stay redacted).
func (n *Node) raw() string {
	ev := map[string]any{"action": n.Action, "created": n.Created}
	if n.CRUD != nil {
		ev["crud"] = *n.CRUD
	}
	if n.Group != nil {
		ev["group"] = map[string]any{"id": n.Group.ID, "name": n.Group.Name}
	}
	if n.Actor != nil {
		a := map[string]any{"id": n.Actor.ID, "name": n.Actor.Name}
		if n.Actor.Href != nil {
			a["href"] = *n.Actor.Href
		}
		if len(n.Actor.Fields) > 0 {
			a["fields"] = object(n.Actor.Fields)
		}
		ev["actor"] = a
	}
	if n.Target != nil {
		t := map[string]any{"id": n.Target.ID, "name": n.Target.Name, "type": n.Target.Type}
		if n.Target.Href != nil {
			t["href"] = *n.Target.Href
		}
		if len(n.Target.Fields) > 0 {
			t["fields"] = object(n.Target.Fields)
		}
		ev["target"] = t
	}
	for k, v := range map[string]*string{"description": n.Description, "source_ip": n.SourceIP, "component": n.Component,
		"version": n.Version, "external_id": n.ExternalID} {
		if v != nil {
			ev[k] = *v
		}
	}
	if n.IsFailure {
		ev["is_failure"] = true
	}
	if n.IsAnonymous {
		ev["is_anonymous"] = true
	}
	if len(n.Fields) > 0 {
		ev["fields"] = object(n.Fields)
	}
	if len(n.Metadata) > 0 {
		ev["metadata"] = object(n.Metadata)
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

func object(kv []KeyValue) map[string]string {
	m := make(map[string]string, len(kv))
	for _, p := range kv {
		m[p.Key] = p.Value
	}
	return m
}

func pairs(m map[string]string) []KeyValue {
	if m == nil {
		return nil
	}
	out := make([]KeyValue, 0, len(m))
	for k, v := range m {
		out = append(out, KeyValue{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

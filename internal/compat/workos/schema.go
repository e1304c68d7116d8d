package workos

import (
	"encoding/json"
	"fmt"

	"github.com/auditkeep/auditkeep/internal/compat"
)

// Schema is the body of POST /audit_logs/actions/{action}/schemas
// (workos-go AuditLogsCreateSchemaParams; workos-node serializes the same
// shape): JSON Schemas of the event's, the actor's and each target type's
// metadata.
type Schema struct {
	Actor    *SchemaActor    `json:"actor,omitempty"`
	Targets  []*SchemaTarget `json:"targets"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// SchemaActor holds the actor's metadata schema.
type SchemaActor struct {
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// SchemaTarget is one target type and its metadata schema.
type SchemaTarget struct {
	Type     string          `json:"type"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// ParseSchema decodes a create-schema body: targets is required, each with
// a type. It returns a *FieldError.
func ParseSchema(raw []byte) (*Schema, error) {
	var s Schema
	if err := compat.Decode(raw, &s); err != nil {
		return nil, DecodeError(err)
	}
	if s.Targets == nil {
		return nil, required("targets")
	}
	for i, t := range s.Targets {
		if t == nil || t.Type == "" {
			return nil, required(fmt.Sprintf("targets[%d].type", i))
		}
	}
	return &s, nil
}

// CatalogSchema is the JSON Schema the action catalog holds for s: it
// checks the metadata Map stores — the event's metadata, the actor's, and
// that each target is of one of s's types with its metadata — and keeps
// s itself under "x-workos" to answer with.
func (s *Schema) CatalogSchema(raw []byte) ([]byte, error) {
	props := map[string]any{}
	if len(s.Metadata) > 0 {
		props["metadata"] = s.Metadata
	}
	if s.Actor != nil && len(s.Actor.Metadata) > 0 {
		props["actor_metadata"] = s.Actor.Metadata
	}
	var kinds []any
	for _, t := range s.Targets {
		k := map[string]any{"type": "object", "required": []string{"type"},
			"properties": map[string]any{"type": map[string]any{"const": t.Type}}}
		if len(t.Metadata) > 0 {
			k["properties"].(map[string]any)["metadata"] = t.Metadata
		}
		kinds = append(kinds, k)
	}
	if len(kinds) > 0 {
		props["targets"] = map[string]any{"type": "array", "items": map[string]any{"anyOf": kinds}}
	}
	var original any
	if err := json.Unmarshal(raw, &original); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"type":     "object",
		"required": []string{ExtraKey},
		"properties": map[string]any{ExtraKey: map[string]any{
			"type": "object", "properties": props,
		}},
		"x-workos": original,
	})
}

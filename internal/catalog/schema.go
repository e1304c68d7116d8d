package catalog

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
	"github.com/auditkeep/auditkeep/internal/ijson"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is where a schema is compiled from. Relative references resolve
// against it, to URLs that the loader refuses like every other.
// Messages show URLs relative to its base.
const (
	schemaBase = "https://auditkeep.invalid/"
	schemaURL  = schemaBase + "schema.json"
)

// printer renders the validator's messages; it holds no state between calls.
var printer = message.NewPrinter(language.English)

// noLoader refuses every URL: schemas may refer only inside themselves and
// to the drafts' metaschemas (which the library embeds). Nothing is read from
// the network or the file system.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("references outside the schema are not loaded")
}

// parseSchema checks a schema's size, depth and syntax and decodes it, with
// numbers kept exact.
func parseSchema(b []byte) (any, error) {
	if len(b) > MaxSchemaBytes {
		return nil, &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: "schema",
			Message: fmt.Sprintf("schema is %d bytes; at most %d", len(b), MaxSchemaBytes)}
	}
	if !utf8.Valid(b) {
		return nil, auditkeep.FieldErrorf("schema", "schema is not valid UTF-8")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, auditkeep.FieldErrorf("schema", "schema is empty; send a JSON Schema object as the request body")
	}
	if d := ijson.Depth(b); d > MaxSchemaDepth {
		return nil, auditkeep.FieldErrorf("schema", "schema is nested deeper than %d levels", MaxSchemaDepth)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, auditkeep.FieldErrorf("schema", "schema is not valid JSON: %v", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, auditkeep.FieldErrorf("schema", "schema must be a JSON object (or true or false)")
	}
	return doc, nil
}

// compile compiles a decoded schema: draft 2020-12 unless its $schema names
// another draft, with format assertions on. Returns EINVALID naming "schema"
// with the compiler's message.
func compile(doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, compileError(doc, err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, compileError(doc, err)
	}
	return sch, nil
}

// compileError turns a compiler error into an EINVALID naming "schema".
func compileError(doc any, err error) error {
	var sve *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if errors.As(err, &sve) && errors.As(sve.Err, &ve) {
		field, msg, more := describe(ve, doc, "schema")
		return auditkeep.FieldErrorf("schema", "schema is not a valid JSON Schema: %s: %s%s", field, msg, andMore(more))
	}
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		return auditkeep.FieldErrorf("schema", "schema refers to %s, which is not loaded: a schema may refer only inside itself ($defs, $anchor) and to the JSON Schema drafts' own metaschemas", hideBase(le.URL))
	}
	return auditkeep.FieldErrorf("schema", "schema does not compile: %s", hideBase(err.Error()))
}

// hideBase removes the schema's internal base URL from a message.
func hideBase(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, schemaURL, ""), schemaBase, "")
}

// canonical returns the JSON text b with object keys sorted and no spacing,
// so that two texts of one schema compare equal.
func canonical(b []byte) (string, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(doc) // sorts keys; json.Number keeps its text
	return string(out), err
}

// compactJSON returns b without insignificant spacing.
func compactJSON(b []byte) (json.RawMessage, error) {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, auditkeep.FieldErrorf("schema", "schema is not valid JSON: %v", err)
	}
	return out.Bytes(), nil
}

// validateMetadata validates an event's metadata (absent: {}) against the
// schema of action's version. Returns EINVALID naming the offending place
// inside "metadata".
func validateMetadata(sch *jsonschema.Schema, action string, version int, raw json.RawMessage) error {
	var inst any = map[string]any{}
	if len(raw) > 0 {
		var err error
		if inst, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			return auditkeep.FieldErrorf("metadata", "metadata is not valid JSON: %v", err)
		}
	}
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate metadata of %q: %v", action, err)
	}
	field, msg, more := describe(ve, inst, "metadata")
	return auditkeep.FieldErrorf(field, "%s: %s (schema of action %s version %d)%s", field, msg, action, version, andMore(more))
}

func andMore(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "; and 1 more problem"
	}
	return fmt.Sprintf("; and %d more problems", n)
}

// describe picks the first problem of a validation error — in order of the
// instance location, so the answer does not vary — and returns the path of
// the place it names inside inst (rooted at root), its message and how many
// other problems there are. The alternatives of a failed anyOf or oneOf are
// summed up in its message.
func describe(ve *jsonschema.ValidationError, inst any, root string) (field, msg string, more int) {
	ts := terminals(ve, nil)
	first := ts[0]
	field = pathOf(root, inst, first.InstanceLocation)
	if r, ok := first.ErrorKind.(*kind.Required); ok && len(r.Missing) > 0 {
		// Name the missing field itself.
		field = changes.JoinKey(field, r.Missing[0])
	}
	return field, problem(first, inst, root), len(ts) - 1
}

// terminals collects the problems under e that are reported on their own:
// the leaves, and the anyOf and oneOf nodes (whose alternatives are no
// problems on their own), sorted by instance location and message.
func terminals(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	start := len(out)
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		return append(out, e)
	}
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = terminals(c, out)
	}
	slices.SortStableFunc(out[start:], func(a, b *jsonschema.ValidationError) int {
		return cmp.Or(slices.Compare(a.InstanceLocation, b.InstanceLocation),
			strings.Compare(kindMessage(a), kindMessage(b)))
	})
	return out
}

// problem renders one terminal problem.
func problem(e *jsonschema.ValidationError, inst any, root string) string {
	m := kindMessage(e)
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
		if len(e.Causes) == 0 {
			return m
		}
		var alts []string
		for i, c := range e.Causes {
			if i == 3 {
				alts = append(alts, "…")
				break
			}
			ts := terminals(c, nil)
			a := problem(ts[0], inst, root)
			if !slices.Equal(ts[0].InstanceLocation, e.InstanceLocation) {
				a = pathOf(root, inst, ts[0].InstanceLocation) + ": " + a
			}
			alts = append(alts, a)
		}
		m += ": " + strings.Join(alts, "; or ")
	}
	return m
}

func kindMessage(e *jsonschema.ValidationError) string {
	if _, ok := e.ErrorKind.(*kind.FalseSchema); ok {
		return "not allowed by the schema"
	}
	return e.ErrorKind.LocalizedString(printer)
}

// pathOf renders a location inside inst as a field path below root:
// "metadata.tags[2]", "metadata[\"odd key\"]".
func pathOf(root string, inst any, tokens []string) string {
	p, v := root, inst
	for _, tok := range tokens {
		switch x := v.(type) {
		case []any:
			p += "[" + tok + "]"
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(x) {
				v = x[i]
			} else {
				v = nil
			}
		case map[string]any:
			p, v = changes.JoinKey(p, tok), x[tok]
		default:
			p, v = changes.JoinKey(p, tok), nil
		}
	}
	return p
}

package auditkeep

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Limits of an event's parts, as README.md states them under "Events".
// Lengths are in bytes.
const (
	MaxIDBytes          = 128  // an event's id
	MaxTextBytes        = 256  // actor id and name, target type, id and name, scope entries, team
	MaxEmailBytes       = 320  // actor email
	MaxSourceBytes      = 64   // source
	MaxUserAgentBytes   = 1024 // context.user_agent
	MaxDescriptionBytes = 4096 // description
	MaxScopeLevels      = 8    // scope entries
	MaxChanges          = 1000 // changes
	MaxChangeFieldBytes = 512  // a change's field
	// MaxJSONDepth bounds how deeply objects and arrays nest in a request
	// body (the event, or the batch around it); deeper bodies are refused
	// before they are decoded.
	MaxJSONDepth = 64
)

// The limits of a request by default (DefaultLimits).
const (
	DefaultMaxBatchEvents   = 1000
	DefaultMaxBatchBytes    = 5 << 20
	DefaultMaxEventBytes    = 64 << 10
	DefaultMaxMetadataBytes = 16 << 10
	DefaultMaxFutureSkew    = 24 * time.Hour
)

// Limits bound what one request may carry.
type Limits struct {
	MaxBatchEvents   int // events per request
	MaxBatchBytes    int // bytes per request body
	MaxEventBytes    int // bytes per event, as sent
	MaxMetadataBytes int // bytes of one event's metadata
	MaxFutureSkew    time.Duration
}

// DefaultLimits are the limits stated under "Events" in README.md.
func DefaultLimits() Limits {
	return Limits{
		MaxBatchEvents:   DefaultMaxBatchEvents,
		MaxBatchBytes:    DefaultMaxBatchBytes,
		MaxEventBytes:    DefaultMaxEventBytes,
		MaxMetadataBytes: DefaultMaxMetadataBytes,
		MaxFutureSkew:    DefaultMaxFutureSkew,
	}
}

// Validate reports the first rule of README.md's "Events" that e breaks,
// its parts checked in the order of the event's fields: an EINVALID (an
// ETOOLARGE for metadata over lim.MaxMetadataBytes) whose Field is the
// path of the offending part ("actor.id", "scope[2].type") and whose
// message begins with it. e is an event as it is stored, its defaults
// applied (an id, occurred_at, type, actor type and status set): an event
// from a sender is decoded and given its defaults first, as ingest does.
// now is the time the event is received, which occurred_at may exceed by
// at most lim.MaxFutureSkew. Validate does not check what only a store
// or the ledger knows: that Before, Snapshot, Metadata and the changes'
// values are JSON that RFC 8785 can encode.
func (e *Event) Validate(now time.Time, lim Limits) error {
	for _, check := range [...]func() error{
		e.validateID,
		func() error { return e.validateOccurredAt(now, lim.MaxFutureSkew) },
		e.validateAction,
		e.Actor.validate,
		func() error { return e.Target.validate() },
		e.validateScope,
		e.validateTeamSource,
		e.Context.validate,
		e.validateStatus,
		e.validateDescription,
		func() error { return e.validateDocuments(lim.MaxMetadataBytes) },
		e.validateChanges,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// invalid returns an EINVALID naming field, its message the field and then
// the formatted text.
func invalid(field, format string, args ...any) error {
	return FieldErrorf(field, "%s %s", field, fmt.Sprintf(format, args...))
}

// checkText checks a text part of an event, field (see textProblem).
func checkText(field, s string, max int, ident bool) error {
	if p := textProblem(s, max, ident); p != "" {
		return invalid(field, "%s", p)
	}
	return nil
}

// textProblem says what keeps s from being a text part of an event, or
// "": more than max bytes, a control character (tab and newline allowed
// unless ident) or, for an identifier, a space at either end.
func textProblem(s string, max int, ident bool) string {
	if len(s) > max {
		return fmt.Sprintf("is longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 && (ident || r != '\n' && r != '\t') || r == 0x7f {
			return "contains a control character"
		}
	}
	if ident && strings.TrimSpace(s) != s {
		return "has leading or trailing spaces"
	}
	return ""
}

func (e *Event) validateID() error {
	if e.ID == "" {
		return invalid("id", "is required")
	}
	return checkText("id", e.ID, MaxIDBytes, true)
}

func (e *Event) validateOccurredAt(now time.Time, skew time.Duration) error {
	switch {
	case e.OccurredAt.Year() < 1970:
		return invalid("occurred_at", "is before 1970")
	case e.OccurredAt.After(now.Add(skew)):
		return invalid("occurred_at", "is more than %s in the future", skew)
	}
	return nil
}

// validateAction checks the action and the type.
func (e *Event) validateAction() error {
	switch {
	case e.Action == "":
		return invalid("action", "is required (a lowercase dotted name such as token.create)")
	case !ValidAction(e.Action):
		return invalid("action", "%q is not a lowercase dotted name such as token.create", e.Action)
	case !slices.Contains(Types, e.Type):
		return invalid("type", "%q is not one of %s", e.Type, strings.Join(Types, ", "))
	}
	return nil
}

func (a *Actor) validate() error {
	if *a == (Actor{}) {
		return invalid("actor", "is required")
	}
	if a.ID == "" {
		return invalid("actor.id", "is required")
	}
	if err := checkText("actor.id", a.ID, MaxTextBytes, true); err != nil {
		return err
	}
	if !slices.Contains(ActorTypes, a.Type) {
		return invalid("actor.type", "%q is not one of %s", a.Type, strings.Join(ActorTypes, ", "))
	}
	if err := checkText("actor.name", a.Name, MaxTextBytes, false); err != nil {
		return err
	}
	if a.Email != "" && !emailLike(a.Email) {
		return invalid("actor.email", "%q is not an email address", a.Email)
	}
	return nil
}

// emailLike reports whether s has the shape of an email address: one '@'
// inside it, no space, no angle bracket or quote.
func emailLike(s string) bool {
	return len(s) <= MaxEmailBytes && strings.Count(s, "@") == 1 && !strings.HasPrefix(s, "@") &&
		!strings.HasSuffix(s, "@") && !strings.ContainsAny(s, " \t\r\n<>\"")
}

// validate checks an event's target; nil is no target. Deleted is the
// store's to set on read: an event given with it is refused.
func (t *Target) validate() error {
	if t == nil {
		return nil
	}
	switch {
	case t.Deleted:
		return invalid("target.deleted", "is set by the server; leave it out")
	case t.Type == "":
		return invalid("target.type", "is required when target is given")
	case t.ID == "":
		return invalid("target.id", "is required when target is given")
	}
	return first(
		checkText("target.type", t.Type, MaxTextBytes, true),
		checkText("target.id", t.ID, MaxTextBytes, true),
		checkText("target.name", t.Name, MaxTextBytes, false))
}

func (e *Event) validateScope() error {
	if len(e.Scope) > MaxScopeLevels {
		return invalid("scope", "has %d levels; at most %d", len(e.Scope), MaxScopeLevels)
	}
	for i := range e.Scope {
		if err := e.Scope[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

// validate checks level i of a scope.
func (s *ScopeEntry) validate(i int) error {
	name := func(sub string) string { return fmt.Sprintf("scope[%d]%s", i, sub) }
	switch {
	case s.Type == "":
		return invalid(name(".type"), "is required")
	case s.ID == "":
		return invalid(name(".id"), "is required")
	case strings.ContainsAny(s.Type, ":/") || strings.Contains(s.ID, "/"):
		return invalid(name(""), "type may not contain ':' or '/', id may not contain '/'")
	}
	for _, t := range [...]struct {
		sub, s string
		ident  bool
	}{{".type", s.Type, true}, {".id", s.ID, true}, {".name", s.Name, false}} {
		if p := textProblem(t.s, MaxTextBytes, t.ident); p != "" {
			return invalid(name(t.sub), "%s", p)
		}
	}
	return nil
}

func (e *Event) validateTeamSource() error {
	if err := checkText("team", e.Team, MaxTextBytes, false); err != nil {
		return err
	}
	if e.Source != "" && !sourceWord(e.Source) {
		return invalid("source", "%q is not a word such as console, api, cli, terraform, git or system", e.Source)
	}
	return nil
}

// sourceWord reports whether s is a source: letters, digits, '-', '_'
// and '.', at most MaxSourceBytes.
func sourceWord(s string) bool {
	if len(s) > MaxSourceBytes {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (c *Context) validate() error {
	if c.IP != "" {
		if _, err := netip.ParseAddr(c.IP); err != nil {
			return invalid("context.ip", "%q is not an IP address", c.IP)
		}
	}
	return checkText("context.user_agent", c.UserAgent, MaxUserAgentBytes, false)
}

func (e *Event) validateStatus() error {
	if e.Status != StatusSuccess && e.Status != StatusFailure {
		return invalid("status", "%q is not success or failure", e.Status)
	}
	return nil
}

func (e *Event) validateDescription() error {
	return checkText("description", e.Description, MaxDescriptionBytes, false)
}

// validateDocuments checks before and snapshot (a JSON object or array
// when present) and metadata (an object, at most maxMetadata bytes).
func (e *Event) validateDocuments(maxMetadata int) error {
	for _, d := range [...]struct {
		name       string
		raw        []byte
		objectOnly bool
	}{{"before", e.Before, false}, {"snapshot", e.Snapshot, false}, {"metadata", e.Metadata, true}} {
		switch {
		case len(d.raw) == 0 || d.raw[0] == '{':
		case d.objectOnly:
			return invalid(d.name, "must be a JSON object")
		case d.raw[0] != '[':
			return invalid(d.name, "must be a JSON object or array")
		}
	}
	if len(e.Metadata) > maxMetadata {
		return &Error{Code: ETOOLARGE, Field: "metadata",
			Message: fmt.Sprintf("metadata is %d bytes; at most %d", len(e.Metadata), maxMetadata)}
	}
	return nil
}

func (e *Event) validateChanges() error {
	if len(e.Changes) > MaxChanges {
		return invalid("changes", "has %d entries; at most %d", len(e.Changes), MaxChanges)
	}
	for i := range e.Changes {
		if err := e.Changes[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

// validate checks change i.
func (c *Change) validate(i int) error {
	name := func(sub string) string { return fmt.Sprintf("changes[%d].%s", i, sub) }
	if c.Field == "" {
		return invalid(name("field"), "is required")
	}
	if p := textProblem(c.Field, MaxChangeFieldBytes, true); p != "" {
		return invalid(name("field"), "%s", p)
	}
	switch c.Op {
	case ChangeAdded, ChangeRemoved, ChangeChanged:
		return nil
	}
	return invalid(name("op"), "%q is not added, removed or changed", c.Op)
}

// first returns the first of errs that is not nil.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// WithinField returns err with the field it names, and the message that
// begins with it, placed inside prefix ("events[3]": "actor.id" becomes
// "events[3].actor.id"), as for the errors of Event.Validate of an event
// in a batch. Other errors, and any when prefix is "", are returned as
// they are.
func WithinField(err error, prefix string) error {
	var fe *Error
	if prefix == "" || !errors.As(err, &fe) || fe.Field == "" || !strings.HasPrefix(fe.Message, fe.Field) {
		return err
	}
	c := *fe
	c.Field, c.Message = prefix+"."+fe.Field, prefix+"."+fe.Message
	return &c
}

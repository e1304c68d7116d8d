package auditkeep

import (
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Filter fields: the keys accepted as query parameters and as `key:value` terms of `q`.
const (
	FieldAction     = "action"      // exact, or a prefix ending in "*"
	FieldType       = "type"        // one of Types
	FieldActor      = "actor"       // actor id, email or name
	FieldActorType  = "actor_type"  // one of ActorTypes
	FieldTargetType = "target_type" // exact
	FieldTargetID   = "target_id"   // exact
	FieldTarget     = "target"      // target name, exact (case-insensitive)
	FieldScope      = "scope"       // "project:prj_1" or "project:prj_1/environment:env_7", prefix match
	FieldTeam       = "team"        // exact
	FieldIP         = "ip"          // address or CIDR
	FieldSource     = "source"      // exact
	FieldStatus     = "status"      // success or failure
)

// TermFields lists the fields a Term may name.
var TermFields = []string{FieldAction, FieldType, FieldActor, FieldActorType, FieldTargetType,
	FieldTargetID, FieldTarget, FieldScope, FieldTeam, FieldIP, FieldSource, FieldStatus}

// Orders.
const (
	OrderDesc = "desc"
	OrderAsc  = "asc"
)

// Sorts: the key a page is ordered by.
const (
	// SortTime orders by occurred_at, seq breaking ties: the default of
	// GET /v1/events, the console and the CLI.
	SortTime = "occurred_at"
	// SortSeq orders by seq, the commit order: gap-free, so a reader that
	// resumes after a seq never misses an event committed later, whatever
	// its occurred_at. Export, the stream and every internal reader use it.
	SortSeq = "seq"
)

// Limits of a page.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects events of one tenant. All conditions are AND-ed. Events are
// ordered by Sort (Seq, the default, or OccurredAt then Seq): newest first
// (OrderDesc, the default) or oldest first.
type Filter struct {
	From   time.Time  // occurred_at >= From, when not zero
	To     time.Time  // occurred_at <= To, when not zero
	Terms  []Term     // AND-ed
	Text   []TextTerm // full-text terms, AND-ed
	Limit  int        // page size, 1..MaxLimit; 0 means DefaultLimit
	Cursor *Cursor    // where the previous page ended; nil for the first page
	Order  string     // OrderDesc ("" too) or OrderAsc
	Sort   string     // SortSeq ("" too) or SortTime
}

// Term matches events whose Field equals any of Values (or, when Negate, none of them).
type Term struct {
	Field  string
	Values []string
	Negate bool
}

// TextTerm is a full-text word or phrase matched, case-insensitively, against
// the actor's name and email, the target's name, the action, the team, the IP
// and the description. Prefix makes the last word of Text match as a prefix.
type TextTerm struct {
	Text   string
	Phrase bool
	Prefix bool
	Negate bool
}

// Cursor is the position after which the next page starts: the last
// event's Seq and, for SortTime, its OccurredAt (At, Unix nanoseconds).
type Cursor struct {
	Seq   int64
	Order string
	Sort  string // "" (SortSeq) or SortTime
	At    int64  // occurred_at of the event at Seq, in Unix nanoseconds (SortTime only)
}

// Encode returns the cursor's opaque string form: version 1 for SortSeq
// (its form since the first release), version 2 for SortTime.
func (c Cursor) Encode() string {
	b := make([]byte, 0, 21)
	if c.Sort == SortTime {
		b = append(b, 2)
	} else {
		b = append(b, 1)
	}
	if c.Order == OrderAsc {
		b = append(b, 'a')
	} else {
		b = append(b, 'd')
	}
	b = binary.AppendUvarint(b, uint64(c.Seq))
	if c.Sort == SortTime {
		b = binary.AppendVarint(b, c.At)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor made by Encode. It returns EINVALID for
// anything else.
func DecodeCursor(s string) (*Cursor, error) {
	bad := FieldErrorf("cursor", "cursor is not valid; use next_cursor from a previous page")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || (b[0] != 1 && b[0] != 2) || (b[1] != 'a' && b[1] != 'd') {
		return nil, bad
	}
	seq, n := binary.Uvarint(b[2:])
	if n <= 0 || seq > 1<<62 {
		return nil, bad
	}
	c := &Cursor{Seq: int64(seq), Order: OrderDesc}
	if b[1] == 'a' {
		c.Order = OrderAsc
	}
	rest := b[2+n:]
	if b[0] == 2 {
		at, m := binary.Varint(rest)
		if m <= 0 {
			return nil, bad
		}
		c.Sort, c.At, rest = SortTime, at, rest[m:]
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return c, nil
}

// Desc reports whether the filter orders newest first.
func (f *Filter) Desc() bool { return f.Order != OrderAsc }

// ByTime reports whether the filter orders by occurred_at.
func (f *Filter) ByTime() bool { return f.Sort == SortTime }

// After returns the cursor of the page after the one ending with e, in
// f's order and sort.
func (f *Filter) After(e *Event) *Cursor {
	c := &Cursor{Seq: e.Seq, Order: OrderDesc}
	if !f.Desc() {
		c.Order = OrderAsc
	}
	if f.ByTime() {
		c.Sort, c.At = SortTime, e.OccurredAt.UnixNano()
	}
	return c
}

// Validate returns EINVALID, naming the field, for a filter that no store
// runs; every store runs every other filter, and returns the same events
// for it. The rules:
//   - Order is OrderDesc, OrderAsc or "" (OrderDesc); Sort is SortSeq,
//     SortTime or "" (SortSeq). Anything else names "order" or "sort".
//   - A Cursor was made for the filter's order and sort: its Order ""
//     is OrderDesc and its Sort "" SortSeq, as the filter's are. Another
//     names "cursor".
//   - Each term names one of TermFields and holds at least one value, each
//     of which ValidateTermValue accepts; the error names "terms[i]".
//
// What the rules leave open is not an error: From after To matches
// nothing, a Limit outside 1..MaxLimit is read as PageSize says, and a text
// term without a letter or digit matches every event (it is ignored).
func (f *Filter) Validate() error {
	if f.Order != "" && f.Order != OrderAsc && f.Order != OrderDesc {
		return FieldErrorf("order", "order must be asc or desc")
	}
	if f.Sort != "" && f.Sort != SortSeq && f.Sort != SortTime {
		return FieldErrorf("sort", "sort must be %s or %s", SortTime, SortSeq)
	}
	if c := f.Cursor; c != nil {
		order := c.Order
		if order == "" {
			order = OrderDesc
		}
		if order != f.orderOrDefault() {
			return FieldErrorf("cursor", "cursor was made for order=%s", order)
		}
		if c.Sort != "" && c.Sort != SortSeq && c.Sort != SortTime {
			return FieldErrorf("cursor", "cursor was made for an unknown sort")
		}
		if (c.Sort == SortTime) != f.ByTime() {
			sort := c.Sort
			if sort == "" {
				sort = SortSeq
			}
			return FieldErrorf("cursor", "cursor was made for sort=%s; repeat that sort with it", sort)
		}
	}
	for i, t := range f.Terms {
		name := "terms[" + strconv.Itoa(i) + "]"
		if !slices.Contains(TermFields, t.Field) {
			return FieldErrorf(name, "unknown filter %q", t.Field)
		}
		if len(t.Values) == 0 {
			return FieldErrorf(name, "filter %q has no value", t.Field)
		}
		for _, v := range t.Values {
			if err := ValidateTermValue(t.Field, name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// PageSize returns the effective limit.
func (f *Filter) PageSize() int {
	if f.Limit <= 0 {
		return DefaultLimit
	}
	return min(f.Limit, MaxLimit)
}

// Values returns the values of the non-negated terms of field, flattened.
func (f *Filter) Values(field string) []string {
	var out []string
	for _, t := range f.Terms {
		if t.Field == field && !t.Negate {
			out = append(out, t.Values...)
		}
	}
	return out
}

var (
	actionRe = regexp.MustCompile(`^[a-z0-9_]+(?:[.\-][a-z0-9_]+)*$`)
	scopeRe  = regexp.MustCompile(`^[^:/]+:[^/]+(?:/[^:/]+:[^/]+)*$`)
)

// ValidAction reports whether s is a lowercase dotted action name such as "token.create".
func ValidAction(s string) bool { return len(s) <= 128 && actionRe.MatchString(s) }

// ValidateTermValue checks one value of a filter term. It returns EINVALID naming name.
func ValidateTermValue(field, name, v string) error {
	if v == "" {
		return FieldErrorf(name, "%s must not be empty", name)
	}
	if len(v) > 512 {
		return FieldErrorf(name, "%s is longer than 512 bytes", name)
	}
	switch field {
	case FieldAction:
		a := strings.TrimSuffix(v, "*")
		a = strings.TrimSuffix(a, ".")
		if a == "" && strings.HasSuffix(v, "*") {
			return nil // "*" matches every action
		}
		if !ValidAction(a) {
			return FieldErrorf(name, "%s %q is not an action name (lowercase dotted words, optionally ending in *)", name, v)
		}
	case FieldType:
		if !slices.Contains(Types, v) {
			return FieldErrorf(name, "%s %q is not one of %s", name, v, strings.Join(Types, ", "))
		}
	case FieldActorType:
		if !slices.Contains(ActorTypes, v) {
			return FieldErrorf(name, "%s %q is not one of %s", name, v, strings.Join(ActorTypes, ", "))
		}
	case FieldStatus:
		if v != StatusSuccess && v != StatusFailure {
			return FieldErrorf(name, "%s %q is not success or failure", name, v)
		}
	case FieldIP:
		if _, err := ParseIPFilter(v); err != nil {
			return FieldErrorf(name, "%s %q is not an IP address or CIDR prefix", name, v)
		}
	case FieldScope:
		if !scopeRe.MatchString(v) {
			return FieldErrorf(name, "%s %q is not a scope path like project:prj_1/environment:env_7", name, v)
		}
	case FieldActor, FieldTargetType, FieldTargetID, FieldTarget, FieldTeam, FieldSource:
	default:
		return FieldErrorf(name, "unknown filter %q", field)
	}
	return nil
}

// ParseIPFilter parses an address ("203.0.113.7") or a CIDR prefix ("203.0.113.0/24").
func ParseIPFilter(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IPRange returns the first and the last address of the prefix p: an IP
// filter matches the addresses from first to last, both included.
func IPRange(p netip.Prefix) (first, last netip.Addr) {
	first = p.Masked().Addr()
	b := first.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ = netip.AddrFromSlice(b)
	return first, last
}

// ParseTime parses an RFC 3339 time, or a date (YYYY-MM-DD, as UTC midnight).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	return t.UTC(), err
}

// ParseFilterParams reads the filter query parameters listed under "Filters" in
// README.md (every one but q, which the search package parses). A parameter may
// repeat or hold comma-separated values; its values are OR-ed. Errors are
// EINVALID naming the parameter.
func ParseFilterParams(q url.Values) (Filter, error) {
	var f Filter
	for name, vals := range q {
		switch name {
		case "from", "to":
			if len(vals) != 1 {
				return f, FieldErrorf(name, "%s may be given once", name)
			}
			t, err := ParseTime(vals[0])
			if err != nil {
				return f, FieldErrorf(name, "%s %q is not an RFC 3339 time (2026-11-26T09:00:00Z) or a date", name, vals[0])
			}
			if name == "from" {
				f.From = t
			} else {
				if len(vals[0]) == len(time.DateOnly) {
					t = t.Add(24*time.Hour - time.Nanosecond) // a date as "to" includes that whole day
				}
				f.To = t
			}
		case "limit":
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 1 || n > MaxLimit || len(vals) != 1 {
				return f, FieldErrorf(name, "limit must be a whole number from 1 to %d", MaxLimit)
			}
			f.Limit = n
		case "order":
			if len(vals) != 1 || (vals[0] != OrderAsc && vals[0] != OrderDesc) {
				return f, FieldErrorf(name, "order must be asc or desc")
			}
			f.Order = vals[0]
		case "sort":
			if len(vals) != 1 || (vals[0] != SortTime && vals[0] != SortSeq) {
				return f, FieldErrorf(name, "sort must be %s or %s", SortTime, SortSeq)
			}
			f.Sort = vals[0]
		case "cursor":
			if len(vals) != 1 {
				return f, FieldErrorf(name, "cursor may be given once")
			}
			c, err := DecodeCursor(vals[0])
			if err != nil {
				return f, err
			}
			f.Cursor = c
		case "q", "format", "viewer_token", "with_proofs", "reason":
			// handled by the caller (reason: an export's stated reason)
		default:
			if !slices.Contains(TermFields, name) {
				return f, FieldErrorf(name, "unknown filter parameter %q", name)
			}
			var values []string
			for _, v := range vals {
				for _, p := range splitValues(name, v) {
					if err := ValidateTermValue(name, name, p); err != nil {
						return f, err
					}
					values = append(values, p)
				}
			}
			f.Terms = append(f.Terms, Term{Field: name, Values: values})
		}
	}
	if f.Cursor != nil && f.Cursor.Order != f.orderOrDefault() {
		return f, FieldErrorf("cursor", "cursor was made for order=%s", f.Cursor.Order)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return f, FieldErrorf("to", "to is before from")
	}
	slices.SortFunc(f.Terms, func(a, b Term) int { return strings.Compare(a.Field, b.Field) })
	return f, nil
}

func (f *Filter) orderOrDefault() string {
	if f.Order == "" {
		return OrderDesc
	}
	return f.Order
}

// splitValues splits comma-separated values, except for free-text fields
// (actor and target names may hold commas).
func splitValues(field, v string) []string {
	switch field {
	case FieldActor, FieldTarget:
		return []string{v}
	}
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// Params renders the filter back as query parameters (terms that can be
// expressed that way; negated and text terms are not). Cursor and limit are
// included.
func (f *Filter) Params() url.Values {
	q := url.Values{}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	for _, t := range f.Terms {
		if !t.Negate {
			for _, v := range t.Values {
				q.Add(t.Field, v)
			}
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Order != "" {
		q.Set("order", f.Order)
	}
	if f.Sort != "" {
		q.Set("sort", f.Sort)
	}
	if f.Cursor != nil {
		q.Set("cursor", f.Cursor.Encode())
	}
	return q
}

// Package compat holds what the receivers of other vendors' audit-log wire
// formats share: the ingest body they build from mapped events, the event
// ids they derive from a vendor's identity of an event, and the renaming of
// an ingest error's field back to the vendor's names. Each vendor's mapping
// lives in a package below this one; see "Drop-in for other audit-log
// APIs" in README.md.
package compat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ijson"
)

// Batch returns the ingest body {"events": [...]} of events: mapped
// *auditkeep.Event values, or events' JSON.
func Batch[E any](events []E) ([]byte, error) {
	return json.Marshal(struct {
		Events []E `json:"events"`
	}{events})
}

// ID derives an event id from a vendor's identity of an event: prefix, ':'
// and the identity itself when it is one short plain word, else the hex
// SHA-256 of the parts (each ended by a NUL byte, so that ("a", "bc") and
// ("ab", "c") differ). The same identity always gives the same id, so a
// vendor's retry is acknowledged as a duplicate.
func ID(prefix string, parts ...string) string {
	if len(parts) == 1 && len(parts[0]) <= 96 && plainWord(parts[0]) {
		return prefix + ":" + parts[0]
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + ":" + hex.EncodeToString(h.Sum(nil))
}

func plainWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Millis returns the time of a count of milliseconds since 1970 written as
// a JSON number ("1606929874512" or "1606929874512.0").
func Millis(n json.Number) (time.Time, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > 1e15 {
		return time.Time{}, fmt.Errorf("%s is not a count of milliseconds since 1970", n)
	}
	ms := int64(f)
	return time.UnixMilli(ms).Add(time.Duration((f - float64(ms)) * 1e6)).UTC(), nil
}

// Seconds returns the time of a count of seconds since 1970 written as a
// JSON number or a string of one ("1606929874.512").
func Seconds(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e12 {
		return time.Time{}, fmt.Errorf("%s is not a count of seconds since 1970", s)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).Round(time.Microsecond).UTC(), nil
}

// Rename returns err with its field renamed from auditkeep's event fields to
// a vendor's: the batch prefix "events[i]." is handed to prefix, which says
// what the vendor calls event i ("" for a single event), and the rest of the
// field is looked up in names, longest auditkeep path first ("target.id"
// before "target"); a path with no name keeps auditkeep's, and one named ""
// drops that part ("metadata.org" → "org" when metadata is the vendor's
// event itself). Errors that are
// not *auditkeep.Error, or name no field, are returned as they are.
func Rename(err error, prefix func(i int) string, names map[string]string) error {
	var e *auditkeep.Error
	if !errors.As(err, &e) || e.Field == "" {
		return err
	}
	field, index := e.Field, -1
	if rest, ok := strings.CutPrefix(field, "events["); ok {
		if n, after, ok := strings.Cut(rest, "]"); ok {
			if i, err := strconv.Atoi(n); err == nil {
				index, field = i, strings.TrimPrefix(after, ".")
			}
		}
	}
	renamed := field
	best := -1
	for from, to := range names {
		if (field == from || strings.HasPrefix(field, from+".") || strings.HasPrefix(field, from+"[")) && len(from) > best {
			best = len(from)
			rest := field[len(from):]
			if to == "" {
				rest = strings.TrimPrefix(rest, ".")
			}
			renamed = to + rest
		}
	}
	if index >= 0 {
		if p := prefix(index); p != "" {
			renamed = p + "." + renamed
			if field == "" {
				renamed = p
			}
		}
	}
	msg := e.Message
	if strings.HasPrefix(msg, e.Field) {
		msg = renamed + msg[len(e.Field):]
	}
	c := *e
	c.Field, c.Message = renamed, msg
	return &c
}

// Index returns the batch index named by an error's field ("events[3].…"),
// or -1.
func Index(err error) int {
	f := auditkeep.ErrorField(err)
	rest, ok := strings.CutPrefix(f, "events[")
	if !ok {
		return -1
	}
	n, _, ok := strings.Cut(rest, "]")
	if !ok {
		return -1
	}
	i, err2 := strconv.Atoi(n)
	if err2 != nil {
		return -1
	}
	return i
}

// TypeOfWord returns the event type a verb of a vendor's event name says
// ("created", "destroy", "removed", "login"), or "".
func TypeOfWord(word string) string {
	switch strings.ToLower(word) {
	case "create", "created", "add", "added", "creation", "insert", "inserted":
		return auditkeep.TypeCreate
	case "update", "updated", "change", "changed", "edit", "edited", "modify", "modified", "renamed", "transfer", "transferred", "patch", "patched", "replace", "replaced":
		return auditkeep.TypeUpdate
	case "delete", "deleted", "destroy", "destroyed", "remove", "removed", "revoke", "revoked":
		return auditkeep.TypeDelete
	case "read", "get", "list", "view", "viewed", "accessed", "watch", "download", "downloaded":
		return auditkeep.TypeRead
	case "execute", "executed", "run", "ran", "exec", "invoke", "invoked", "trigger", "triggered":
		return auditkeep.TypeExecute
	case "login", "signin", "authenticate", "authenticated":
		return auditkeep.TypeLogin
	case "logout", "signout":
		return auditkeep.TypeLogout
	}
	return ""
}

// Decode reads raw into v (a pointer to a struct) as strictly as auditkeep
// reads its own bodies: I-JSON, every member spelled as v's JSON names and
// known to v. It returns an EINVALID naming the field; an unknown member is
// named without its path (encoding/json gives none) and its message ends
// "is not a known field"; a body that is not JSON names "body".
func Decode(raw []byte, v any) error {
	if err := ijson.Check(raw, ijson.SchemaOf(v), ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return auditkeep.FieldErrorf("body", "the body holds more than one JSON value")
		}
		return nil
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		field := ute.Field
		if field == "" {
			field = "body"
		}
		return auditkeep.FieldErrorf(field, "%s must be %s", field, jsonKind(ute.Type.Kind().String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name = strings.Trim(name, `"`); name == "" {
			return auditkeep.FieldErrorf("body", "a member with an empty name is not a known field")
		}
		return auditkeep.FieldErrorf(name, "%s is not a known field", name)
	}
	return auditkeep.FieldErrorf("body", "the body is not JSON: %v", err)
}

// jsonKind names the JSON value a Go kind reads.
func jsonKind(goKind string) string {
	switch goKind {
	case "ptr", "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "a number"
}

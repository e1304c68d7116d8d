package search

import (
	"fmt"

	"github.com/auditkeep/auditkeep"
)

// Error is a syntax or validation error in a query. Pos is the byte offset
// into the query where the problem starts (0 <= Pos <= len(q)), or -1 for
// an error of the whole query (its length); Msg says what is wrong; Hint,
// when not empty, suggests a fix.
//
// An *Error converts to an EINVALID *auditkeep.Error naming the field "q",
// either with AuditkeepError or through errors.As, so auditkeep.ErrorCode,
// ErrorMessage and ErrorField treat it like any other validation error.
type Error struct {
	Pos  int
	Msg  string
	Hint string
}

// Error returns the message with its position, and the hint if any:
// `unknown key "actr" at 0; did you mean "actor"?`.
func (e *Error) Error() string {
	s := e.Msg
	if e.Pos >= 0 {
		s = fmt.Sprintf("%s at %d", e.Msg, e.Pos)
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// AuditkeepError returns the error as an EINVALID *auditkeep.Error naming
// the field "q", whose message is e.Error().
func (e *Error) AuditkeepError() *auditkeep.Error {
	return &auditkeep.Error{Code: auditkeep.EINVALID, Field: "q", Message: e.Error()}
}

// As lets errors.As convert e into an *auditkeep.Error (see AuditkeepError).
func (e *Error) As(target any) bool {
	if t, ok := target.(**auditkeep.Error); ok {
		*t = e.AuditkeepError()
		return true
	}
	return false
}

func errorAt(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

package auditkeep

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status in a single table.
const (
	EINVALID      = "invalid"      // 400: the input is malformed or breaks a rule
	EUNAUTHORIZED = "unauthorized" // 401: no credentials or unknown credentials
	EFORBIDDEN    = "forbidden"    // 403: wrong scope or wrong tenant
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // 409: the thing already exists
	ETOOLARGE     = "too_large"    // 413
	ERATELIMITED  = "rate_limited" // 429
	EUNAVAILABLE  = "unavailable"  // 503: storage cannot be reached; retry later
	EINTERNAL     = "internal"     // 500: a defect; details are logged, not shown
	// ELEDGERBROKEN (500): the tenant's stored ledger is missing or does not
	// match itself; it is neither extended nor signed until an operator
	// rebuilds it. The message says what is wrong and how to rebuild.
	ELEDGERBROKEN = "ledger_broken"
)

// Error is the one error type of auditkeep. Field names the offending input
// (for a batch, with its index: "events[3].actor.id").
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error // the underlying cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error naming field.
func FieldErrorf(field string, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps a storage failure that the client may retry.
func Unavailable(err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "storage unavailable", Err: err}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error,
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message safe to show a client: the *Error's message,
// or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field named by err, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

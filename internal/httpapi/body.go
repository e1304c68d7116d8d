package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/auditkeep/auditkeep"
)

// limitBody returns r's body limited to max bytes. A request that declares a
// longer body in its Content-Length is answered ETOOLARGE naming field at
// once, before any of the body is read (which a client that waits for an
// answer before sending would never do), and its connection is closed after
// the answer. A body longer than it declared fails its read with
// *http.MaxBytesError, which bodyError turns into the same ETOOLARGE.
func limitBody(w http.ResponseWriter, r *http.Request, field string, max int64) (io.Reader, error) {
	if r.ContentLength > max {
		w.Header().Set("Connection", "close")
		return nil, tooLarge(field, max)
	}
	return http.MaxBytesReader(w, r.Body, max), nil
}

// bodyError translates the error of reading a body from limitBody:
// ETOOLARGE past the limit, else EINVALID, both naming field.
func bodyError(err error, field string, max int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(field, max)
	}
	return auditkeep.FieldErrorf(field, "could not read the request body: %v", err)
}

func tooLarge(field string, max int64) error {
	size := fmt.Sprintf("%d bytes", max)
	switch {
	case max >= 1<<20 && max%(1<<20) == 0:
		size = fmt.Sprintf("%d MiB", max>>20)
	case max >= 1<<10 && max%(1<<10) == 0:
		size = fmt.Sprintf("%d KiB", max>>10)
	}
	return &auditkeep.Error{Code: auditkeep.ETOOLARGE, Field: field, Message: "request body is larger than " + size}
}

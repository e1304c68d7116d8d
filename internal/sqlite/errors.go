package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/auditkeep/auditkeep"
	modernc "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dbError translates an error of the database or of reading what it holds.
// Errors that say the database cannot serve now are EUNAVAILABLE: busy or
// locked, out of memory, I/O, a full disk, a file that cannot be opened or
// written, an interrupted statement, a closed database, the end of the
// request's context, and failures of the file system. Anything else (an
// SQL defect, a broken constraint, a corrupt database or row) is a defect:
// an internal error, which the client should not retry. It returns nil for
// nil and leaves an *auditkeep.Error and sql.ErrNoRows as they are.
func dbError(err error) error {
	var ae *auditkeep.Error
	if err == nil || errors.As(err, &ae) || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if unavailableError(err) {
		return auditkeep.Unavailable(err)
	}
	return fmt.Errorf("sqlite: %w", err)
}

func unavailableError(err error) bool {
	var se *modernc.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_INTERRUPT,
			sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOLFS:
			return true
		}
		return false
	}
	var pe *fs.PathError
	var errno syscall.Errno
	return errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &pe) || errors.As(err, &errno) ||
		// database/sql's error for a closed *sql.DB is not exported.
		strings.Contains(err.Error(), "sql: database is closed")
}

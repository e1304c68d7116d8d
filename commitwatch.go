package auditkeep

import (
	"sync/atomic"
	"time"
)

// CommitWatch tells a function how long each COMMIT of a store's appends
// took: the part of a group commit that waits for the disk (the WAL written
// and fsynced by SQLite with synchronous=FULL, or flushed by PostgreSQL
// with synchronous_commit=on). Stores embed it; the zero value tells no one.
type CommitWatch struct {
	fn atomic.Pointer[func(time.Duration)]
}

// SetCommitObserver makes fn hear the duration of each COMMIT from now on;
// fn must not block. nil stops it.
func (w *CommitWatch) SetCommitObserver(fn func(time.Duration)) {
	if fn == nil {
		w.fn.Store(nil)
		return
	}
	w.fn.Store(&fn)
}

// ObserveCommit reports a COMMIT that started at start.
func (w *CommitWatch) ObserveCommit(start time.Time) {
	if fn := w.fn.Load(); fn != nil {
		(*fn)(time.Since(start))
	}
}

package sqlite

import (
	"context"
	sqldriver "database/sql/driver"
	"fmt"
	"os"

	"github.com/auditkeep/auditkeep"
)

// Snapshot writes a copy of the whole database, consistent to one commit,
// to a new file at path (VACUUM INTO, in one read transaction of a reader:
// writers go on meanwhile). Returns EINVALID when path exists and
// EUNAVAILABLE when the copy cannot be made; a partial file is removed.
func (s *Store) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return auditkeep.Errorf(auditkeep.EINVALID, "snapshot: %s already exists", path)
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return dbError(err)
	}
	defer conn.Close()
	// Readers are query_only, which refuses VACUUM INTO although it writes
	// only its new file: this one is lifted on a connection that is then
	// closed rather than handed back to the pool.
	defer conn.Raw(func(any) error { return sqldriver.ErrBadConn })
	if _, err := conn.ExecContext(ctx, "PRAGMA query_only = OFF"); err != nil {
		return dbError(err)
	}
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		os.Remove(path)
		return dbError(fmt.Errorf("snapshot: %w", err))
	}
	return nil
}

package sqlite

// The driver is modernc.org/sqlite: SQLite translated to Go, so the binary
// stays static and cgo-free, and FTS5 is built in. See BENCHMARKS.md for
// the comparison with mattn/go-sqlite3 (cgo, FTS5 only with a build tag)
// and ncruces/go-sqlite3.
import _ "modernc.org/sqlite"

const driverName = "sqlite"

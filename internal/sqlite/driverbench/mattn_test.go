//go:build driverbench && mattn

package driverbench

import _ "github.com/mattn/go-sqlite3"

const (
	driverName = "sqlite3"
	dsnSuffix  = "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_cache_size=-65536"
)

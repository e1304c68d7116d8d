//go:build driverbench && modernc

package driverbench

import _ "modernc.org/sqlite"

const (
	driverName = "sqlite"
	dsnSuffix  = "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=cache_size(-65536)"
)

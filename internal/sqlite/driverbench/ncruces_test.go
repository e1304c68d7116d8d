//go:build driverbench && ncruces

package driverbench

import (
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/fts5"
)

func init() { sqlite3.AutoExtension(fts5.Register) }

const (
	driverName = "sqlite3"
	dsnSuffix  = "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=cache_size(-65536)"
)

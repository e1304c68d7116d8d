// Package driverbench compares the SQLite drivers auditkeep could use by
// inserting audit-shaped rows into the store's own schema. It holds only
// benchmarks, built with the tag driverbench and one driver tag:
//
//	go test -tags driverbench,modernc -bench . -run ^$ ./internal/sqlite/driverbench
//	go test -tags driverbench,ncruces -bench . -run ^$ ./internal/sqlite/driverbench
//	go test -tags driverbench,mattn,sqlite_fts5 -bench . -run ^$ ./internal/sqlite/driverbench
package driverbench

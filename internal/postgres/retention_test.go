package postgres_test

import (
	"testing"

	"github.com/auditkeep/auditkeep/internal/storetest"
)

func TestRetentionConformance(t *testing.T) {
	storetest.RunRetention(t, func(t *testing.T) storetest.RetentionStore { return newStore(t) })
}

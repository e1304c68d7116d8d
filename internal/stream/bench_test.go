package stream_test

import (
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/stream/receivertest"
)

// BenchmarkDeliverWebhook measures delivery of a backlog to a loopback
// webhook receiver from the embedded store, in batches of 100 (the
// server's default) events: go test -bench DeliverWebhook -benchtime 100000x.
func BenchmarkDeliverWebhook(b *testing.B) {
	f := newFixtureBatch(b, 500, "acme")
	secret := newSecret()
	rc := receivertest.NewWebhook(b, secret)
	f.ingest("acme", b.N)
	b.ResetTimer()
	start := time.Now()
	f.createStream("acme", "str_1", rc.URL, secret, nil)
	for rc.Count() < b.N {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

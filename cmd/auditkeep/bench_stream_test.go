package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/bench"
)

// TestBenchStream: auditkeep bench --only stream delivers its backlog and
// its steady ingest to the local webhook, every event, and says so.
func TestBenchStream(t *testing.T) {
	if testing.Short() {
		t.Skip("bench starts servers and ingests events")
	}
	code, stdout, stderr := runCLI(t, nil, "bench", "--events", "5000", "--only", "stream", "--duration", "1s", "--tmp", t.TempDir(), "--json")
	if code != exitOK {
		t.Fatalf("bench exited %d\nstderr: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	s := rep.Stream
	if s == nil || s.BacklogEvents != 1000 || s.DeliveryPerSec <= 0 || s.Batches < 1 {
		t.Fatalf("stream = %+v; want a 1,000-event backlog delivered", s)
	}
	if s.LagEvents == 0 || s.LagDelivered != s.LagEvents || s.Lag.N != s.LagEvents || s.Lag.P99 < s.Lag.P50 {
		t.Errorf("stream lag = %+v; want every steady event delivered and its lag", s)
	}
	code, stdout, _ = runCLI(t, nil, "bench", "--events", "5000", "--only", "stream", "--duration", "1s", "--tmp", t.TempDir())
	if code != exitOK || !strings.Contains(stdout, "Stream to a local webhook") || !strings.Contains(stdout, "backlog: 1000 events delivered") {
		t.Errorf("bench text = %d\n%s", code, stdout)
	}
}

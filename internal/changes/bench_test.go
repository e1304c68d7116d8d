package changes_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
	"github.com/auditkeep/auditkeep/internal/cputime"
	"github.com/auditkeep/auditkeep/internal/demo"
)

// bigDoc returns an object of n services, each with settings, env and labels.
func bigDoc(n, v int) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"services":[`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"svc-%d","settings":{"cpu":%d,"memory":512,"ports":[80,443]},"env":{"LOG_LEVEL":"info","API_KEY":"k-%d-%d"},"labels":{"team":"ml"}}`, i, v, i, v)
	}
	b.WriteString(`]}`)
	return json.RawMessage(b.String())
}

func BenchmarkRedactEvent(b *testing.B) {
	r, err := changes.NewRedactor(changes.DefaultRules(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	before, after := bigDoc(500, 1), bigDoc(500, 2)
	b.SetBytes(int64(len(before) + len(after)))
	for b.Loop() {
		e := &auditkeep.Event{Before: before, Snapshot: after}
		if err := r.RedactEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedactDemoEvents redacts, under the default rules, the events of
// the demo generator (a cloud platform's history: snapshots, before states,
// environment variables, labels). Compare cpu-µs/event and allocations: the
// wall-clock time depends on what else the machine runs.
func BenchmarkRedactDemoEvents(b *testing.B) {
	r, err := changes.NewRedactor(changes.DefaultRules(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	g := demo.New(1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), demo.Options{})
	events := make([]auditkeep.Event, 1000)
	var size int
	for i := range events {
		events[i] = g.Next()
		size += len(events[i].Before) + len(events[i].Snapshot) + len(events[i].Metadata)
	}
	b.SetBytes(int64(size / len(events)))
	b.ReportAllocs()
	n := 0
	cpu := cputime.Process()
	for b.Loop() {
		e := events[n%len(events)]
		if err := r.RedactEvent(&e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64((cputime.Process()-cpu).Microseconds())/float64(n), "cpu-µs/event")
}

func BenchmarkDiff(b *testing.B) {
	before, after := bigDoc(500, 1), bigDoc(500, 2)
	b.SetBytes(int64(len(before) + len(after)))
	for b.Loop() {
		if _, err := changes.Diff(before, after); err != nil {
			b.Fatal(err)
		}
	}
}

package bench_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep/internal/bench"
)

func msList(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", msList(7), 99, 7 * time.Millisecond},
		{"median of two is the lower", msList(1, 2), 50, time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p95 of 1..100", hundred, 95, 95 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"p99 of ten is the max", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of ten", msList(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
		{"tiny p is the min", msList(3, 4, 5), 0.001, 3 * time.Millisecond},
	} {
		if got := bench.Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: Percentile(%v, %v) = %v; want %v", tc.name, tc.sorted, tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	sample := make([]time.Duration, 1000)
	for i := range sample {
		sample[i] = time.Duration(i+1) * time.Microsecond // 1 µs .. 1 ms; mean 500.5 µs
	}
	shuffled := slices.Clone(sample)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	before := slices.Clone(shuffled)
	got := bench.Summarize(shuffled)
	want := bench.Summary{N: 1000, Min: 0.001, Mean: 0.501, P50: 0.5, P95: 0.95, P99: 0.99, Max: 1}
	if got != want {
		t.Errorf("Summarize(1..1000 µs shuffled) = %+v; want %+v", got, want)
	}
	if !slices.Equal(shuffled, before) {
		t.Error("Summarize reordered its argument")
	}
	if got := bench.Summarize(nil); got != (bench.Summary{}) {
		t.Errorf("Summarize(nil) = %+v; want the zero Summary", got)
	}
	// Negative durations (a delivery before its acknowledgement) sort first.
	neg := bench.Summarize([]time.Duration{2 * time.Millisecond, -time.Millisecond, 1 * time.Millisecond})
	if neg.Min != -1 || neg.P50 != 1 || neg.Max != 2 {
		t.Errorf("Summarize(2, -1, 1 ms) = %+v; want min -1, p50 1, max 2", neg)
	}
}

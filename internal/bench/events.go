package bench

import (
	"bytes"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/client"
	"github.com/auditkeep/auditkeep/internal/demo"
)

// source generates a demo organization's events, n of them over the last
// days, ending a few minutes ago, never in the future.
type source struct {
	gen   *demo.Generator
	limit time.Time
}

func newSource(seed int64, n int) *source {
	return newSourceEnding(seed, n, time.Now().Add(-5*time.Minute))
}

// newSourceEnding returns the source of newSource made at end plus five
// minutes: the same seed, n and end give the same events.
func newSourceEnding(seed int64, n int, end time.Time) *source {
	opts := demo.Options{EventsPerDay: max(3000, float64(n)/20)}
	return &source{gen: demo.New(seed, demo.Start(n, end, opts), opts), limit: end.Add(5 * time.Minute)}
}

// event returns the next event.
func (s *source) event() auditkeep.Event {
	e := s.gen.Next()
	if e.OccurredAt.After(s.limit) {
		e.OccurredAt = s.limit
	}
	return e
}

// next returns the next event and its JSON line, as sent.
func (s *source) next() (auditkeep.Event, []byte) {
	e := s.event()
	line, err := client.MarshalEvent(&e)
	if err != nil {
		panic(err) // the generator's events always encode
	}
	return e, line
}

// requests is a list of request bodies and what they hold.
type requests struct {
	bodies [][]byte
	lines  [][]byte // every event's JSON line, in order
	batch  int      // events per body
	ndjson int64    // bytes of the events as NDJSON
}

func (r *requests) events() int64 { return int64(len(r.lines)) }

// makeRequests generates n events from src in request bodies of batch
// events: a single event object when batch is 1, else {"events": [...]}.
func makeRequests(src *source, n, batch int) *requests {
	r := &requests{batch: batch}
	var buf bytes.Buffer
	for len(r.lines) < n {
		size := min(batch, n-len(r.lines))
		buf.Reset()
		if batch > 1 {
			buf.WriteString(`{"events":[`)
		}
		for i := range size {
			_, line := src.next()
			r.lines = append(r.lines, line)
			r.ndjson += int64(len(line)) + 1
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(line)
		}
		if batch > 1 {
			buf.WriteString(`]}`)
		}
		r.bodies = append(r.bodies, bytes.Clone(buf.Bytes()))
	}
	return r
}

package sqlite

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// BenchmarkRawInsert is the ceiling of BenchmarkAppend: the same events,
// already encoded (bodies compressed, term ids assigned, postings sorted),
// inserted into the same schema with the same multi-row statements, 1,000
// per transaction, with no dictionary, idempotency or seq work.
func BenchmarkRawInsert(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	ids := map[termKey]int64{}
	var elapsed time.Duration
	var n int64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		events := BenchEvents("acme", i*batch, batch)
		bodies, err := encodeBodies(events)
		if err != nil {
			b.Fatal(err)
		}
		var postings []posting
		var terms []termKey
		for j, e := range events {
			k := int64(1<<40 | (i*batch + j + 1))
			for _, tk := range eventTerms(terms[:0], 1, e) {
				id, ok := ids[tk]
				if !ok {
					id = int64(len(ids) + 1)
					ids[tk] = id
				}
				postings = append(postings, posting{id, k, unixNano(e.OccurredAt)})
			}
		}
		slices.SortFunc(postings, func(a, b posting) int { return cmp.Or(cmp.Compare(a.term, b.term), cmp.Compare(a.k, b.k)) })
		b.StartTimer()
		start := time.Now()
		if err := rawInsert(ctx, s, i*batch, events, bodies, postings); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(start)
		n += batch
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(s.DiskBytes())/float64(n), "disk-B/event")
}

func rawInsert(ctx context.Context, s *Store, first int, events []*auditkeep.Event, bodies [][]byte, postings []posting) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := &writeStmts{}
	defer st.closeBatches()
	ev := st.batch(ctx, tx, "INSERT INTO events (k, occurred_at, id_hash, body) VALUES ", 4, eventRows)
	ft := st.batch(ctx, tx, "INSERT INTO events_fts (rowid, actor_name, actor_email, target, action, team, ip, description) VALUES ", 8, ftsRows)
	for j, e := range events {
		k := int64(1<<40 | (first + j + 1))
		if err := ev.add(k, e.OccurredAt.UnixNano(), idHash(1, e.ID), bodies[j]); err != nil {
			return err
		}
		if err := ft.add(k, e.Actor.Name, e.Actor.Email, targetName(e), e.Action, e.Team, e.Context.IP, e.Description); err != nil {
			return err
		}
	}
	for _, b := range []*batcher{ev, ft} {
		if err := b.flush(); err != nil {
			return err
		}
	}
	if err := insertPostings(ctx, st, tx, postings); err != nil {
		return err
	}
	return tx.Commit()
}

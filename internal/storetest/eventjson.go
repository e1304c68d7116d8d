package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/auditkeep/auditkeep"
)

// EventJSONStore is a store that also yields each event's JSON as the
// export writes it (ScanEventJSON of the embedded and PostgreSQL stores).
type EventJSONStore interface {
	ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error
	ScanEventJSON(ctx context.Context, tenant string, f auditkeep.Filter, fn func(seq int64, js []byte, hashAt int) error) error
}

// CheckEventJSON holds s.ScanEventJSON(tenant, f) equal, event by event, to
// encoding/json's form of what s.ScanEvents yields, without a hash and with
// one inserted at hashAt. It returns how many events ScanEvents yielded and
// how many of them had a deleted target.
func CheckEventJSON(t *testing.T, ctx context.Context, s EventJSONStore, tenant string, f auditkeep.Filter) (n, deleted int) {
	t.Helper()
	var want []*auditkeep.Event
	if err := s.ScanEvents(ctx, tenant, f, func(e *auditkeep.Event) error {
		want = append(want, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := s.ScanEventJSON(ctx, tenant, f, func(seq int64, js []byte, hashAt int) error {
		if i >= len(want) {
			return fmt.Errorf("more events than ScanEvents: seq %d", seq)
		}
		e := want[i]
		i++
		e.Hash = "" // a stored hash is not the event's (the ledger's is)
		wj, _ := json.Marshal(e)
		if seq != e.Seq || string(js) != string(wj) {
			t.Errorf("ScanEventJSON(%s, %+v): seq %d\n%s\nwant seq %d\n%s", tenant, f, seq, js, e.Seq, wj)
		}
		e.Hash = "abc123"
		wj, _ = json.Marshal(e)
		if got := string(js[:hashAt]) + `,"hash":"abc123"` + string(js[hashAt:]); got != string(wj) {
			t.Errorf("seq %d with a hash at %d:\n%s\nwant\n%s", seq, hashAt, got, wj)
		}
		if e.Target != nil && e.Target.Deleted {
			deleted++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ScanEventJSON(%s, %+v): %v", tenant, f, err)
	}
	if i != len(want) {
		t.Errorf("ScanEventJSON(%s, %+v): %d events; want %d", tenant, f, i, len(want))
	}
	return len(want), deleted
}

// CheckEventJSONStops checks that fn's error stops s.ScanEventJSON over
// tenant (holding total events) and is returned, and that a context ending
// stops it with EUNAVAILABLE (unless fn had every event by then).
func CheckEventJSONStops(t *testing.T, ctx context.Context, s EventJSONStore, tenant string, total int) {
	t.Helper()
	stop := errors.New("stop")
	n := 0
	if err := s.ScanEventJSON(ctx, tenant, auditkeep.Filter{}, func(int64, []byte, int) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("ScanEventJSON with fn failing = %v after %d events; want stop after 1", err, n)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n = 0
	err := s.ScanEventJSON(cctx, tenant, auditkeep.Filter{}, func(int64, []byte, int) error {
		if n++; n == 10 {
			cancel()
		}
		return nil
	})
	if !(auditkeep.ErrorCode(err) == auditkeep.EUNAVAILABLE || err == nil && n == total) {
		t.Errorf("ScanEventJSON with ctx cancelled after 10 events = %v after %d of %d events; want EUNAVAILABLE, or every event", err, n, total)
	}
}

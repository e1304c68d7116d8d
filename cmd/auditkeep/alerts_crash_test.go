package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/alert"
	"github.com/auditkeep/auditkeep/internal/postgres"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// TestAlertsSurviveKill9 sends bursts of 5 failed logins, each burst by a
// new actor in one batch, to a server run as a child process, and kills
// it with SIGKILL mid-evaluation, cycle after cycle. After a last restart
// the failed_logins default has raised exactly one alert of count 5 for
// every burst acknowledged (none lost), and no burst has two (none twice,
// none extended by a re-evaluation). On PostgreSQL two nodes run at once,
// so that evaluation moves between them as they die.
func TestAlertsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and runs the binary")
	}
	forEachStore(t, testAlertsSurviveKill9)
}

func testAlertsSurviveKill9(t *testing.T, cfg Config) {
	n, nodeArgs := crashNodes(cfg)
	env := []string{"AUDITKEEP_STREAM_KEY=stream-key-for-tests-0123456789", "AUDITKEEP_ALERTS=true"}
	nodes := make([]*child, n)
	for i := range nodes {
		nodes[i] = startChild(t, env, nodeArgs(i)...)
	}
	key := setupTenant(t, nodes[0].url, "acme")
	var mu sync.Mutex
	acked := map[string]bool{} // actors whose burst was acknowledged
	at := time.Now().UTC().Add(-time.Hour)
	burst := func(cycle, w, i int) bool {
		actor := fmt.Sprintf("u_c%d_w%d_%d", cycle, w, i)
		var batch []any
		for j := range 5 {
			e := event(fmt.Sprintf("%s-%d", actor, j), "user.login", actor)
			e["status"], e["type"] = "failure", "login"
			e["occurred_at"] = at.Add(time.Duration(i*10+j) * time.Second).Format(time.RFC3339Nano)
			batch = append(batch, e)
		}
		mu.Lock()
		u := nodes[(w+i)%n].url
		mu.Unlock()
		r, err := http.DefaultClient.Do(mustReq("POST", u+"/v1/events", key, map[string]any{"events": batch}))
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			return true
		}
		r.Body.Close()
		if r.StatusCode == 200 {
			mu.Lock()
			acked[actor] = true
			mu.Unlock()
		}
		return true
	}
	for cycle := range crashCycles(t) {
		stop := workers(4, func(w, i int) bool { return burst(cycle, w, i) })
		time.Sleep(700 * time.Millisecond)
		i := cycle % n
		mu.Lock()
		old := nodes[i]
		mu.Unlock()
		old.kill9(t)
		if n == 1 {
			stop()
		}
		c := startChild(t, env, nodeArgs(i)...)
		mu.Lock()
		nodes[i] = c
		mu.Unlock()
		if n > 1 {
			stop()
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged: the test proved nothing")
	}

	// Read the store beside the running nodes once they have evaluated
	// the whole log.
	_, lastSeq := storedLog(t, nodes[0].url, key)
	st := openTestStore(t, cfg)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, state, err := st.LeaseAlertEvaluator(context.Background(), "acme", "observer", time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		if state.Cursor >= lastSeq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evaluator stayed at seq %d of %d", state.Cursor, lastSeq)
		}
		time.Sleep(50 * time.Millisecond)
	}
	byActor := map[string][]*auditkeep.Alert{}
	f := auditkeep.AlertFilter{RuleID: "alr_default_failed_logins", Limit: auditkeep.MaxLimit}
	for {
		page, next, err := st.ListAlerts(context.Background(), "acme", f)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			byActor[a.GroupKey["actor"]] = append(byActor[a.GroupKey["actor"]], a)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	for actor := range acked {
		if len(byActor[actor]) != 1 {
			t.Errorf("acknowledged burst of %s raised %d alerts; want 1", actor, len(byActor[actor]))
		}
	}
	for actor, as := range byActor {
		for _, a := range as {
			if a.Count != 5 || len(a.EventIDs) != 5 || a.EventIDs[0] != actor+"-0" {
				t.Errorf("alert of %s: count %d, events %v; want its 5", actor, a.Count, a.EventIDs)
			}
		}
		if len(as) > 1 {
			t.Errorf("%s has %d alerts; want 1", actor, len(as))
		}
	}
	t.Logf("%d bursts acknowledged, %d alerts", len(acked), len(byActor))
}

// openTestStore opens cfg's store beside a running server, for reading.
func openTestStore(t *testing.T, cfg Config) alert.Store {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var st alert.Store
	var err error
	if cfg.DatabaseURL != "" {
		var p *postgres.Store
		p, err = postgres.Open(context.Background(), cfg.DatabaseURL, postgres.WithLogger(log))
		if err == nil {
			st = p
			t.Cleanup(func() { p.Close() })
		}
	} else {
		var s *sqlite.Store
		s, err = sqlite.Open(context.Background(), cfg.DataDir, sqlite.WithLogger(log))
		if err == nil {
			st = s
			t.Cleanup(func() { s.Close() })
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

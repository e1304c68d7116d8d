package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditkeep/auditkeep/internal/bench"
)

// TestBenchSmoke runs `auditkeep bench` with tiny sizes and checks that the
// report holds every measurement asked for, and that the run leaves no
// storage behind.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("bench starts servers and ingests events")
	}
	tmp := t.TempDir()
	code, stdout, stderr := runCLI(t, nil, "bench", "--events", "2000", "--only", "ingest,query", "--query-reps", "3",
		"--duration", "5s", "--tmp", tmp, "--json")
	if code != exitOK {
		t.Fatalf("bench exited %d\nstderr: %s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	if rep.Machine.Cores < 1 || rep.Machine.GoVersion == "" || rep.Machine.Store != "sqlite" {
		t.Errorf("machine = %+v; want cores, Go version and store sqlite", rep.Machine)
	}
	if len(rep.Ingest) != 5 {
		t.Fatalf("%d ingest rows; want 5", len(rep.Ingest))
	}
	for _, r := range rep.Ingest {
		if r.Events <= 0 || r.EventsPerSec <= 0 || r.Ack.N == 0 || r.Ack.P99 < r.Ack.P50 {
			t.Errorf("ingest row %+v; want events, a rate and ack latencies", r)
		}
	}
	if rep.Load == nil || rep.Load.Events != 2000 {
		t.Fatalf("load = %+v; want 2000 events", rep.Load)
	}
	if len(rep.Queries) < 20 {
		t.Errorf("%d query shapes; want every filter, combinations, time, page and searches", len(rep.Queries))
	}
	empty := 0
	byTime := map[string]int{}
	for _, q := range rep.Queries {
		if q.Latency.N != 3 {
			t.Errorf("query %s ran %d times; want 3", q.Name, q.Latency.N)
		}
		switch q.Kind {
		case "filter":
			byTime[q.Name] = q.Results
		case "filter, seq":
			// The same filter in the other sort: a page as full.
			if n, ok := byTime[q.Name]; !ok || n != q.Results {
				t.Errorf("filter %s by seq: %d results; by time %d (%v)", q.Name, q.Results, n, ok)
			}
			continue
		}
		if q.Results == 0 {
			empty++
		}
	}
	if len(byTime) != 14 {
		t.Errorf("%d single filters by time; want 14", len(byTime))
	}
	if empty > 2 {
		t.Errorf("%d query shapes found nothing; their values should come from the data", empty)
	}
	if rep.Ceiling != nil || rep.Export != nil || rep.Tail != nil {
		t.Errorf("phases not asked for ran: ceiling %v, export %v, tail %v", rep.Ceiling, rep.Export, rep.Tail)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("bench left %d entries in its temporary directory", len(left))
	}
}

// TestBenchUsage checks that bad flags are usage errors.
func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--only", "ingest,nope"},
		{"bench", "--events", "10"},
		{"bench", "--database-url", "mysql://x"},
		{"bench", "extra"},
	} {
		if code, _, _ := runCLI(t, nil, args...); code != exitUsage {
			t.Errorf("auditkeep %v exited %d; want %d", args, code, exitUsage)
		}
	}
}

// TestBenchBulkKeep loads a tenant through the store with --bulk into a
// --keep directory, and a second run reads the same events from it
// without loading again.
func TestBenchBulkKeep(t *testing.T) {
	if testing.Short() {
		t.Skip("bench starts servers and loads events")
	}
	keep, tmp := t.TempDir(), t.TempDir()
	var reps [2]bench.Report
	for i := range reps {
		code, stdout, stderr := runCLI(t, nil, "bench", "--bulk", "--keep", keep, "--events", "3000", "--only", "query",
			"--query-reps", "1", "--tmp", tmp, "--json")
		if code != exitOK {
			t.Fatalf("run %d: bench exited %d\nstderr: %s", i, code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), &reps[i]); err != nil {
			t.Fatalf("run %d: report is not JSON: %v\n%s", i, err, stdout)
		}
		if l := reps[i].Load; l == nil || l.Events != 3000 {
			t.Fatalf("run %d: load = %+v; want 3000 events", i, l)
		}
	}
	if !strings.HasPrefix(reps[1].Load.Note, "kept from an earlier run") {
		t.Errorf("second load's note = %q; want it read from the kept load", reps[1].Load.Note)
	}
	if len(reps[0].Queries) != len(reps[1].Queries) {
		t.Fatalf("%d query shapes, then %d", len(reps[0].Queries), len(reps[1].Queries))
	}
	for i, q := range reps[0].Queries {
		if r := reps[1].Queries[i]; r.Query != q.Query || r.Results != q.Results {
			t.Errorf("query %s: %q with %d results, then %q with %d", q.Name, q.Query, q.Results, r.Query, r.Results)
		}
	}
	if _, err := os.Stat(filepath.Join(keep, "bench-load.json")); err != nil {
		t.Errorf("kept load: %v", err)
	}
	if code, _, _ := runCLI(t, nil, "bench", "--keep", keep, "--events", "3000"); code != exitUsage {
		t.Errorf("--keep without --bulk exited %d; want %d", code, exitUsage)
	}
}

package ingest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/changes"
	"github.com/auditkeep/auditkeep/internal/ingest"
	"github.com/auditkeep/auditkeep/internal/sqlite"
)

// TestSetRulesApplyToLaterEvents changes a tenant's rules between two
// events: the compiled rules of the first do not linger.
func TestSetRulesApplyToLaterEvents(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateTenant(ctx, &auditkeep.Tenant{ID: "acme", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tracker := ingest.NewTracker(store)
	step := func() map[string]string {
		t.Helper()
		e := &auditkeep.Event{Action: "service.update", Type: auditkeep.TypeUpdate,
			Metadata: json.RawMessage(`{"CPU":"two-cores","password":"hunter22","env":{"A":"alpha-value"}}`)}
		if err := tracker.Step(ctx, "acme", e); err != nil {
			t.Fatalf("Step: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(e.Metadata, &m); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, v := range m {
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
		return out
	}
	hashed := func(v string) bool { return strings.HasPrefix(v, `"`+changes.HashPrefix) }

	got := step()
	if !hashed(got["password"]) || !strings.Contains(got["env"], changes.HashPrefix) || hashed(got["CPU"]) {
		t.Fatalf("default rules: metadata %v; want password and env.A hashed, CPU clear", got)
	}
	if err := tracker.SetRules(ctx, "acme", changes.Rules{Paths: []string{"cpu", "env.*"}}); err != nil {
		t.Fatalf("SetRules: %v", err)
	}
	got = step()
	if hashed(got["password"]) || !hashed(got["CPU"]) || hashed(got["env"]) || !strings.Contains(got["env"], changes.HashPrefix) {
		t.Fatalf("rules cpu, env.*: metadata %v; want CPU and env.A hashed, password clear", got)
	}
	if err := tracker.SetRules(ctx, "acme", changes.Rules{Paths: []string{"**.a"}}); err != nil {
		t.Fatalf("SetRules: %v", err)
	}
	got = step()
	if hashed(got["password"]) || hashed(got["CPU"]) || !strings.Contains(got["env"], changes.HashPrefix) {
		t.Fatalf("rules **.a: metadata %v; want only env.A hashed", got)
	}
}

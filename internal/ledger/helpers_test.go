package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/ledger"
)

// memEvents is a fake event store: events per tenant, in seq order.
type memEvents struct {
	mu     sync.Mutex
	events map[string][]*auditkeep.Event
}

func newMemEvents() *memEvents { return &memEvents{events: map[string][]*auditkeep.Event{}} }

// add appends n events to tenant with the next seqs and returns them.
func (m *memEvents) add(tenant string, n int) []*auditkeep.Event {
	return m.addAt(tenant, n, time.Time{})
}

// addAt is add with received_at set to at (unless zero).
func (m *memEvents) addAt(tenant string, n int, at time.Time) []*auditkeep.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*auditkeep.Event
	for range n {
		e := sampleEvent(tenant, int64(len(m.events[tenant])+1))
		if !at.IsZero() {
			e.ReceivedAt = at
		}
		m.events[tenant] = append(m.events[tenant], e)
		out = append(out, e)
	}
	return out
}

func (m *memEvents) ScanEvents(ctx context.Context, tenant string, f auditkeep.Filter, fn func(*auditkeep.Event) error) error {
	if f.Order != auditkeep.OrderAsc {
		return fmt.Errorf("memEvents scans in ascending order only")
	}
	m.mu.Lock()
	evs := slices.Clone(m.events[tenant])
	m.mu.Unlock()
	for _, e := range evs {
		if f.Cursor != nil && e.Seq <= f.Cursor.Seq {
			continue
		}
		c := *e
		if err := fn(&c); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
	}
	return nil
}

func (m *memEvents) Tenants(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ts []string
	for t := range m.events {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts, nil
}

// sampleEvent returns a realistic event of tenant at seq, every field set.
func sampleEvent(tenant string, seq int64) *auditkeep.Event {
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).Add(time.Duration(seq) * 1500 * time.Millisecond)
	return &auditkeep.Event{
		Tenant:      tenant,
		Seq:         seq,
		ReceivedAt:  at.Add(123456 * time.Nanosecond),
		ID:          fmt.Sprintf("evt_%06d", seq),
		OccurredAt:  at,
		Action:      "environment.update",
		Type:        auditkeep.TypeUpdate,
		Actor:       auditkeep.Actor{Type: auditkeep.ActorUser, ID: "usr_42", Name: "Alice Martin", Email: "alice@example.com"},
		Target:      &auditkeep.Target{Type: "environment", ID: fmt.Sprintf("env_%d", seq%7), Name: "production"},
		Scope:       []auditkeep.ScopeEntry{{Type: "project", ID: "prj_1", Name: "Shop"}, {Type: "environment", ID: "env_7"}},
		Team:        "platform",
		Source:      "console",
		Context:     auditkeep.Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
		Status:      auditkeep.StatusSuccess,
		Description: "Updated environment 'production': name changed from 'prod' to 'production'",
		Changes:     []auditkeep.Change{{Field: "name", Op: auditkeep.ChangeChanged, Old: json.RawMessage(`"prod"`), New: json.RawMessage(`"production"`)}},
		Before:      json.RawMessage(`{"name": "prod", "cpu": 1.50}`),
		Snapshot:    json.RawMessage(`{"name": "production", "cpu": 1.5}`),
		Metadata:    json.RawMessage(fmt.Sprintf(`{"request_id": "req-%d"}`, seq)),
	}
}

// newKeys returns a signer and its verifier key text.
func newKeys(t testing.TB) (ledger.Signer, string) {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey("log.example.com")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// integrated returns storage holding the tree of tenant's events in ev,
// integrated in steps of batch leaves, and the signer and verifier key.
func integrated(t testing.TB, ev *memEvents, tenant string, batch int) (*ledger.MemoryStorage, ledger.Signer, string) {
	t.Helper()
	s, vkey := newKeys(t)
	return integrateWith(t, ev, tenant, batch, s), s, vkey
}

// integrateWith integrates tenant's events into new storage, signed by s.
func integrateWith(t testing.TB, ev *memEvents, tenant string, batch int, s ledger.Signer) *ledger.MemoryStorage {
	t.Helper()
	st := ledger.NewMemoryStorage()
	in := ledger.NewIntegrator(ledger.IntegratorConfig{Storage: st, Events: ev, Signer: s, MaxBatch: batch})
	if _, err := in.Integrate(context.Background(), tenant); err != nil {
		t.Fatal(err)
	}
	return st
}

// leafHashOf is RFC 6962's leaf hash, written out: SHA-256(0x00 || data).
func leafHashOf(data []byte) string {
	h := sha256.Sum256(append([]byte{0}, data...))
	return hex.EncodeToString(h[:])
}

// nodeHash is RFC 6962's interior node hash: SHA-256(0x01 || l || r).
func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// referenceRoot is RFC 6962's MTH, recursively, from the RFC's definition.
func referenceRoot(leaves [][]byte) []byte {
	switch n := len(leaves); n {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		return leaves[0]
	default:
		k := 1
		for k*2 < n {
			k *= 2
		}
		return nodeHash(referenceRoot(leaves[:k]), referenceRoot(leaves[k:]))
	}
}

// jsonLine encodes e as a bundle event line.
func jsonLine(e *auditkeep.Event) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"type": "event", "event": e})
	return append(b, '\n'), err
}

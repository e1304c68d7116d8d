package retention_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
	"github.com/auditkeep/auditkeep/internal/retention"
)

// unreadableStatus is a store whose reads of the retention status fail as
// storage fails, and which keeps count of the status writes.
type unreadableStatus struct {
	store
	puts *int
}

func (u unreadableStatus) GetSetting(ctx context.Context, tenant, name string) ([]byte, error) {
	if name == "retention_status" {
		return nil, auditkeep.Unavailable(errors.New("disk unplugged"))
	}
	return u.store.GetSetting(ctx, tenant, name)
}

func (u unreadableStatus) PutSetting(ctx context.Context, tenant, name string, value []byte) error {
	if name == "retention_status" {
		*u.puts++
	}
	return u.store.PutSetting(ctx, tenant, name, value)
}

// TestStatusUnreadable: when the job's status cannot be read, a run stops
// before purging anything and saves nothing over the status, whose totals
// GET /v1/retention shows; only a status never stored starts empty.
func TestStatusUnreadable(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b, nil)
			e.tenant("acme", 30)
			all := e.fill("acme", 100)
			if _, err := e.ret.RunTenant(e.ctx, "acme"); err != nil { // starts from no status
				t.Fatal(err)
			}
			st, err := e.ret.TenantStatus(e.ctx, "acme")
			if err != nil || st.Status.Removed == 0 {
				t.Fatalf("TenantStatus after the first run = %+v, %v; want removed events counted", st, err)
			}
			removed := st.Status.Removed
			live := len(e.updates("acme"))
			e.clock.Add(10 * 24 * time.Hour) // more events are due

			// A stored status that cannot be decoded (a corrupt row).
			corrupt := []byte(`{"removed_events":"many"}`)
			if err := e.s.PutSetting(e.ctx, "acme", "retention_status", corrupt); err != nil {
				t.Fatal(err)
			}
			if rep, err := e.ret.RunTenant(e.ctx, "acme"); err == nil || rep.Removed != 0 {
				t.Errorf("RunTenant over a corrupt status = %+v, %v; want an error and nothing removed", rep, err)
			}
			if rep, err := e.ret.Run(e.ctx); err != nil || rep.Errors != 1 || rep.Removed != 0 {
				t.Errorf("Run over a corrupt status = %+v, %v; want the tenant's failure counted, nothing removed", rep, err)
			}
			if got, err := e.s.GetSetting(e.ctx, "acme", "retention_status"); err != nil || !jsonEqual(got, corrupt) {
				t.Errorf("status after the runs = %s, %v; want it left as it was: %s", got, err, corrupt)
			}
			if _, err := e.ret.TenantStatus(e.ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EINTERNAL {
				t.Errorf("TenantStatus over a corrupt status = %v; want %s", err, auditkeep.EINTERNAL)
			}
			if got := len(e.updates("acme")); got != live {
				t.Errorf("%d events live after the stopped runs; want %d", got, live)
			}

			// A status that storage fails to read.
			good, _ := json.Marshal(retention.Status{Removed: removed})
			if err := e.s.PutSetting(e.ctx, "acme", "retention_status", good); err != nil {
				t.Fatal(err)
			}
			puts := 0
			failing := retention.New(capable(retention.Config{Store: unreadableStatus{e.s, &puts}, Archive: e.arch, Tree: e.tree, Now: e.clock.Now, Logger: quiet,
				BatchSize: 40, Pause: time.Millisecond, Recorder: e.record}))
			if rep, err := failing.RunTenant(e.ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE || rep.Removed != 0 {
				t.Errorf("RunTenant with an unreadable status = %+v, %v; want %s and nothing removed", rep, err, auditkeep.EUNAVAILABLE)
			}
			if puts != 0 {
				t.Errorf("the status was saved %d times while it could not be read; want never", puts)
			}
			if _, err := failing.TenantStatus(e.ctx, "acme"); auditkeep.ErrorCode(err) != auditkeep.EUNAVAILABLE {
				t.Errorf("TenantStatus with an unreadable status = %v; want %s", err, auditkeep.EUNAVAILABLE)
			}

			// Readable again: the next run adds to the totals.
			if _, err := e.ret.RunTenant(e.ctx, "acme"); err != nil {
				t.Fatal(err)
			}
			st, err = e.ret.TenantStatus(e.ctx, "acme")
			if err != nil || st.Status.Removed <= removed || st.Status.Removed != int64(len(all)-len(e.updates("acme"))) {
				t.Errorf("TenantStatus after a good run = %+v, %v; want %d removed in all", st.Status, err, len(all)-len(e.updates("acme")))
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

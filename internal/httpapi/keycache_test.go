package httpapi

import (
	"testing"
	"time"

	"github.com/auditkeep/auditkeep"
)

// TestKeyCache: a key is trusted for keyCacheTTL after it was read, a
// revocation through this node forgets it at once, and the cache stays
// bounded.
func TestKeyCache(t *testing.T) {
	var c keyCache
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	k := &auditkeep.APIKey{ID: "key_1", Tenant: "acme"}
	if got := c.get("h1", t0); got != nil {
		t.Fatalf("get from an empty cache = %v; want nil", got)
	}
	c.put("h1", k, t0)
	c.put("h2", &auditkeep.APIKey{ID: "key_1", Tenant: "globex"}, t0)
	if got := c.get("h1", t0.Add(keyCacheTTL-time.Millisecond)); got != k {
		t.Errorf("get within the TTL = %v; want the key", got)
	}
	if got := c.get("h1", t0.Add(keyCacheTTL)); got != nil {
		t.Errorf("get after the TTL = %v; want nil (read the store again)", got)
	}
	if got := c.get("h1", t0.Add(-time.Second)); got != nil {
		t.Errorf("get before the key was read (clock stepped back) = %v; want nil", got)
	}
	c.forget("acme", "key_1")
	if got := c.get("h1", t0); got != nil {
		t.Errorf("get after forget = %v; want nil", got)
	}
	if got := c.get("h2", t0); got == nil {
		t.Errorf("forget(acme, key_1) dropped globex's key_1 too")
	}
	for i := range keyCacheMax + 1 {
		c.put(string(rune(i)), k, t0)
	}
	if n := len(c.keys); n > keyCacheMax {
		t.Errorf("cache holds %d keys; want at most %d", n, keyCacheMax)
	}
}

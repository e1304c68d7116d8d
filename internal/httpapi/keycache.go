package httpapi

import (
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// keyCacheTTL is how long an API key read from the store is trusted before
// it is read again: a key revoked through this node stops working at once,
// one revoked through another node (PostgreSQL) within this time.
const keyCacheTTL = time.Second

// keyCacheMax bounds the keys remembered; past it the cache starts over.
const keyCacheMax = 10000

// keyCache remembers the API keys requests presented, by hash, so that a
// request does not read its key from the store each time. The zero value
// is ready to use.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	key *auditkeep.APIKey // never changed once cached
	at  time.Time
}

// get returns the key of hash read less than keyCacheTTL before now, or nil.
func (c *keyCache) get(hash string, now time.Time) *auditkeep.APIKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	ck, ok := c.keys[hash]
	if !ok || now.Sub(ck.at) >= keyCacheTTL || now.Before(ck.at) {
		return nil
	}
	return ck.key
}

// put remembers k, read from the store at now, under hash.
func (c *keyCache) put(hash string, k *auditkeep.APIKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= keyCacheMax {
		c.keys = map[string]cachedKey{}
	}
	c.keys[hash] = cachedKey{key: k, at: now}
}

// forget drops the tenant's key id (revoked through this node).
func (c *keyCache) forget(tenant, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, ck := range c.keys {
		if ck.key.Tenant == tenant && ck.key.ID == id {
			delete(c.keys, h)
		}
	}
}

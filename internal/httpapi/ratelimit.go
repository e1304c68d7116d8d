package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
	"golang.org/x/time/rate"
)

// limiters hands out one token bucket per API key.
type limiters struct {
	rate  rate.Limit
	burst int

	mu   sync.Mutex
	byID map[string]*limiterEntry
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

// newLimiters returns per-key limits of perSecond requests with bursts of
// burst; perSecond <= 0 disables limiting.
func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(perSecond)))
	}
	return &limiters{rate: rate.Limit(perSecond), burst: burst, byID: map[string]*limiterEntry{}}
}

// allow takes one token of key id's bucket. It returns ERATELIMITED with the
// seconds to wait when the bucket is empty.
func (ls *limiters) allow(id string, now time.Time) (retryAfter int, err error) {
	if ls == nil {
		return 0, nil
	}
	r := ls.limiter(id, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		secs := int(math.Ceil(d.Seconds()))
		return secs, &auditkeep.Error{Code: auditkeep.ERATELIMITED,
			Message: "too many requests for this key; retry after " + strconv.Itoa(secs) + "s"}
	}
	return 0, nil
}

// limiter returns the bucket of id, made full when id has none.
func (ls *limiters) limiter(id string, now time.Time) *rate.Limiter {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	e := ls.byID[id]
	if e == nil {
		if len(ls.byID) > 100_000 {
			ls.sweep(now)
		}
		e = &limiterEntry{l: rate.NewLimiter(ls.rate, ls.burst)}
		ls.byID[id] = e
	}
	e.seen = now
	return e.l
}

// sweep forgets keys idle for a minute; their buckets are full again by then.
func (ls *limiters) sweep(now time.Time) {
	for id, e := range ls.byID {
		if now.Sub(e.seen) > time.Minute {
			delete(ls.byID, id)
		}
	}
}

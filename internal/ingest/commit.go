package ingest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/auditkeep/auditkeep"
)

// Appender is the part of the store the committer needs.
type Appender interface {
	Append(ctx context.Context, events []*auditkeep.Event) error
}

// CommitStats describes one group commit, for metrics.
type CommitStats struct {
	Requests int
	Events   int
	Duration time.Duration
	Err      error
}

// Committer gathers the events of concurrent requests into one store commit
// (group commit). While a commit is in flight, new requests queue; the next
// commit takes all of them, up to MaxGroupEvents. A lone request is committed
// at once: nothing waits for a timer.
type Committer struct {
	store Appender

	// MaxGroupEvents bounds one commit. Set before Open.
	MaxGroupEvents int
	// CommitTimeout bounds one store call. Set before Open.
	CommitTimeout time.Duration
	// Prepare, when set, runs on each group, in order, just before it is
	// stored; its error fails the group.
	Prepare func(ctx context.Context, events []*auditkeep.Event) error
	// OnCommit, when set, is called after each commit (successful or not)
	// with the events stored by it, from the committer's goroutine.
	OnCommit func(stored []*auditkeep.Event, st CommitStats)

	queue  chan *pending
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed against Commit's send
	closed bool
}

type pending struct {
	events []*auditkeep.Event
	done   chan error
}

// ErrClosed is returned by Commit after Close.
var ErrClosed = &auditkeep.Error{Code: auditkeep.EUNAVAILABLE, Message: "server is shutting down"}

// NewCommitter returns a committer writing to store. Call Open before Commit.
func NewCommitter(store Appender) *Committer {
	return &Committer{store: store, MaxGroupEvents: 20000, CommitTimeout: 30 * time.Second}
}

// Open starts the commit loop.
func (c *Committer) Open() {
	c.queue = make(chan *pending, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.loop(ctx)
	}()
}

// Close stops accepting requests, commits everything already queued, and
// waits for the loop to end.
func (c *Committer) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.queue)
	c.mu.Unlock()
	c.wg.Wait()
	if c.cancel != nil { // nil when never opened
		c.cancel()
	}
	return nil
}

// Commit stores events durably, sharing the commit with concurrent callers.
// It returns after the commit is synced, with each stored event's Seq set
// (0 for duplicates). The batch is atomic. If ctx ends first, Commit returns
// ctx's error, but the events may still be committed: the sender's ids make
// a retry safe. Returns EUNAVAILABLE when storage fails or the committer is closed.
func (c *Committer) Commit(ctx context.Context, events []*auditkeep.Event) error {
	p := &pending{events: events, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.queue <- p:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Committer) loop(ctx context.Context) {
	var group []*pending
	var events []*auditkeep.Event
	for {
		first, ok := <-c.queue
		if !ok {
			return
		}
		group = append(group[:0], first)
		n := len(first.events)
	gather:
		for n < c.MaxGroupEvents {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break gather
				}
				group = append(group, p)
				n += len(p.events)
			default:
				break gather
			}
		}
		events = events[:0]
		for _, p := range group {
			events = append(events, p.events...)
		}
		start := time.Now()
		err := c.append(ctx, events)
		st := CommitStats{Requests: len(group), Events: len(events), Duration: time.Since(start), Err: err}
		for _, p := range group {
			p.done <- err
		}
		if c.OnCommit != nil {
			var stored []*auditkeep.Event
			if err == nil {
				stored = make([]*auditkeep.Event, 0, len(events))
				for _, e := range events {
					if e.Seq > 0 {
						stored = append(stored, e)
					}
				}
			}
			c.OnCommit(stored, st)
		}
		clear(group)
	}
}

func (c *Committer) append(ctx context.Context, events []*auditkeep.Event) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.CommitTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = &auditkeep.Error{Code: auditkeep.EINTERNAL, Message: "internal error", Err: fmt.Errorf("panic in store append: %v", r)}
		}
	}()
	for _, e := range events {
		e.Seq = 0
	}
	if c.Prepare != nil {
		if err := c.Prepare(ctx, events); err != nil {
			return err
		}
	}
	return c.store.Append(ctx, events)
}

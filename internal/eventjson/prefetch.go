package eventjson

import (
	"context"
	"sync"
)

// ReadAhead reads pages one ahead of their use: of the two pages given
// (reused in turn), use runs on one while read fills the other on another
// goroutine. read fills a page and reports whether another may follow; it
// is never called again after it reported none, or an error. ReadAhead
// returns the first error of read or use, or ctx's error when ctx ended
// first, and nil once use has had every page. It waits for the reading
// goroutine before it returns.
func ReadAhead[P any](ctx context.Context, pages [2]P, read func(ctx context.Context, page P) (more bool, err error), use func(page P) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type filled struct {
		page P
		more bool
		err  error
	}
	full := make(chan filled)
	free := make(chan P, 2)
	free <- pages[0]
	free <- pages[1]
	wg.Go(func() {
		defer close(full)
		for {
			var p P
			select {
			case p = <-free:
			case <-ctx.Done():
				return
			}
			more, err := read(ctx, p)
			select {
			case full <- filled{p, more && err == nil, err}:
			case <-ctx.Done():
				return
			}
			if !more || err != nil {
				return
			}
		}
	})
	for f := range full {
		if f.err != nil {
			return f.err
		}
		if err := use(f.page); err != nil {
			return err
		}
		if !f.more {
			return nil
		}
		free <- f.page
	}
	// The reader stopped without a last page: ctx ended.
	return ctx.Err()
}

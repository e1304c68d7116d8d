package eventjson

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestReadAhead: every page is used once, in order, and the first error
// of read or use, or a cancelled context, ends the scan.
func TestReadAhead(t *testing.T) {
	type page struct{ n int }
	reader := func(last, failAt int) func(context.Context, *page) (bool, error) {
		next := 0
		return func(ctx context.Context, p *page) (bool, error) {
			next++
			if next == failAt {
				return false, errors.New("read failed")
			}
			p.n = next
			return next < last, nil
		}
	}
	var used []int
	use := func(p *page) error { used = append(used, p.n); return nil }
	if err := ReadAhead(context.Background(), [2]*page{{}, {}}, reader(5, 0), use); err != nil || !slices.Equal(used, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("ReadAhead of 5 pages = %v, used %v; want nil and 1..5", err, used)
	}
	used = nil
	if err := ReadAhead(context.Background(), [2]*page{{}, {}}, reader(5, 3), use); err == nil || err.Error() != "read failed" || !slices.Equal(used, []int{1, 2}) {
		t.Fatalf("ReadAhead failing at page 3 = %v, used %v; want the read error after 1, 2", err, used)
	}
	stop := errors.New("enough")
	used = nil
	useTwo := func(p *page) error {
		if used = append(used, p.n); len(used) == 2 {
			return stop
		}
		return nil
	}
	if err := ReadAhead(context.Background(), [2]*page{{}, {}}, reader(100, 0), useTwo); err != stop {
		t.Fatalf("ReadAhead with use stopping = %v; want its error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ReadAhead(ctx, [2]*page{{}, {}}, reader(100, 0), use); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAhead with a cancelled context = %v; want context.Canceled", err)
	}
}

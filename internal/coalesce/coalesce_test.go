package coalesce

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGetIsFreshAndShared: callers that arrive while a run is under way do
// not take its result, which may predate them; they all share the one run
// that starts after it.
func TestGetIsFreshAndShared(t *testing.T) {
	var reads atomic.Int64
	entered := make(chan int64, 10)
	release := make(chan struct{})
	g := New(func(context.Context) (int64, error) {
		n := reads.Add(1)
		entered <- n
		if n == 1 {
			<-release
		}
		return n, nil
	}, time.Minute)
	ctx := context.Background()
	first := make(chan int64)
	go func() {
		v, _ := g.Get(ctx)
		first <- v
	}()
	if n := <-entered; n != 1 {
		t.Fatalf("first read is %d", n)
	}
	const late = 10
	var wg sync.WaitGroup
	got := make([]int64, late)
	for i := range late {
		wg.Go(func() { got[i], _ = g.Get(ctx) })
	}
	for g.waiting() != late { // until every late caller has joined the next run
		time.Sleep(time.Millisecond)
	}
	close(release)
	if v := <-first; v != 1 {
		t.Fatalf("first request got %d", v)
	}
	wg.Wait()
	for i, v := range got {
		if v != 2 {
			t.Fatalf("late request %d got the answer of read %d, want 2", i, v)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads for 11 requests, want 2", n)
	}
}

// TestAPanickingRunIsItsCallersError: the run happens on a goroutine of its
// own, beyond any caller's recover; a panic in it is the run's error, and
// the next run goes ahead.
func TestAPanickingRunIsItsCallersError(t *testing.T) {
	var runs atomic.Int64
	g := New(func(context.Context) (int64, error) {
		if runs.Add(1) == 1 {
			var m map[string]int
			m["x"]++
		}
		return 7, nil
	}, time.Minute)
	if _, err := g.Get(context.Background()); err == nil {
		t.Fatal("a panicking run gave no error")
	}
	if v, err := g.Get(context.Background()); v != 7 || err != nil {
		t.Fatalf("the run after it: %d, %v", v, err)
	}
}

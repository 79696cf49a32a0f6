// Package coalesce shares one run of an operation among every caller that
// needs a run begun after it asked: the reads and syncs that many requests
// would each make, made once for all of them.
package coalesce

import (
	"context"
	"sync"
	"time"

	"github.com/stele-audit/stele/internal/recovery"
)

// Fresh runs fn for callers of Get. A caller must see a result of a run
// that started after it called (a run already under way may predate what
// the caller must see: a key revoked, a commit it made), so it joins the
// next run that has not started, starting one when none is running: while
// one run goes on, every caller that arrives waits for the single run that
// follows it.
type Fresh[T any] struct {
	fn      func(context.Context) (T, error)
	timeout time.Duration

	mu      sync.Mutex
	running bool
	next    *call[T] // the run callers are joining; not started yet
}

type call[T any] struct {
	done    chan struct{}
	val     T
	err     error
	waiters int // callers sharing this run
}

// New returns a Fresh over fn. Each run gets its own context with timeout,
// as it is shared: no one caller's context may cancel it.
func New[T any](fn func(context.Context) (T, error), timeout time.Duration) *Fresh[T] {
	return &Fresh[T]{fn: fn, timeout: timeout}
}

// Get returns the result of a run of fn that started after Get was called.
func (f *Fresh[T]) Get(ctx context.Context) (T, error) {
	f.mu.Lock()
	c := f.next
	if c == nil {
		c = &call[T]{done: make(chan struct{})}
		f.next = c
		if !f.running {
			f.startLocked()
		}
	}
	c.waiters++
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// startLocked starts the run of f.next; f.mu is held.
func (f *Fresh[T]) startLocked() {
	c := f.next
	f.next, f.running = nil, true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
		// On this goroutine a panic is beyond every caller's recover.
		c.err = recovery.Call(func() (err error) {
			c.val, err = f.fn(ctx)
			return err
		})
		cancel()
		close(c.done)
		f.mu.Lock()
		f.running = false
		if f.next != nil {
			f.startLocked()
		}
		f.mu.Unlock()
	}()
}

// waiting returns the callers joined to the run not yet started, for tests.
func (f *Fresh[T]) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		return 0
	}
	return f.next.waiters
}

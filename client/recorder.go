package client

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// ErrClosed is returned by Record, Flush and Close after Close.
var ErrClosed = errors.New("stele client: closed")

// entry is a recorded event waiting in the buffer, with its number: the
// order it was recorded in, which also makes its idempotency key.
type entry struct {
	ev stele.Event
	n  uint64
}

// recorder buffers recorded events and delivers them in batches: a ring
// of at most bufferSize entries, concurrency workers that take batches
// from it, and, with a spool, a drainer that sends what the spool holds.
type recorder struct {
	c         *Client
	cfg       recordConfig
	keyPrefix string
	spool     *spool

	// ctx is cancelled when Close gives up waiting: deliveries stop
	// retrying and what they hold goes to the spool, or is lost.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{} // closed once workers must return
	wake   chan struct{} // a batch is ready, or a flush wants partial batches
	wg     sync.WaitGroup

	mu          sync.Mutex
	ring        []entry
	head, count int
	oldestAt    time.Time // when the oldest buffered event was recorded
	next        uint64    // the number of the next event recorded
	inflight    map[uint64]int
	flushing    int // Flush and Close calls that want partial batches sent now
	retrying    int // batches waiting to be retried
	closed      bool
	lastErr     error
	dropped     int64
	lost        int64
	changed     chan struct{} // closed and replaced on progress or room
}

func newRecorder(c *Client) (*recorder, error) {
	var b [10]byte
	rand.Read(b[:])
	r := &recorder{
		c: c, cfg: c.rec,
		keyPrefix: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]),
		stop:      make(chan struct{}), wake: make(chan struct{}, c.rec.concurrency+1),
		ring: make([]entry, c.rec.bufferSize), next: 1, inflight: map[uint64]int{},
		changed: make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if c.rec.spoolDir != "" {
		s, err := openSpool(c.rec.spoolDir, c.rec.spoolBytes, r.report)
		if err != nil {
			return nil, err
		}
		r.spool = s
		r.wg.Add(1)
		go r.drain()
	}
	for range c.rec.concurrency {
		r.wg.Add(1)
		go r.work()
	}
	return r, nil
}

// recorder returns the client's recorder, started on first use.
func (c *Client) recorder() (*recorder, error) {
	c.recOnce.Do(func() {
		r, err := newRecorder(c)
		if err != nil {
			c.recorderErr = err
			return
		}
		c.recorderRun.Store(r)
	})
	return c.recorderRun.Load(), c.recorderErr
}

// Record adds an event to the buffer, to be sent in a batch within the
// flush interval, and returns at once; the error is nil unless the event
// cannot be recorded at all (no action, a closed client) or, with
// FailClosed, the buffer stayed full until ctx ended. A zero Time is the
// time of the call. An empty IdempotencyKey is given one unique to this
// event, so that however often a batch is retried, the event is stored
// once. Events the server refuses go to the error handler
// (WithErrorHandler) with the server's details.
//
// The event's Metadata map is kept until the event is sent: do not change
// it after the call.
func (c *Client) Record(ctx context.Context, e stele.Event) error {
	if e.Action == "" {
		return &stele.Error{Code: stele.EINVALID, Message: "an event needs an action",
			Details: []stele.FieldError{{Field: "action", Rule: "required"}}}
	}
	r, err := c.recorder()
	if err != nil {
		return err
	}
	var now time.Time
	if e.Time.IsZero() {
		now = time.Now()
		e.Time = now
	}
	r.mu.Lock()
	for r.count == len(r.ring) && r.cfg.failClosed && !r.closed {
		ch, last := r.changed, r.lastErr
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("stele client: the buffer is full (%w); events are not leaving: %w", ctx.Err(), last)
			}
			return fmt.Errorf("stele client: the buffer is full: %w", ctx.Err())
		}
		r.mu.Lock()
	}
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	dropped := false
	if r.count == len(r.ring) { // fail-open: the oldest makes room
		r.head = (r.head + 1) % len(r.ring)
		r.count--
		r.dropped++
		dropped = true
	}
	i := (r.head + r.count) % len(r.ring)
	r.ring[i] = entry{ev: e, n: r.next}
	r.next++
	r.count++
	if r.count == 1 {
		if now.IsZero() {
			now = time.Now()
		}
		r.oldestAt = now
	}
	signal := r.count == 1 || r.count == r.cfg.batchSize
	total := r.dropped
	r.mu.Unlock()
	if signal {
		r.poke(1)
	}
	if dropped && r.cfg.onDrop != nil {
		r.cfg.onDrop(Dropped{Events: 1, Total: total})
	}
	return nil
}

// Dropped returns how many recorded events this client has dropped
// because its buffer was full (fail-open) or its Close gave up on them
// with no spool to keep them.
func (c *Client) Dropped() int64 {
	r := c.recorderRun.Load()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped + r.lost
}

// poke wakes up to n workers.
func (r *recorder) poke(n int) {
	for range n {
		select {
		case r.wake <- struct{}{}:
		default:
			return
		}
	}
}

// changedLocked tells the waiters of Record, Flush and Close to look again.
func (r *recorder) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// doneBelowLocked is the number below which every recorded event has been
// dealt with: delivered, refused, dropped or put in the spool.
func (r *recorder) doneBelowLocked() uint64 {
	w := r.next
	if r.count > 0 {
		w = r.ring[r.head].n
	}
	for f := range r.inflight {
		w = min(w, f)
	}
	return w
}

// Flush sends every event recorded before the call and waits until Stele
// has stored them (or refused them, see WithErrorHandler), or until ctx
// ends: then the error wraps ctx's and names the last delivery error.
// With a spool, Flush also waits for the spool to be sent.
func (c *Client) Flush(ctx context.Context) error {
	r, err := c.recorder()
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	defer r.mu.Unlock()
	return r.waitLocked(ctx, r.next)
}

// waitLocked waits until the events below target are dealt with and the
// spool is empty; r.mu is held on entry and on return.
func (r *recorder) waitLocked(ctx context.Context, target uint64) error {
	r.flushing++
	defer func() { r.flushing-- }()
	r.poke(r.cfg.concurrency)
	for r.doneBelowLocked() < target || r.spool.pending() {
		ch, last := r.changed, r.lastErr
		r.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		r.mu.Lock()
		if err != nil {
			if last != nil {
				return fmt.Errorf("stele client: events not yet delivered (%w): %w", err, last)
			}
			return fmt.Errorf("stele client: events not yet delivered: %w", err)
		}
	}
	return nil
}

// Close sends what is buffered, waits for it to be stored as Flush does,
// and stops the client's recorder. When ctx ends first, deliveries stop:
// with a spool, what was not delivered is written to it for the next
// Client with the same directory; without one it is lost, and counted
// (Dropped). The error then says how many events are left where. The
// Client's other methods keep working after Close.
func (c *Client) Close(ctx context.Context) error {
	c.recOnce.Do(func() { c.recorderErr = ErrClosed }) // a recorder never started never will
	r := c.recorderRun.Load()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	waitErr := r.waitLocked(ctx, r.next)
	r.closed = true
	r.changedLocked()
	r.mu.Unlock()

	r.cancel() // deliveries on their way give up and spool or count what they hold
	close(r.stop)
	r.wg.Wait()

	r.mu.Lock()
	rest := r.takeLocked(r.count)
	r.mu.Unlock()
	r.keepOrLose(r.encodeEntries(rest))
	var err error
	if r.spool != nil {
		n := r.spool.count()
		if cerr := r.spool.close(); cerr != nil {
			err = cerr
		}
		if waitErr != nil && n > 0 {
			err = errors.Join(err, fmt.Errorf("stele client: closed with %d events kept in the spool %s: %w", n, r.cfg.spoolDir, waitErr))
		}
	}
	r.mu.Lock()
	lost := r.lost
	r.mu.Unlock()
	if lost > 0 {
		err = errors.Join(err, fmt.Errorf("stele client: closed with %d events lost: %w", lost, waitErr))
	}
	return err
}

// takeLocked removes up to n events from the head of the ring.
func (r *recorder) takeLocked(n int) []entry {
	n = min(n, r.count)
	if n == 0 {
		return nil
	}
	out := make([]entry, n)
	for i := range out {
		j := (r.head + i) % len(r.ring)
		out[i] = r.ring[j]
		r.ring[j] = entry{} // the caller's metadata is not kept alive
	}
	r.head = (r.head + n) % len(r.ring)
	r.count -= n
	if r.count > 0 {
		r.oldestAt = time.Now()
	}
	r.changedLocked()
	return out
}

package ingest

import (
	"context"
	"sync"
	"time"
)

// fairWindow is how long the writer keeps commits small after it last saw
// batches of more than one account waiting. An account that sends one
// event at a time is between requests most of the time; without the window
// the commit that starts in those moments would take a flooder's whole
// backlog, and the account's next event would wait for all of it.
const fairWindow = time.Second

// queue holds the batches waiting for the writer, in one line per account,
// and hands them out round robin.
type queue struct {
	slots  chan struct{} // one per batch waiting: bounds the queue
	ready  chan struct{} // a batch was pushed since the writer last looked
	closed chan struct{}

	mu          sync.Mutex
	lines       map[int64]*line
	ring        []*line // the accounts with batches waiting; the first starts the next commit
	n           int     // batches waiting
	err         error   // why the queue closed
	sharedUntil time.Time
	blocked     []bool // scratch for take
}

// line is one account's waiting batches, oldest first.
type line struct {
	account int64
	batches []*batch
}

func newQueue(size int) *queue {
	return &queue{slots: make(chan struct{}, size), ready: make(chan struct{}, 1), closed: make(chan struct{}),
		lines: map[int64]*line{}}
}

// push queues b in its account's line; it waits while the queue is full.
func (q *queue) push(ctx context.Context, b *batch) error {
	select {
	case q.slots <- struct{}{}:
	case <-q.closed:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	q.mu.Lock()
	if q.err != nil {
		q.mu.Unlock()
		<-q.slots
		return q.err
	}
	l := q.lines[b.account]
	if l == nil {
		l = &line{account: b.account}
		q.lines[b.account] = l
		q.ring = append(q.ring, l)
	}
	l.batches = append(l.batches, b)
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // the writer has a wake-up pending already
	}
	return nil
}

// take appends to group the batches of the next commit and returns it with
// their number of events. It goes round the accounts waiting, starting
// with the first in line, taking each one's oldest batch per round while
// it fits under the limit (the commit's first batch always does); an
// account whose next batch does not fit is done for this commit. The
// limit is maxEvents for an account writing alone, fairEvents while others
// write too. The account that started the commit goes to the back of the
// line.
func (q *queue) take(group []*batch, now time.Time, maxEvents, fairEvents int) ([]*batch, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return group, 0
	}
	if len(q.ring) > 1 {
		q.sharedUntil = now.Add(fairWindow)
	}
	limit := maxEvents
	if now.Before(q.sharedUntil) {
		limit = fairEvents
	}
	q.blocked = append(q.blocked[:0], make([]bool, len(q.ring))...)
	n, taken := 0, 0
	for progress := true; progress; {
		progress = false
		for i, l := range q.ring {
			if q.blocked[i] || len(l.batches) == 0 {
				continue
			}
			b := l.batches[0]
			if n > 0 && n+len(b.events) > limit {
				q.blocked[i] = true
				continue
			}
			group = append(group, b)
			n += len(b.events)
			taken++
			l.batches[0] = nil
			l.batches = l.batches[1:]
			progress = true
		}
	}
	q.n -= taken
	for range taken {
		<-q.slots
	}
	first := q.ring[0]
	ring := q.ring[:0]
	for _, l := range q.ring[1:] {
		if len(l.batches) > 0 {
			ring = append(ring, l)
		} else {
			delete(q.lines, l.account)
		}
	}
	if len(first.batches) > 0 {
		ring = append(ring, first)
	} else {
		delete(q.lines, first.account)
	}
	clear(q.ring[len(ring):])
	q.ring = ring
	return group, n
}

// close fails every batch waiting with err, and every later push.
func (q *queue) close(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return
	}
	q.err = err
	close(q.closed)
	for _, l := range q.ring {
		for _, b := range l.batches {
			b.err = err
			close(b.done)
			<-q.slots
		}
	}
	q.ring, q.lines, q.n = nil, nil, 0
}

// len returns the batches waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

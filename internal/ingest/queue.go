package ingest

import (
	"container/heap"
	"context"
	"slices"
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
// and hands them out by fair queuing on events: each batch gets a virtual
// finish time, its account's previous finish (or the queue's virtual time,
// if the account had nothing waiting) plus its events, and the batch with
// the earliest finish goes first. An account sending little therefore
// passes an account sending much, without starving it: every batch served
// moves the virtual time on, and a large batch's turn comes once the
// others have had as many events written. With one account waiting, the
// order is its own.
type queue struct {
	slots  chan struct{} // one per batch waiting: bounds the queue
	ready  chan struct{} // a batch was pushed since the writer last looked
	closed chan struct{}

	mu          sync.Mutex
	lines       map[int64]*line
	order       lines // the lines waiting, earliest head first
	vtime       int64 // the virtual start of the batch served last
	n           int   // batches waiting
	err         error // why the queue closed
	sharedUntil time.Time
	skipped     []*line // scratch for take
}

// line is one account's waiting batches, oldest first.
type line struct {
	account int64
	batches []*batch
	finish  int64 // virtual finish of its last batch
	inGroup int   // events it has in the commit take is making
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
		// An account with nothing waiting starts at the virtual time:
		// being idle earns no credit.
		l = &line{account: b.account, finish: q.vtime}
		q.lines[b.account] = l
	}
	l.finish += int64(len(b.events) - b.next)
	b.finish = l.finish
	l.batches = append(l.batches, b)
	if len(l.batches) == 1 {
		heap.Push(&q.order, l)
	}
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // the writer has a wake-up pending already
	}
	return nil
}

// take appends to group the batches of the next commit and returns it with
// their number of events. It takes batches earliest finish first while they
// fit (the commit's first batch always does), and an account whose next
// batch does not fit is done for this commit. A batch fits while the
// commit stays within maxEvents and, while more than one account writes,
// its account's share of the commit within fairEvents: a quiet account's
// event then commits without a flooder's large batch beside it, while many
// accounts' small batches still share one commit.
//
// While accounts share the writer, a batch larger than the share goes in
// pieces of at most fairEvents (b.piece events from b.next), one piece a
// commit, so that no commit another account waits for holds more than a
// share of anyone's events. A batch whose last piece is taken leaves the
// queue; until then it stays at the head of its line, and the writer
// advances it (advance) or drops it (drop) after each commit.
//
// A commit made while sharing holds one kind of batch, that of the first
// it takes: whole batches of at most a share, or pieces of larger ones.
// A quiet account's event then commits with other small batches only, not
// beside a flooder's piece, whose rows would make its commit several
// times longer; two flooders' pieces still share a commit.
func (q *queue) take(group []*batch, now time.Time, maxEvents, fairEvents int) ([]*batch, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return group, 0
	}
	if len(q.order) > 1 {
		q.sharedUntil = now.Add(fairWindow)
	}
	sharing := now.Before(q.sharedUntil)
	share := maxEvents
	if sharing {
		share = fairEvents
	}
	n := 0
	q.skipped = q.skipped[:0]
	pieces := false // the kind of batches the commit holds, while sharing: its first's
	for len(q.order) > 0 {
		l := q.order[0]
		b := l.batches[0]
		rest := len(b.events) - b.next
		piece := rest
		if sharing {
			big := len(b.events) > share // it goes in pieces
			if n == 0 {
				pieces = big // the first batch taken always fits
			} else if big != pieces {
				q.skipped = append(q.skipped, heap.Pop(&q.order).(*line))
				continue
			}
		}
		if n > 0 || sharing {
			room := min(maxEvents-n, share-l.inGroup)
			if rest > room {
				if !sharing || room <= 0 {
					q.skipped = append(q.skipped, heap.Pop(&q.order).(*line))
					continue
				}
				piece = room
			}
		}
		b.piece = piece
		group = append(group, b)
		n += piece
		l.inGroup += piece
		q.vtime = max(q.vtime, b.finish-int64(rest))
		if piece < rest {
			// The rest waits at the head of the line for a later commit.
			q.skipped = append(q.skipped, heap.Pop(&q.order).(*line))
			continue
		}
		if q.shift(l) {
			heap.Pop(&q.order)
		} else {
			heap.Fix(&q.order, 0)
		}
	}
	for _, l := range q.skipped {
		l.inGroup = 0
		heap.Push(&q.order, l)
	}
	for _, l := range q.order {
		l.inGroup = 0
	}
	clear(q.skipped)
	return group, n
}

// takeSmall appends to group, for a commit being made, the whole batches
// of at most share events, none of them begun or in that commit, whose events are all for
// accounts after the given one, from the heads of their lines, earliest
// finish first, while the events taken stay within share; it looks at most
// at share lines. It returns group and the events taken.
func (q *queue) takeSmall(group []*batch, share int, after int64) ([]*batch, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	q.skipped = q.skipped[:0]
	// Small batches have the earliest finishes: a share of lines looked
	// at finds them, however many accounts wait.
	for looked := 0; len(q.order) > 0 && looked < share && n < share; looked++ {
		l := heap.Pop(&q.order).(*line)
		b := l.batches[0]
		// A batch begun, or in the commit being made (a small one whose
		// account's share was partly used goes in pieces too), is not
		// taken again.
		if b.next > 0 || b.piece > 0 || len(b.events) > share || n+len(b.events) > share || !b.accountsAfter(after) {
			q.skipped = append(q.skipped, l)
			continue
		}
		b.piece = len(b.events)
		group = append(group, b)
		n += b.piece
		q.vtime = max(q.vtime, b.finish-int64(b.piece))
		if !q.shift(l) {
			heap.Push(&q.order, l) // its next batch waits its turn
		}
	}
	for _, l := range q.skipped {
		heap.Push(&q.order, l)
	}
	clear(q.skipped)
	return group, n
}

// accountsAfter reports whether every event of b is for an account after
// id. An operator's batch may name several accounts, not only its line's.
func (b *batch) accountsAfter(id int64) bool {
	for _, p := range b.events {
		if p.accountID <= id {
			return false
		}
	}
	return true
}

// takeStarted appends to group, whole, the rest of every batch that earlier
// commits stored in part: at shutdown they go in before the queue closes.
func (q *queue) takeStarted(group []*batch) ([]*batch, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	kept := q.order[:0]
	for _, l := range q.order {
		if b := l.batches[0]; b.next > 0 {
			b.piece = len(b.events) - b.next
			group = append(group, b)
			n += b.piece
			if q.shift(l) {
				continue
			}
		}
		kept = append(kept, l)
	}
	clear(q.order[len(kept):])
	q.order = kept
	heap.Init(&q.order)
	return group, n
}

// pieceLeft reports whether b went into the last commit as a piece with
// more of it still queued.
func (b *batch) pieceLeft() bool { return b.next+b.piece < len(b.events) }

// drop takes out of the queue a batch still waiting there after a commit
// carried one of its pieces: the commit failed, or found the batch stale.
func (q *queue) drop(b *batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lines[b.account]
	if l == nil || len(l.batches) == 0 || l.batches[0] != b {
		return // the queue was closed, and failed it
	}
	i := slices.Index(q.order, l)
	if q.shift(l) {
		heap.Remove(&q.order, i)
	} else {
		heap.Fix(&q.order, i)
	}
}

// shift takes the head batch out of line l and frees its place in the
// queue. It reports whether the line is now empty, and then forgets it;
// the caller keeps the heap of lines in order.
func (q *queue) shift(l *line) (empty bool) {
	l.batches[0] = nil
	l.batches = l.batches[1:]
	q.n--
	<-q.slots
	if len(l.batches) == 0 {
		delete(q.lines, l.account)
		return true
	}
	return false
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
	for _, l := range q.order {
		for _, b := range l.batches {
			b.err = err
			close(b.done)
			<-q.slots
		}
	}
	q.order, q.lines, q.n = nil, nil, 0
}

// len returns the batches waiting.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// lines is a heap of lines by the virtual finish of their oldest batch.
type lines []*line

func (h lines) Len() int { return len(h) }
func (h lines) Less(i, j int) bool {
	return h[i].batches[0].finish < h[j].batches[0].finish
}
func (h lines) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *lines) Push(x any)   { *h = append(*h, x.(*line)) }
func (h *lines) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}

package client

import (
	"errors"
	"time"
)

// The recorder's goroutines: workers that take batches from the ring and
// deliver them, and the drainer that sends what the spool holds.

// work takes batches from the ring and delivers them, until stopped.
func (r *recorder) work() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		// While a batch waits to be retried, the others wait with it
		// rather than knock on a door that is shut.
		ready := r.retrying == 0 && (r.count >= r.cfg.batchSize || r.count > 0 && (r.flushing > 0 || time.Since(r.oldestAt) >= r.cfg.flushInterval))
		if !ready {
			var due <-chan time.Time
			if r.count > 0 && r.retrying == 0 { // a retry that ends pokes the workers
				timer.Reset(r.cfg.flushInterval - time.Since(r.oldestAt))
				due = timer.C
			}
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-r.wake:
			case <-due:
			}
			continue
		}
		batch := r.takeLocked(r.cfg.batchSize)
		first := batch[0].n
		r.inflight[first] = len(batch)
		more := r.count > 0
		r.mu.Unlock()
		if more {
			r.poke(1) // another worker takes the next batch meanwhile
		}
		r.deliverEntries(batch)
		r.mu.Lock()
		delete(r.inflight, first)
		r.changedLocked()
		r.mu.Unlock()
	}
}

// deliverEntries sends a batch taken from the ring: through the spool when
// the spool holds earlier events (their order is kept) or once Stele has
// failed to take it, straight otherwise.
func (r *recorder) deliverEntries(batch []entry) {
	events := r.encodeEntries(batch)
	if r.spool != nil && r.spool.pending() && r.waitTurn(batch[0].n) && r.spoolWait(events) {
		return
	}
	err := r.send(events, r.spool != nil)
	switch {
	case err == nil:
	case errors.Is(err, errGaveUp) && r.waitTurn(batch[0].n) && r.spoolWait(events):
	default:
		r.keepOrLose(events)
	}
}

// waitTurn waits until the batches taken before the one numbered first
// are dealt with, so that batches enter the spool in the order they were
// recorded. It returns true.
func (r *recorder) waitTurn(first uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		earlier := false
		for f := range r.inflight {
			earlier = earlier || f < first
		}
		if !earlier {
			return true
		}
		ch := r.changed
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	}
}

// spoolWait writes events to the spool, waiting for room while it is full;
// false when Close gave up first.
func (r *recorder) spoolWait(events [][]byte) bool {
	for {
		err := r.spool.append(events)
		if err == nil {
			return true
		}
		if !errors.Is(err, errSpoolFull) {
			r.report(err)
		}
		select {
		case <-r.ctx.Done():
			return false
		case <-r.spool.room():
		case <-time.After(r.cfg.backoffMax):
		}
	}
}

// keepOrLose is the end of events Close gave up on: the spool if there is
// one and it has room, else they are counted as lost.
func (r *recorder) keepOrLose(events [][]byte) {
	if len(events) == 0 {
		return
	}
	if r.spool != nil {
		err := r.spool.append(events)
		if err == nil {
			return
		}
		r.report(err)
	}
	r.mu.Lock()
	r.lost += int64(len(events))
	r.mu.Unlock()
}

// drain sends what the spool holds, oldest first, one batch at a time.
func (r *recorder) drain() {
	defer r.wg.Done()
	for {
		if !r.spool.pending() {
			select {
			case <-r.stop:
				return
			case <-r.spool.wake:
				continue
			}
		}
		events, pos := r.spool.read(r.cfg.batchSize)
		if len(events) > 0 {
			if err := r.send(events, false); err != nil {
				return // Close gave up; the records stay in the spool
			}
		}
		r.spool.commit(pos)
		r.mu.Lock()
		r.changedLocked()
		r.mu.Unlock()
	}
}

// report hands an error to the error handler and keeps delivery errors
// for the errors of Flush, Close and a blocked Record.
func (r *recorder) report(err error) {
	var de *DeliveryError
	if errors.As(err, &de) {
		r.mu.Lock()
		r.lastErr = de.Err
		r.mu.Unlock()
	}
	if r.cfg.onError != nil {
		r.cfg.onError(err)
	}
}

package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/forward"
	"github.com/stele-audit/stele/internal/leader"
	"github.com/stele-audit/stele/internal/search"
)

// shutdownGrace is how long a batch being sent when the stream stops (the
// node shuts down or loses the lead) may take to finish: a batch cut off
// is sent again by whoever runs the stream next, a batch let finish is
// not.
const shutdownGrace = 3 * time.Second

// graceful returns a context that ends grace after ctx does.
func graceful(ctx context.Context, grace time.Duration) (context.Context, func()) {
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return gctx, func() {
		stop()
		cancel()
	}
}

// errGone stops a stream that was deleted while it ran.
var errGone = errors.New("the stream was deleted")

// cursor is where a running stream stands in one account.
type cursor struct {
	id      int64
	account string
	next    int64 // the first seq not yet forwarded
	head    int64 // the account's head, as last read
	// Counts since the cursor was last stored.
	forwarded, skipped int64
	dirty              bool
}

// run is one stream running on this node: it reads each account's events
// after the cursor, sends those that match, and stores the cursor.
type run struct {
	f      *Forwarder
	s      *stele.Stream
	q      stele.Query
	sender forward.Sender
	fig    *Figures

	cursors  map[int64]*cursor
	health   stele.StreamHealth
	failures int
	// For the reported rate: events sent since the last report.
	sent       int64
	lastReport time.Time
	events     []*stele.Event
}

// runStream runs s until ctx is done, s is paused, or s is deleted.
func (f *Forwarder) runStream(ctx context.Context, s *stele.Stream, fig *Figures) error {
	r := &run{f: f, s: s, fig: fig, cursors: map[int64]*cursor{}, health: s.Health, lastReport: time.Now()}
	r.health.PausedAt = time.Time{}
	q, err := ParseQuery(s.Query)
	if err != nil {
		return r.pause(ctx, fmt.Errorf("its query no longer parses: %w", err))
	}
	r.q = q
	dest, err := Destination(ctx, f.Keys, s)
	if err != nil {
		return err
	}
	if r.sender, err = forward.New(dest, f.Options); err != nil {
		if stele.ErrorCode(err) == stele.EINVALID {
			return r.pause(ctx, fmt.Errorf("its destination is no longer valid: %w", err))
		}
		return err
	}
	defer r.sender.Close()
	f.Logger.Info("stream started", "stream", s.ID, "account", s.Account, "destination", audit.DestinationText(s.Destination))
	// Replays go beside the live cursor, on a connection of their own.
	var wg sync.WaitGroup
	rctx, stopReplays := context.WithCancel(ctx)
	wg.Go(func() { f.runReplays(rctx, s, r.q, dest) })
	defer func() {
		stopReplays()
		wg.Wait()
	}()
	return r.loop(ctx)
}

func (r *run) loop(ctx context.Context) error {
	cfg := r.f.Config
	for {
		wake := r.f.wake()
		full, err := r.pass(ctx)
		if ctx.Err() != nil {
			// Store what was sent, so that the next leader starts there.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			r.save(sctx)
			cancel()
			return nil
		}
		switch {
		case errors.Is(err, errGone):
			return nil
		case err != nil && forward.Permanent(err):
			return r.pause(ctx, err)
		case err != nil:
			r.fail(ctx, err)
			continue
		}
		if full {
			if time.Since(r.lastReport) >= cfg.SaveEvery {
				if err := r.save(ctx); errors.Is(err, errGone) {
					return nil
				}
			}
			continue
		}
		// Caught up: store the cursor now, so that the lag shown falls to
		// zero, and report a rate that fell to zero too.
		if r.dirty() || (r.health.EventsPerSecond > 0 && time.Since(r.lastReport) >= cfg.SaveEvery) {
			if err := r.save(ctx); errors.Is(err, errGone) {
				return nil
			}
		}
		r.wait(ctx, wake)
	}
}

// pass reads one batch of each account that has events past its cursor.
// full reports whether some account had a whole batch: there may be more
// to read at once.
func (r *run) pass(ctx context.Context) (full bool, err error) {
	positions, err := r.f.Store.StreamPositions(ctx, r.s.ID)
	if err != nil {
		return false, err
	}
	if len(positions) == 0 {
		return false, errGone
	}
	seen := make(map[int64]*cursor, len(positions))
	for _, p := range positions {
		c, ok := r.cursors[p.AccountID]
		if !ok {
			c = &cursor{id: p.AccountID, account: p.Account, next: p.NextSeq}
			r.cursors[p.AccountID] = c
		}
		// Another node may have moved the stored cursor past this one's
		// (it led the stream for a while): never send those again.
		c.next = max(c.next, p.NextSeq)
		c.head = max(c.head, p.Head)
		seen[p.AccountID] = c
	}
	for id, c := range r.cursors {
		if _, ok := seen[id]; !ok && !c.dirty {
			delete(r.cursors, id) // a deleted account
		}
	}
	r.fig.dropAccounts(seen)
	for _, p := range positions {
		c := seen[p.AccountID]
		if c.next >= c.head {
			r.fig.read(c, 0, 0, 0)
			continue
		}
		n, err := r.step(ctx, c)
		if err != nil {
			return false, err
		}
		if n == r.f.Config.Batch {
			full = true
		}
	}
	return full, nil
}

// step reads and sends one batch of an account's events after its cursor,
// and moves the cursor past them once they are sent.
func (r *run) step(ctx context.Context, c *cursor) (int, error) {
	rows, err := r.f.Store.RowsBySeq(ctx, c.id, c.next, r.f.Config.Batch)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		// The head was read first, and every event below it was committed
		// by then: those not found now were purged by retention.
		gone := c.head - c.next
		r.skip(c, gone)
		c.next = c.head
		r.fig.read(c, 0, 0, gone)
		return 0, nil
	}
	if gap := rows[0].Seq - c.next; gap > 0 {
		r.skip(c, gap)
		c.next = rows[0].Seq
		r.fig.read(c, 0, 0, gap)
	}
	lag := max(0, time.Since(time.UnixMicro(rows[0].ReceivedAt)).Seconds())
	keys, err := r.f.Keys.Account(ctx, c.id)
	if err != nil {
		return 0, err
	}
	floor, err := r.f.floor(ctx, c.id)
	if err != nil {
		return 0, err
	}
	r.events = r.events[:0]
	var expired int64
	for i := range rows {
		if rows[i].Time < floor { // past retention: skipped as if purged
			expired++
			continue
		}
		e, err := search.Decrypt(keys, c.account, &rows[i])
		if err != nil {
			return 0, fmt.Errorf("read event %d of account %s: %w", rows[i].Seq, c.account, err)
		}
		if search.Matches(e, r.q) {
			r.events = append(r.events, e)
		}
	}
	if len(r.events) > 0 {
		sctx, done := graceful(ctx, shutdownGrace)
		err := r.sender.Send(sctx, r.events)
		done()
		if err != nil {
			return 0, err
		}
		r.health.LastSentAt = time.Now().UTC()
		r.sent += int64(len(r.events))
	}
	if r.failures > 0 {
		r.failures = 0
		r.fig.succeeded()
	}
	n := int64(len(r.events))
	clear(r.events)
	c.next = rows[len(rows)-1].Seq + 1
	c.head = max(c.head, c.next)
	c.forwarded += n
	c.dirty = true
	r.skip(c, expired)
	r.fig.read(c, lag, n, expired)
	return len(rows), nil
}

func (r *run) skip(c *cursor, n int64) {
	if n > 0 {
		c.skipped += n
		c.dirty = true
	}
}

func (r *run) dirty() bool {
	for _, c := range r.cursors {
		if c.dirty {
			return true
		}
	}
	return false
}

// save stores the cursors that moved and the stream's health. A failure
// is logged and left for the next save: the cursors in memory stay ahead.
func (r *run) save(ctx context.Context) error {
	var progress []stele.StreamProgress
	var saved []*cursor
	for _, c := range r.cursors {
		if c.dirty {
			progress = append(progress, stele.StreamProgress{AccountID: c.id, NextSeq: c.next, Forwarded: c.forwarded, Skipped: c.skipped})
			saved = append(saved, c)
		}
	}
	now := time.Now()
	h := r.health
	h.EventsPerSecond = float64(r.sent) / max(now.Sub(r.lastReport).Seconds(), 0.001)
	h.ReportedAt = now.UTC()
	err := r.f.Store.AdvanceStream(ctx, r.s.ID, r.s.Version, progress, &h)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return errGone
	}
	if err != nil {
		r.f.Logger.Warn("stream: store the cursor", "stream", r.s.ID, "err", err)
		return err
	}
	for _, c := range saved {
		c.forwarded, c.skipped, c.dirty = 0, 0, false
	}
	r.health, r.sent, r.lastReport = h, 0, now
	return nil
}

// fail records a failed batch and waits before the next attempt.
func (r *run) fail(ctx context.Context, err error) {
	r.failures++
	r.fig.failed()
	msg := ErrorText(err)
	r.health.LastError, r.health.LastErrorAt = msg, time.Now().UTC()
	wait := forward.Backoff(r.failures, r.f.Config.MinBackoff, r.f.Config.MaxBackoff)
	r.f.Logger.Warn("stream: batch failed; it is sent again", "stream", r.s.ID, "err", msg, "failures", r.failures, "retry_in", wait)
	if r.failures == 1 || time.Since(r.lastReport) >= r.f.Config.SaveEvery {
		r.save(ctx)
	}
	leader.Sleep(ctx, wait)
}

// pause stops the stream for good, until it is updated: the destination
// refused it in a way no retry changes. The pause is stored, then
// recorded in the account's log.
func (r *run) pause(ctx context.Context, err error) error {
	msg := ErrorText(err)
	now := time.Now().UTC()
	r.health.PausedAt, r.health.LastError, r.health.LastErrorAt = now, msg, now
	r.f.Logger.Warn("stream paused: its destination refused it; update the stream to resume", "stream", r.s.ID, "err", msg)
	if err := r.save(ctx); err != nil {
		if errors.Is(err, errGone) {
			return nil
		}
		return fmt.Errorf("store the pause of stream %s: %w", r.s.ID, err)
	}
	if r.f.Audit != nil {
		r.f.Audit.Log(r.f.Audit.StreamPaused(ctx, r.s, msg))
	}
	return nil
}

// wait waits for a local commit (then lingers a little for more), for the
// poll interval, or for the end.
func (r *run) wait(ctx context.Context, wake <-chan struct{}) {
	t := time.NewTimer(r.f.Config.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-wake:
		leader.Sleep(ctx, r.f.Config.Linger)
	}
}

// wake returns the channel of the next local commit, or nil.
func (f *Forwarder) wake() <-chan struct{} {
	if f.Wake == nil {
		return nil
	}
	return f.Wake()
}

// ErrorText is an error as a stream's status shows it: the application
// message, or the error's text, which the senders keep free of secrets
// and events, cut to the stored length.
func ErrorText(err error) string {
	var e *stele.Error
	msg := err.Error()
	if errors.As(err, &e) && e.Code != stele.EINTERNAL && errors.Unwrap(err) == nil {
		msg = e.Message
	}
	return clip(msg, stele.MaxStreamErrorLen)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

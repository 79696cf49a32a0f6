package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/recovery"
)

// Flush records in each account that had requests refused since the last
// flush one ingest.throttled event, with what was refused, and starts the
// next window: however hard an account is throttled, its log gets one
// event per window, not one per request.
func (q *Quotas) Flush(ctx context.Context, rec *audit.Recorder) error {
	now := q.now()
	q.mu.Lock()
	start, window := q.start, q.window
	q.start, q.window = now, map[int64]*RefusedWindow{}
	q.mu.Unlock()
	var errs []error
	// One record per account: an account deleted meanwhile must not take
	// the others' events down with it.
	for _, id := range slices.Sorted(maps.Keys(window)) {
		if err := rec.IngestThrottled(ctx, window[id].throttling(start, now)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", window[id].Account, err))
		}
	}
	return errors.Join(errs...)
}

// throttling is the window's refusals as the recorder takes them.
func (w *RefusedWindow) throttling(start, end time.Time) audit.Throttling {
	return audit.Throttling{Account: w.Account, Quota: w.Quota, Requests: w.Requests, Events: w.Events, Bytes: w.Bytes,
		ByEvents: w.ByEvents, ByBytes: w.ByBytes, First: w.First, Last: w.Last, WindowStart: start, WindowEnd: end}
}

// Loop flushes every interval until ctx is done, then once more, so that
// the refusals of the last window are recorded too.
func (q *Quotas) Loop(ctx context.Context, rec *audit.Recorder, every time.Duration, onError func(error)) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := recovery.Call(func() error { return q.Flush(fctx, rec) }); err != nil {
				onError(err)
			}
			return
		case <-t.C:
			// A round that panics is reported and the next one runs.
			if err := recovery.Call(func() error { return q.Flush(ctx, rec) }); err != nil {
				onError(err)
			}
		}
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
)

// Recorder stores Stele's own events (Service.Record does).
type Recorder interface {
	Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)
}

var quotaActor = &stele.Ref{Type: "system", ID: "stele:ingest_quota", Name: "Stele ingest quota"}

// Flush records in each account that had requests refused since the last
// flush one ingest.throttled event, with what was refused, and starts the
// next window: however hard an account is throttled, its log gets one
// event per window, not one per request.
func (q *Quotas) Flush(ctx context.Context, rec Recorder) error {
	now := q.now()
	q.mu.Lock()
	start, window := q.start, q.window
	q.start, q.window = now, map[int64]*RefusedWindow{}
	q.mu.Unlock()
	var errs []error
	// One Record call per account: an account deleted meanwhile must not
	// take the others' events down with it.
	for _, id := range slices.Sorted(maps.Keys(window)) {
		if _, err := rec.Record(ctx, throttledEvent(window[id], start, now)); err != nil {
			errs = append(errs, fmt.Errorf("record ingest.throttled for %s: %w", window[id].Account, err))
		}
	}
	return errors.Join(errs...)
}

func throttledEvent(w *RefusedWindow, start, now time.Time) stele.Event {
	q := w.Quota
	return stele.Event{
		Account: w.Account, Action: "ingest.throttled", Category: stele.CategorySystem, Outcome: stele.OutcomeFailure,
		Time: now, Actor: quotaActor, Target: &stele.Ref{Type: "account", ID: w.Account, Name: w.Account},
		Description: fmt.Sprintf("%d requests (%d events, %d bytes) refused over the ingest quota of %s: %s a second and %s a second, bursts of %d s",
			w.Requests, w.Events, w.Bytes, w.Account, rate(q.EventsPerSecond, "events"), rate(q.BytesPerSecond, "bytes"), q.BurstSeconds),
		Metadata: map[string]any{
			"window_start": start.UTC().Format(time.RFC3339Nano), "window_seconds": now.Sub(start).Seconds(),
			"first_refused_at": w.First.UTC().Format(time.RFC3339Nano), "last_refused_at": w.Last.UTC().Format(time.RFC3339Nano),
			"requests_refused": w.Requests, "events_refused": w.Events, "bytes_refused": w.Bytes,
			"refused_by_events_quota": w.ByEvents, "refused_by_bytes_quota": w.ByBytes,
			"events_per_second": q.EventsPerSecond, "bytes_per_second": q.BytesPerSecond, "burst_seconds": q.BurstSeconds,
		},
	}
}

func rate(n int64, unit string) string {
	if n == 0 {
		return "unlimited " + unit
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// Loop flushes every interval until ctx is done, then once more, so that
// the refusals of the last window are recorded too.
func (q *Quotas) Loop(ctx context.Context, rec Recorder, every time.Duration, onError func(error)) {
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

// QuotaChangeEvents returns the configuration events of a change to an
// account's ingest quota, for its own log and for _system's: one
// ingest_quota.changed with the quota before and after (as enforced, and
// which settings were the account's own), or none when neither changed.
// A change of type that changes the quota is one too.
func QuotaChangeEvents(before, after *stele.Account, types []stele.AccountType, actor *stele.Ref) []stele.Event {
	qb, qa := before.IngestQuota(types), after.IngestQuota(types)
	ob, oa := before.Ingest, after.Ingest
	own := func(p *int64) bool { return p != nil }
	if qb == qa && own(ob.EventsPerSecond) == own(oa.EventsPerSecond) && own(ob.BytesPerSecond) == own(oa.BytesPerSecond) &&
		own(ob.BurstSeconds) == own(oa.BurstSeconds) {
		return nil
	}
	meta := map[string]any{
		"events_per_second_before": qb.EventsPerSecond, "events_per_second_after": qa.EventsPerSecond,
		"bytes_per_second_before": qb.BytesPerSecond, "bytes_per_second_after": qa.BytesPerSecond,
		"burst_seconds_before": qb.BurstSeconds, "burst_seconds_after": qa.BurstSeconds,
		"events_per_second_override_before": own(ob.EventsPerSecond), "events_per_second_override_after": own(oa.EventsPerSecond),
		"bytes_per_second_override_before": own(ob.BytesPerSecond), "bytes_per_second_override_after": own(oa.BytesPerSecond),
		"burst_seconds_override_before": own(ob.BurstSeconds), "burst_seconds_override_after": own(oa.BurstSeconds),
	}
	desc := fmt.Sprintf("Ingest quota of %s changed from %s to %s", after.Name, quotaText(qb), quotaText(qa))
	if qb == qa {
		desc = fmt.Sprintf("Ingest quota of %s stays %s; which settings are its own changed", after.Name, quotaText(qa))
	}
	target := &stele.Ref{Type: "account", ID: after.Name, Name: after.Name}
	accounts := []string{after.Name, stele.SystemAccount}
	if after.Name == stele.SystemAccount {
		accounts = accounts[:1]
	}
	var out []stele.Event
	for _, acct := range accounts {
		out = append(out, stele.Event{Account: acct, Action: "ingest_quota.changed", Category: stele.CategoryConfiguration,
			Outcome: stele.OutcomeSuccess, Actor: actor, Target: target, Description: desc, Metadata: meta})
	}
	return out
}

// quotaText is a quota as a person reads it.
func quotaText(q stele.IngestQuota) string {
	return fmt.Sprintf("%s a second and %s a second, bursts of %d s", rate(q.EventsPerSecond, "events"), rate(q.BytesPerSecond, "bytes"), q.BurstSeconds)
}

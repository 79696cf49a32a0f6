package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// quotaChange is the ingest_quota.changed event of an account change, with
// the quota before and after (as enforced, and which settings were the
// account's own), or nil when neither changed. A change of type that
// changes the quota is one too.
func quotaChange(a Actor, before, after *stele.Account, types []stele.AccountType) *stele.Event {
	qb, qa := before.IngestQuota(types), after.IngestQuota(types)
	ob, oa := before.Ingest, after.Ingest
	own := func(p *int64) bool { return p != nil }
	if qb == qa && own(ob.EventsPerSecond) == own(oa.EventsPerSecond) && own(ob.BytesPerSecond) == own(oa.BytesPerSecond) &&
		own(ob.BurstSeconds) == own(oa.BurstSeconds) {
		return nil
	}
	desc := fmt.Sprintf("%s changed the ingest quota of %s from %s to %s", a.name(), after.Name, quotaText(qb), quotaText(qa))
	if qb == qa {
		desc = fmt.Sprintf("%s kept the ingest quota of %s at %s; which settings are its own changed", a.name(), after.Name, quotaText(qa))
	}
	return &stele.Event{Account: after.Name, Action: "ingest_quota.changed", Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
		Target: accountRef(after.Name), Description: desc,
		Metadata: map[string]any{
			"events_per_second_before": qb.EventsPerSecond, "events_per_second_after": qa.EventsPerSecond,
			"bytes_per_second_before": qb.BytesPerSecond, "bytes_per_second_after": qa.BytesPerSecond,
			"burst_seconds_before": qb.BurstSeconds, "burst_seconds_after": qa.BurstSeconds,
			"events_per_second_override_before": own(ob.EventsPerSecond), "events_per_second_override_after": own(oa.EventsPerSecond),
			"bytes_per_second_override_before": own(ob.BytesPerSecond), "bytes_per_second_override_after": own(oa.BytesPerSecond),
			"burst_seconds_override_before": own(ob.BurstSeconds), "burst_seconds_override_after": own(oa.BurstSeconds),
		}}
}

// Throttling is what an account's ingest quota refused over a window: the
// requests, their events and bytes, and how many each quota refused.
type Throttling struct {
	Account                 string
	Quota                   stele.IngestQuota // the account's quota when last refused
	Requests, Events, Bytes int64
	ByEvents, ByBytes       int64
	First, Last             time.Time // the first and last refusal
	WindowStart, WindowEnd  time.Time
}

// ingestQuota is the ingest quota as the actor of its refusals.
var ingestQuota = job("ingest_quota", "Stele ingest quota")

// IngestThrottled records in the account's log what its ingest quota
// refused over a window: one event however many requests were refused.
func (r *Recorder) IngestThrottled(ctx context.Context, t Throttling) error {
	q := t.Quota
	return r.record(ctx, ingestQuota, stele.Event{Account: t.Account, Action: "ingest.throttled", Category: stele.CategorySystem, Outcome: stele.OutcomeFailure,
		Time: t.WindowEnd, Target: accountRef(t.Account),
		Description: fmt.Sprintf("%s refused %d requests (%d events, %d bytes) of %s, over its quota of %s", ingestQuota.name(),
			t.Requests, t.Events, t.Bytes, t.Account, quotaText(q)),
		Metadata: map[string]any{
			"window_start": t.WindowStart.UTC().Format(time.RFC3339Nano), "window_seconds": t.WindowEnd.Sub(t.WindowStart).Seconds(),
			"first_refused_at": t.First.UTC().Format(time.RFC3339Nano), "last_refused_at": t.Last.UTC().Format(time.RFC3339Nano),
			"requests_refused": t.Requests, "events_refused": t.Events, "bytes_refused": t.Bytes,
			"refused_by_events_quota": t.ByEvents, "refused_by_bytes_quota": t.ByBytes,
			"events_per_second": q.EventsPerSecond, "bytes_per_second": q.BytesPerSecond, "burst_seconds": q.BurstSeconds,
		}})
}

// quotaText is a quota as a person reads it.
func quotaText(q stele.IngestQuota) string {
	return fmt.Sprintf("%s a second and %s a second, bursts of %d s", rate(q.EventsPerSecond, "events"), rate(q.BytesPerSecond, "bytes"), q.BurstSeconds)
}

func rate(n int64, unit string) string {
	if n == 0 {
		return "unlimited " + unit
	}
	return fmt.Sprintf("%d %s", n, unit)
}

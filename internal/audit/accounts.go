package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// AccountCreated records in _system that a created the account acct, with
// the retention and ingest quota it has under types.
func (r *Recorder) AccountCreated(ctx context.Context, a Actor, acct *stele.Account, types []stele.AccountType) error {
	days, q := acct.Retention(types), acct.IngestQuota(types)
	return r.record(ctx, a, stele.Event{Account: stele.SystemAccount, Action: "account.created", Outcome: stele.OutcomeSuccess,
		Target:      accountRef(acct.Name),
		Description: fmt.Sprintf("%s created account %s of type %s: %d days retention, ingest %s", a.name(), acct.Name, acct.Type, days, quotaText(q)),
		Metadata: map[string]any{"type": acct.Type, "retention_days": days,
			"ingest_events_per_second": q.EventsPerSecond, "ingest_bytes_per_second": q.BytesPerSecond, "ingest_burst_seconds": q.BurstSeconds}})
}

// AccountDeleted records in _system that a deleted the account acct, its
// keys destroyed keys and events deleted events: the account's own log is
// gone with it.
func (r *Recorder) AccountDeleted(ctx context.Context, a Actor, acct *stele.Account, keys, events int64) error {
	return r.record(ctx, a, stele.Event{Account: stele.SystemAccount, Action: "account.deleted", Outcome: stele.OutcomeSuccess,
		Target:      accountRef(acct.Name),
		Description: fmt.Sprintf("%s deleted account %s: %d keys destroyed (crypto-shredded), %d events deleted", a.name(), acct.Name, keys, events),
		Metadata:    map[string]any{"type": acct.Type, "keys_destroyed": keys, "events_deleted": events, "account_id": acct.ID}})
}

// AccountChanged records what a changed of an account, from before to
// after, under types, in the account's log and in _system's, all at once:
// retention.changed when its type or retention changed, legal_hold.set or
// legal_hold.lifted, and ingest_quota.changed when its quota did. A change
// that changed none of these records nothing.
func (r *Recorder) AccountChanged(ctx context.Context, a Actor, before, after *stele.Account, types []stele.AccountType) error {
	var events []stele.Event
	for _, e := range []*stele.Event{retentionChange(a, before, after, types), legalHoldChange(a, before, after), quotaChange(a, before, after, types)} {
		if e != nil {
			events = append(events, both(*e)...)
		}
	}
	return r.record(ctx, a, events...)
}

package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// retentionChange is the retention.changed event of an account change
// (for the account's log), or nil when its type and retention stayed.
func retentionChange(a Actor, before, after *stele.Account, types []stele.AccountType) *stele.Event {
	rb, ra := before.Retention(types), after.Retention(types)
	ob, oa := before.RetentionDays != nil, after.RetentionDays != nil
	// Dropping an override equal to the type's days (or setting one) keeps
	// the days but is still a change: later type changes act differently.
	if before.Type == after.Type && rb == ra && ob == oa {
		return nil
	}
	desc := fmt.Sprintf("%s changed the retention of %s from %d to %d days (type %s → %s)", a.name(), after.Name, rb, ra, before.Type, after.Type)
	if rb == ra && before.Type == after.Type {
		source := "the " + after.Type + " type's default"
		if oa {
			source = "its own setting"
		}
		desc = fmt.Sprintf("%s kept the retention of %s at %d days, now %s", a.name(), after.Name, ra, source)
	}
	return &stele.Event{Account: after.Name, Action: "retention.changed", Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
		Target: accountRef(after.Name), Description: desc,
		Metadata: map[string]any{"type_before": before.Type, "type_after": after.Type, "retention_days_before": rb, "retention_days_after": ra,
			"retention_override_before": ob, "retention_override_after": oa}}
}

// legalHoldChange is the legal_hold.set or legal_hold.lifted event of an
// account change, or nil when its legal hold stayed.
func legalHoldChange(a Actor, before, after *stele.Account) *stele.Event {
	if before.LegalHold == after.LegalHold {
		return nil
	}
	action, desc := "legal_hold.lifted", fmt.Sprintf("%s lifted the legal hold on %s", a.name(), after.Name)
	if after.LegalHold {
		action, desc = "legal_hold.set", fmt.Sprintf("%s set a legal hold on %s: retention purges suspended", a.name(), after.Name)
	}
	return &stele.Event{Account: after.Name, Action: action, Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
		Target: accountRef(after.Name), Description: desc,
		Metadata: map[string]any{"legal_hold_before": before.LegalHold, "legal_hold_after": after.LegalHold}}
}

// Purge is what one retention run deleted of an account: the events of
// seqs FromSeq to BelowSeq-1, whose times run from Oldest to Newest, all
// older than Cutoff, in Batches transactions.
type Purge struct {
	Deleted           int64
	FromSeq, BelowSeq int64
	Oldest, Newest    time.Time
	Cutoff            time.Time
	RetentionDays     int
	Batches           int
}

// retentionJob is the retention job as the actor of its purges.
var retentionJob = job("retention", "Stele retention")

// Purged records in account's log that the retention job deleted what p
// says: the log keeps the record of what left it.
func (r *Recorder) Purged(ctx context.Context, account string, p Purge) error {
	a := retentionJob
	return r.record(ctx, a, stele.Event{Account: account, Action: "retention.purged", Category: stele.CategoryAudit, Outcome: stele.OutcomeSuccess,
		Target: accountRef(account),
		Description: fmt.Sprintf("%s deleted %d events older than %d days (seqs %d to %d, %s to %s)", a.name(),
			p.Deleted, p.RetentionDays, p.FromSeq, p.BelowSeq-1, p.Oldest.Format(time.RFC3339), p.Newest.Format(time.RFC3339)),
		Metadata: map[string]any{
			"deleted": p.Deleted, "from_seq": p.FromSeq, "below_seq": p.BelowSeq,
			"oldest_time": p.Oldest.Format(time.RFC3339Nano), "newest_time": p.Newest.Format(time.RFC3339Nano),
			"cutoff": p.Cutoff.Format(time.RFC3339Nano), "retention_days": p.RetentionDays, "batches": p.Batches,
		}})
}

// AlertHistoryPurged records that the retention job deleted n of the
// account's alert firings (with their deliveries) fired before cutoff.
func (r *Recorder) AlertHistoryPurged(ctx context.Context, account string, n int64, cutoff time.Time, days int) error {
	a := retentionJob
	return r.record(ctx, a, stele.Event{Account: account, Action: "retention.alert_history_purged", Category: stele.CategoryAudit,
		Outcome: stele.OutcomeSuccess, Target: accountRef(account),
		Description: fmt.Sprintf("%s deleted %d alert firings older than %d days, with their deliveries", a.name(), n, days),
		Metadata:    map[string]any{"firings": n, "cutoff": cutoff.Format(time.RFC3339Nano), "retention_days": days}})
}

package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// Verification is one check of a log's tamper evidence. Mode is "store"
// (the database, every account or one) or "url" (a live server, through
// its API); Account is the account verified, _system for a whole store,
// or "" for the account of the key a "url" check is recorded with.
type Verification struct {
	Account     string
	Mode        string
	Server      string // the server's URL, in "url" mode
	Events      int64  // events checked
	Checkpoints int64  // checkpoints checked
	Failures    int
}

// Verified records that a verified the log as v says: a success when
// nothing failed.
func (r *Recorder) Verified(ctx context.Context, a Actor, v Verification) error {
	outcome, result := stele.OutcomeSuccess, "passed"
	if v.Failures > 0 {
		outcome, result = stele.OutcomeFailure, "failed"
	}
	what := "the store's tamper evidence"
	if v.Mode == "url" {
		what = "the tamper evidence of " + v.Server + " (signed checkpoint, its consistency, sample inclusion proofs)"
	}
	meta := map[string]any{"mode": v.Mode, "result": result, "events": v.Events, "checkpoints": v.Checkpoints, "failures": v.Failures}
	if v.Server != "" {
		meta["server"] = v.Server
	}
	return r.record(ctx, a, stele.Event{Account: v.Account, Action: "audit_log.verified", Outcome: outcome,
		Description: fmt.Sprintf("%s verified %s: %d events, %d checkpoints, %d failures: %s", a.name(), what, v.Events, v.Checkpoints, v.Failures, result),
		Metadata:    meta})
}

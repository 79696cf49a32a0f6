package ingest

import (
	"context"

	"github.com/stele-audit/stele"
)

// AppendUnchecked stores events as they are, skipping Validate: the way an
// older Stele, whose rules were looser, stored them (metadata numbers such
// as 1e19 or 1e400 before they were checked). Real stores hold such events
// and the read side must show them, so tests and fuzzers build such stores
// with it. Only the time (now when unset), the outcome (unknown) and a
// built-in action's category are filled in. Nothing that serves requests
// or runs jobs may call it: TestOnlyTestsCallAppendUnchecked holds that.
func (s *Service) AppendUnchecked(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	now := s.now().UTC().Truncate(stele.TimeUnit)
	out := make([]stele.Event, len(events))
	for i, e := range events {
		if e.Time.IsZero() {
			e.Time = now
		}
		if e.Outcome == "" {
			e.Outcome = stele.OutcomeUnknown
		}
		if e.Category == "" {
			e.Category = stele.Catalog[e.Action]
		}
		out[i] = e
	}
	return s.append(ctx, &stele.Principal{Account: stele.SystemAccount, Operator: true}, out, -1, true)
}

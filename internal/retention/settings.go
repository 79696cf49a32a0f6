package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// Settings reads and changes an account's retention: the console's
// Settings → Retention page and the CLI share it. Every change is recorded
// in the account and in _system as a configuration event, with before and
// after values.
type Settings struct {
	Accounts stele.AccountStore
	Recorder Recorder
	Types    []stele.AccountType // DefaultAccountTypes when nil
	Now      func() time.Time
}

func (s *Settings) types() []stele.AccountType {
	if s.Types != nil {
		return s.Types
	}
	return stele.DefaultAccountTypes
}

// View returns the retention settings of a, as of now.
func View(a *stele.Account, types []stele.AccountType, now time.Time) stele.RetentionSettings {
	cutoff, days, _ := Cutoff(a, types, now)
	return stele.RetentionSettings{Account: a.Name, Type: a.Type, RetentionDays: days,
		Override: a.RetentionDays != nil, LegalHold: a.LegalHold, Cutoff: cutoff}
}

// Get returns the named account's retention settings.
func (s *Settings) Get(ctx context.Context, account string) (stele.RetentionSettings, error) {
	a, err := s.Accounts.AccountByName(ctx, account)
	if err != nil {
		return stele.RetentionSettings{}, err
	}
	return View(a, s.types(), s.now()), nil
}

func (s *Settings) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Update applies u to the named account (its type, retention override and
// legal hold), records the change as done by actor, and returns the new
// settings. Callers check the actor's permission (settings.manage) first.
func (s *Settings) Update(ctx context.Context, account string, u stele.AccountUpdate, actor *stele.Ref) (stele.RetentionSettings, error) {
	acct, err := s.Accounts.AccountByName(ctx, account)
	if err != nil {
		return stele.RetentionSettings{}, err
	}
	if err := u.Validate(s.types()); err != nil {
		return stele.RetentionSettings{}, err
	}
	// The change events compare with the account as the update found it,
	// in its own transaction: another change in between would otherwise
	// be recorded as this one's "before".
	before, after, err := s.Accounts.UpdateAccount(ctx, acct.ID, u)
	if err != nil {
		return stele.RetentionSettings{}, err
	}
	if events := ChangeEvents(before, after, s.types(), actor); len(events) > 0 {
		if _, err := s.Recorder.Record(ctx, events...); err != nil {
			return stele.RetentionSettings{}, fmt.Errorf("record retention change: %w", err)
		}
	}
	return View(after, s.types(), s.now()), nil
}

// ChangeEvents returns the configuration events of an account change, for
// the account's own log and for _system: retention.changed when its type or
// retention changed, legal_hold.set or legal_hold.lifted.
func ChangeEvents(before, after *stele.Account, types []stele.AccountType, actor *stele.Ref) []stele.Event {
	var out []stele.Event
	target := &stele.Ref{Type: "account", ID: after.Name, Name: after.Name}
	rb, ra := before.Retention(types), after.Retention(types)
	ob, oa := before.RetentionDays != nil, after.RetentionDays != nil
	// Dropping an override equal to the type's days (or setting one) keeps
	// the days but is still a change: later type changes act differently.
	if before.Type != after.Type || rb != ra || ob != oa {
		meta := map[string]any{"type_before": before.Type, "type_after": after.Type, "retention_days_before": rb, "retention_days_after": ra,
			"retention_override_before": ob, "retention_override_after": oa}
		desc := fmt.Sprintf("Retention of %s changed from %d to %d days (type %s → %s)", after.Name, rb, ra, before.Type, after.Type)
		if rb == ra && before.Type == after.Type {
			source := "the " + after.Type + " type's default"
			if oa {
				source = "its own setting"
			}
			desc = fmt.Sprintf("Retention of %s stays %d days, now %s", after.Name, ra, source)
		}
		for _, acct := range []string{after.Name, stele.SystemAccount} {
			out = append(out, stele.Event{Account: acct, Action: "retention.changed", Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
				Actor: actor, Target: target, Description: desc, Metadata: meta})
		}
	}
	if before.LegalHold != after.LegalHold {
		action, desc := "legal_hold.lifted", "Legal hold lifted on "+after.Name
		if after.LegalHold {
			action, desc = "legal_hold.set", "Legal hold set on "+after.Name+": retention purges suspended"
		}
		meta := map[string]any{"legal_hold_before": before.LegalHold, "legal_hold_after": after.LegalHold}
		for _, acct := range []string{after.Name, stele.SystemAccount} {
			out = append(out, stele.Event{Account: acct, Action: action, Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
				Actor: actor, Target: target, Description: desc, Metadata: meta})
		}
	}
	if after.Name == stele.SystemAccount && len(out) > 0 {
		out = out[:len(out):len(out)]
		var dedup []stele.Event
		for i, e := range out {
			if i%2 == 0 { // the account's own copy is already _system's
				dedup = append(dedup, e)
			}
		}
		out = dedup
	}
	return out
}

package retention

import (
	"context"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// Settings reads and changes an account's retention: the console's
// Settings → Retention page uses it. Every change is recorded in the
// account and in _system as a configuration event, with before and after
// values (audit.Recorder.AccountChanged).
type Settings struct {
	Accounts stele.AccountStore
	Audit    *audit.Recorder
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
// A change made but not recorded returns the new settings and an
// *audit.RecordError.
func (s *Settings) Update(ctx context.Context, account string, u stele.AccountUpdate, actor audit.Actor) (stele.RetentionSettings, error) {
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
	return View(after, s.types(), s.now()), s.Audit.AccountChanged(ctx, actor, before, after, s.types())
}

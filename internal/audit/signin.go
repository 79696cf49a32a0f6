package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/stele-audit/stele"
)

// Reasons a sign-in fails, as SignInFailed records them.
const (
	ReasonBadPassword = "bad_password"
	ReasonUnknownUser = "unknown_user"
	ReasonTooLong     = "too_long"
	ReasonLockedOut   = "locked_out"
)

// Attempt is someone who tried to sign in as email, which no user has, at
// ip with userAgent: a user by that email when an event can carry it as
// one; otherwise (markup, no @, spaces) a user without one who keeps it as
// Attempted, so that the record is never refused for it.
func Attempt(email, ip, userAgent string) Actor {
	a := Actor{Ref: &stele.Ref{Type: "user", Email: email}, IP: ip, UserAgent: userAgent, via: "console"}
	if !stele.IsEmail(email) {
		a.Ref, a.Attempted = &stele.Ref{Type: "user", Name: "unknown user"}, email
	}
	return a
}

// SignInFailed records in account's log that a sign-in as email failed
// for reason: a is the user when one has the email, else Attempt's actor.
func (r *Recorder) SignInFailed(ctx context.Context, a Actor, account, email, reason string) error {
	desc := "failed sign-in for " + email
	switch reason {
	case ReasonTooLong:
		desc = "failed sign-in with an over-long email or password: " + email
	case ReasonLockedOut:
		desc = "sign-in refused while locked out: " + email
	}
	meta := map[string]any{"reason": reason}
	if a.Attempted != "" {
		meta["attempted_email"] = a.Attempted
	}
	return r.record(ctx, a, stele.Event{Account: account, Action: "user.login_failed", Outcome: stele.OutcomeFailure,
		Description: desc, Metadata: meta})
}

// LockedOut records in account's log that sign-ins were locked for
// lockout after failures failed ones, counted by scope ("email" or "ip").
func (r *Recorder) LockedOut(ctx context.Context, a Actor, account, scope string, failures int, lockout time.Duration) error {
	return r.record(ctx, a, stele.Event{Account: account, Action: "user.locked_out", Outcome: stele.OutcomeFailure,
		Description: fmt.Sprintf("sign-ins of %s locked for %s after %d failures (%s)", a.name(), lockout, failures, scope),
		Metadata:    map[string]any{"scope": scope, "minutes": fmt.Sprint(int(lockout.Minutes()))}})
}

// MFAChallenged records that u, their password right, was asked for an
// authenticator code.
func (r *Recorder) MFAChallenged(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.mfa_challenged", Outcome: stele.OutcomeSuccess,
		Description: a.name() + " was asked for an authenticator code", Metadata: map[string]any{"method": "totp"}})
}

// MFAFailed records that u gave a wrong or reused authenticator code.
func (r *Recorder) MFAFailed(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.mfa_failed", Outcome: stele.OutcomeFailure,
		Description: a.name() + " gave a wrong or reused authenticator code", Metadata: map[string]any{"method": "totp"}})
}

// MFASucceeded records that u gave a valid authenticator code.
func (r *Recorder) MFASucceeded(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.mfa_succeeded", Outcome: stele.OutcomeSuccess,
		Description: a.name() + " gave a valid authenticator code", Metadata: map[string]any{"method": "totp"}})
}

// SignedIn records that u signed in to the console, with a second factor
// when mfa.
func (r *Recorder) SignedIn(ctx context.Context, a Actor, u *stele.User, mfa bool) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.login", Outcome: stele.OutcomeSuccess,
		Description: a.name() + " signed in to the console", Metadata: map[string]any{"mfa": mfa}})
}

// SignedOut records that u signed out of the console.
func (r *Recorder) SignedOut(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.logout", Outcome: stele.OutcomeSuccess,
		Description: a.name() + " signed out of the console"})
}

// SessionExpired records that a console session of u ended by its timeout:
// "idle" or "absolute".
func (r *Recorder) SessionExpired(ctx context.Context, a Actor, u *stele.User, timeout string) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "session.expired", Outcome: stele.OutcomeSuccess,
		Description: fmt.Sprintf("console session of %s expired (%s timeout)", a.name(), timeout),
		Metadata:    map[string]any{"timeout": timeout}})
}

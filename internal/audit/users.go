package audit

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
)

// UserCreated records in u's account that a created the user u.
func (r *Recorder) UserCreated(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.created", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s created user %s with role %s", a.name(), u.Email, u.Role),
		Metadata:    map[string]any{"role_before": "", "role_after": string(u.Role)}})
}

// UserRoleChanged records that a changed u's role from before to after.
func (r *Recorder) UserRoleChanged(ctx context.Context, a Actor, u *stele.User, before, after stele.Role) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.role_changed", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s changed %s's role from %s to %s", a.name(), u.Email, before, after),
		Metadata:    map[string]any{"role_before": string(before), "role_after": string(after)}})
}

// UserPasswordReset records that a reset u's password to a new one-time
// password, ending u's sessions.
func (r *Recorder) UserPasswordReset(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.password_reset", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s reset the password of %s; their sessions were ended", a.name(), u.Email),
		Metadata:    map[string]any{"password_before": "set", "password_after": "reset", "sessions_revoked": true}})
}

// UserDeleted records that a removed the user u.
func (r *Recorder) UserDeleted(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.deleted", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s removed user %s (%s)", a.name(), u.Email, u.Role),
		Metadata:    map[string]any{"role_before": string(u.Role), "role_after": ""}})
}

// PasswordChanged records that u changed their own password, ending every
// one of their sessions.
func (r *Recorder) PasswordChanged(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.password_changed", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s changed their password; all their sessions were ended", a.name()),
		Metadata:    map[string]any{"sessions_revoked": true}})
}

// PasswordChangeRefused records that u tried to change their password
// with a wrong current one.
func (r *Recorder) PasswordChangeRefused(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.password_changed", Outcome: stele.OutcomeFailure,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s gave a wrong current password when changing it", a.name()),
		Metadata:    map[string]any{"reason": "wrong_current_password"}})
}

// MFAEnrolled records that u turned on two-factor sign-in (TOTP).
func (r *Recorder) MFAEnrolled(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.mfa_enrolled", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s turned on two-factor sign-in (TOTP)", a.name()),
		Metadata:    map[string]any{"mfa_before": "off", "mfa_after": "totp"}})
}

// MFAReset records that u turned off two-factor sign-in.
func (r *Recorder) MFAReset(ctx context.Context, a Actor, u *stele.User) error {
	return r.record(ctx, a, stele.Event{Account: u.Account, Action: "user.mfa_reset", Outcome: stele.OutcomeSuccess,
		Target:      UserRef(u),
		Description: fmt.Sprintf("%s turned off two-factor sign-in", a.name()),
		Metadata:    map[string]any{"mfa_before": "totp", "mfa_after": "off"}})
}

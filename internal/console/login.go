package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if sess, _, err := s.session(r); err == nil && sess != nil && !sess.MFAPending {
		http.Redirect(w, r, "/admin/audit-logs", http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, "login", map[string]any{"Next": localPath(r.URL.Query().Get("next"))})
}

// handleLogin checks an email and password. Every outcome is recorded as an
// authentication event of the user's account (or of _system when no user
// has the email), with the ip and user agent.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	ip := clientIP(r)
	now := s.now()
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		s.render(w, r, nil, "login", map[string]any{"Error": msg, "Email": email, "Next": next})
	}
	if email == "" || password == "" {
		fail(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	if len(email) > maxEmailLen || len(password) > maxPasswordLen {
		// Nobody's email or password is this long: an attempt all the same.
		email = truncate(email, maxEmailLen)
		actor, meta := attemptActor(email, "too_long")
		s.record(r, &stele.Event{Account: stele.SystemAccount, Action: "user.login_failed", Outcome: stele.OutcomeFailure, Actor: actor,
			Description: "failed sign-in with an over-long email or password: " + email, Metadata: meta})
		s.noteFailure(r, stele.SystemAccount, actor, s.throttleKey("email", email), s.throttleKey("ip", ip), now)
		fail(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	u, err := s.Users.UserByEmail(r.Context(), email)
	if err != nil && stele.ErrorCode(err) != stele.ENOTFOUND {
		s.serverError(w, r, nil, err)
		return
	}
	account := stele.SystemAccount
	actor, meta := attemptActor(email, "unknown_user")
	if u != nil {
		account, actor, meta = u.Account, userRef(u), map[string]any{"reason": "bad_password"}
	}
	emailKey, ipKey := s.throttleKey("email", email), s.throttleKey("ip", ip)
	d, err := s.lockedFor(r.Context(), now, emailKey, ipKey)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if d > 0 {
		meta["reason"] = "locked_out"
		s.record(r, &stele.Event{Account: account, Action: "user.login_failed", Outcome: stele.OutcomeFailure, Actor: actor,
			Description: "sign-in refused while locked out: " + email, Metadata: meta})
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", int(d.Minutes())+1))
		return
	}
	release := s.hasher.acquire()
	ok := false
	if u != nil {
		ok = CheckPassword(u.PasswordHash, password)
	} else {
		CheckPassword(dummyHash, password) // same time as a wrong password
	}
	release()
	if !ok {
		s.record(r, &stele.Event{Account: account, Action: "user.login_failed", Outcome: stele.OutcomeFailure, Actor: actor,
			Description: "failed sign-in for " + email, Metadata: meta})
		s.noteFailure(r, account, actor, emailKey, ipKey, now)
		fail(http.StatusUnauthorized, "That email and password do not match.")
		return
	}
	s.resetThrottle(r.Context(), emailKey)
	if err := s.startSession(r.Context(), w, r, u, u.MFAEnabled()); err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if u.MFAEnabled() {
		s.record(r, &stele.Event{Account: u.Account, Action: "user.mfa_challenged", Outcome: stele.OutcomeSuccess, Actor: actor,
			Description: u.Email + " was asked for an authenticator code", Metadata: map[string]any{"method": "totp"}})
		target := "/login/mfa"
		if next != "" {
			target += "?next=" + urlQueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.record(r, &stele.Event{Account: u.Account, Action: "user.login", Outcome: stele.OutcomeSuccess, Actor: actor,
		Description: u.Email + " signed in to the console", Metadata: map[string]any{"mfa": false}})
	if next == "" {
		next = "/admin/audit-logs"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Limits of the sign-in form's fields.
const (
	maxEmailLen    = 320
	maxPasswordLen = 1024
)

// attemptActor is the actor and metadata of a sign-in attempt by an email
// that no user has: a user by that email when an event can carry it as one;
// otherwise (markup, no @, spaces) a user without one, the attempt keeping
// it as attempted_email, so that the record is never refused for it.
func attemptActor(email, reason string) (*stele.Ref, map[string]any) {
	meta := map[string]any{"reason": reason}
	if stele.IsEmail(email) {
		return &stele.Ref{Type: "user", Email: email}, meta
	}
	meta["attempted_email"] = email
	return &stele.Ref{Type: "user", Name: "unknown user"}, meta
}

// noteFailure counts a failure against the email and the address, and
// records a lockout when one starts.
func (s *Server) noteFailure(r *http.Request, account string, actor *stele.Ref, emailKey, ipKey string, now time.Time) {
	for _, k := range []struct {
		key   string
		limit int
		what  string
	}{{emailKey, emailLimit, "email"}, {ipKey, ipLimit, "ip"}} {
		locked, err := s.throttle.fail(r.Context(), k.key, k.limit, now)
		if err != nil {
			s.Logger.Error("console sign-in throttle: count a failure", "scope", k.what, "err", err)
			continue
		}
		if locked {
			s.record(r, &stele.Event{Account: account, Action: "user.locked_out", Outcome: stele.OutcomeFailure, Actor: actor,
				Description: fmt.Sprintf("sign-ins locked for %s after %d failures (%s)", lockout, k.limit, k.what),
				Metadata:    map[string]any{"scope": k.what, "minutes": fmt.Sprint(int(lockout.Minutes()))}})
		}
	}
}

// lockedFor returns how long the longest lockout of keys lasts, or 0.
func (s *Server) lockedFor(ctx context.Context, now time.Time, keys ...string) (time.Duration, error) {
	var d time.Duration
	for _, k := range keys {
		dk, err := s.throttle.locked(ctx, k, now)
		if err != nil {
			return 0, err
		}
		d = max(d, dk)
	}
	return d, nil
}

// resetThrottle forgets an email's failures after a successful sign-in; an
// error only leaves them to expire.
func (s *Server) resetThrottle(ctx context.Context, key string) {
	if err := s.throttle.reset(ctx, key); err != nil {
		s.Logger.Error("console sign-in throttle: reset", "err", err)
	}
}

func (s *Server) handleMFAForm(w http.ResponseWriter, r *http.Request) {
	sess, _, err := s.session(r)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if sess == nil || !sess.MFAPending {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, nil, "mfa", map[string]any{"Next": localPath(r.URL.Query().Get("next"))})
}

func (s *Server) handleMFA(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	sess, _, err := s.session(r)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if sess == nil || !sess.MFAPending {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	u, err := s.Users.User(r.Context(), sess.UserID)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	next := localPath(r.PostFormValue("next"))
	now := s.now()
	emailKey, ipKey := s.throttleKey("email", u.Email), s.throttleKey("ip", clientIP(r))
	ok, err := s.checkTOTP(r, u, r.PostFormValue("code"), now)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if !ok {
		s.record(r, &stele.Event{Account: u.Account, Action: "user.mfa_failed", Outcome: stele.OutcomeFailure, Actor: userRef(u),
			Description: u.Email + " gave a wrong or reused authenticator code", Metadata: map[string]any{"method": "totp"}})
		s.noteFailure(r, u.Account, userRef(u), emailKey, ipKey, now)
		d, err := s.lockedFor(r.Context(), now, emailKey)
		if err != nil {
			s.serverError(w, r, nil, err)
			return
		}
		if d > 0 {
			// Locked: this half-made session ends; the next try starts from the password.
			_ = s.Sessions.DeleteSession(r.Context(), sess.TokenHash)
			s.clearSessionCookie(w)
			w.WriteHeader(http.StatusTooManyRequests)
			s.render(w, r, nil, "login", map[string]any{"Error": "Too many failed codes. Try again later.", "Email": u.Email})
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, nil, "mfa", map[string]any{"Error": "That code is not valid. Codes work once; wait for the next one.", "Next": next})
		return
	}
	if err := s.Sessions.CompleteMFA(r.Context(), sess.TokenHash); err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	s.resetThrottle(r.Context(), emailKey)
	s.record(r, &stele.Event{Account: u.Account, Action: "user.mfa_succeeded", Outcome: stele.OutcomeSuccess, Actor: userRef(u),
		Description: u.Email + " gave a valid authenticator code", Metadata: map[string]any{"method": "totp"}})
	s.record(r, &stele.Event{Account: u.Account, Action: "user.login", Outcome: stele.OutcomeSuccess, Actor: userRef(u),
		Description: u.Email + " signed in to the console", Metadata: map[string]any{"mfa": true}})
	if next == "" {
		next = "/admin/audit-logs"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess, token, err := s.session(r)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if sess != nil {
		if r.PostFormValue("csrf") != csrfToken(token) {
			s.renderError(w, r, nil, http.StatusForbidden, "This form has expired", "Reload the page and try again.")
			return
		}
		if err := s.Sessions.DeleteSession(r.Context(), sess.TokenHash); err != nil {
			s.serverError(w, r, nil, err)
			return
		}
		if u, err := s.Users.User(r.Context(), sess.UserID); err == nil {
			s.record(r, &stele.Event{Account: u.Account, Action: "user.logout", Outcome: stele.OutcomeSuccess, Actor: userRef(u),
				Description: u.Email + " signed out of the console"})
		}
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
}

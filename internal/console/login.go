package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/users"
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
		who := audit.Attempt(email, ip, userAgent(r))
		s.Audit.Log(s.Audit.SignInFailed(detached(r), who, stele.SystemAccount, email, audit.ReasonTooLong))
		s.noteFailure(r, stele.SystemAccount, who, s.throttleKey("email", email), s.throttleKey("ip", ip), now)
		fail(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	u, err := s.Users.UserByEmail(r.Context(), email)
	if err != nil && stele.ErrorCode(err) != stele.ENOTFOUND {
		s.serverError(w, r, nil, err)
		return
	}
	account, who, reason := stele.SystemAccount, audit.Attempt(email, ip, userAgent(r)), audit.ReasonUnknownUser
	if u != nil {
		account, who, reason = u.Account, audit.User(u, ip, userAgent(r)), audit.ReasonBadPassword
	}
	emailKey, ipKey := s.throttleKey("email", email), s.throttleKey("ip", ip)
	d, err := s.lockedFor(r.Context(), now, emailKey, ipKey)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if d > 0 {
		s.Audit.Log(s.Audit.SignInFailed(detached(r), who, account, email, audit.ReasonLockedOut))
		fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d minutes.", int(d.Minutes())+1))
		return
	}
	release := s.hasher.acquire()
	ok := false
	if u != nil {
		ok = users.CheckPassword(u.PasswordHash, password)
	} else {
		users.CheckPassword(dummyHash, password) // same time as a wrong password
	}
	release()
	if !ok {
		s.Audit.Log(s.Audit.SignInFailed(detached(r), who, account, email, reason))
		s.noteFailure(r, account, who, emailKey, ipKey, now)
		fail(http.StatusUnauthorized, "That email and password do not match.")
		return
	}
	s.resetThrottle(r.Context(), emailKey)
	if err := s.startSession(r.Context(), w, r, u, u.MFAEnabled()); err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if u.MFAEnabled() {
		s.Audit.Log(s.Audit.MFAChallenged(detached(r), who, u))
		target := "/login/mfa"
		if next != "" {
			target += "?next=" + urlQueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	s.Audit.Log(s.Audit.SignedIn(detached(r), who, u, false))
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

// noteFailure counts a failure against the email and the address, and
// records a lockout when one starts.
func (s *Server) noteFailure(r *http.Request, account string, who audit.Actor, emailKey, ipKey string, now time.Time) {
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
			s.Audit.Log(s.Audit.LockedOut(detached(r), who, account, k.what, k.limit, lockout))
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
	who := audit.User(u, clientIP(r), userAgent(r))
	ok, err := s.checkTOTP(r, u, r.PostFormValue("code"), now)
	if err != nil {
		s.serverError(w, r, nil, err)
		return
	}
	if !ok {
		s.Audit.Log(s.Audit.MFAFailed(detached(r), who, u))
		s.noteFailure(r, u.Account, who, emailKey, ipKey, now)
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
	s.Audit.Log(s.Audit.MFASucceeded(detached(r), who, u))
	s.Audit.Log(s.Audit.SignedIn(detached(r), who, u, true))
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
			s.Audit.Log(s.Audit.SignedOut(detached(r), audit.User(u, clientIP(r), userAgent(r)), u))
		}
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
}

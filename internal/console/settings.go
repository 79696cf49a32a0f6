package console

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/users"
)

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request, v *visit) {
	s.settingsPage(w, r, v, http.StatusOK, nil)
}

// Operators manage accounts. They read the _system account's log (their
// own); another account's log only through a user of that account.
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	accts, err := s.Accounts.Accounts(r.Context())
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	type row struct {
		*stele.Account
		Retention int
	}
	rows := make([]row, len(accts))
	for i, a := range accts {
		rows[i] = row{a, a.Retention(s.AccountTypes)}
	}
	data := map[string]any{"Accounts": rows, "Types": s.AccountTypes}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "accounts", data)
}

func (s *Server) operator(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if v.user.Operator() && v.can(stele.PermSettingsManage) {
		return true
	}
	return s.require(w, r, v, "accounts.manage")
}

func (s *Server) handleAccounts(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.operator(w, r, v) {
		return
	}
	s.accountsPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) handleCreateAccount(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.operator(w, r, v) {
		return
	}
	name, typ := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("type")
	acct := &stele.Account{Name: name, Type: typ}
	err := acct.Validate(s.AccountTypes)
	if err == nil {
		err = s.Accounts.CreateAccount(r.Context(), acct)
	}
	if err != nil {
		if code := stele.ErrorCode(err); code == stele.EINVALID || code == stele.ECONFLICT {
			s.accountsPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": stele.ErrorMessage(err)})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.AccountCreated(detached(r), v.who(r), acct, s.AccountTypes))
	s.accountsPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Account " + name + " was created. Add its first owner with: stele users create --account " + name + " --email … --role owner"})
}

// handleSecurity is the visitor's own page: password and two-factor sign-in.
func (s *Server) handleSecurity(w http.ResponseWriter, r *http.Request, v *visit) {
	s.securityPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) securityPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	data := map[string]any{"MinLen": users.MinPasswordLen}
	if !v.user.MFAEnabled() {
		secret, otpURL, qr, err := newTOTPKey(v.user)
		if err != nil {
			s.serverError(w, r, v, err)
			return
		}
		data["TOTPSecret"], data["TOTPURL"], data["TOTPQR"] = secret, otpURL, template.URL(qr) // a data: URL we made
	}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "security", data)
}

// handleChangePassword changes the visitor's password and ends every one
// of their sessions, this one included: they sign in again with the new one.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, v *visit) {
	current, next, confirm := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	release := s.hasher.acquire()
	ok := users.CheckPassword(v.user.PasswordHash, current)
	release()
	switch {
	case !ok:
		s.Audit.Log(s.Audit.PasswordChangeRefused(detached(r), v.who(r), v.user))
		s.securityPage(w, r, v, http.StatusBadRequest, map[string]any{"PasswordError": "Your current password is not right."})
		return
	case len(next) < users.MinPasswordLen || len(next) > 1024:
		s.securityPage(w, r, v, http.StatusBadRequest, map[string]any{"PasswordError": fmt.Sprintf("A new password has %d to 1024 characters.", users.MinPasswordLen)})
		return
	case next != confirm:
		s.securityPage(w, r, v, http.StatusBadRequest, map[string]any{"PasswordError": "The two new passwords differ."})
		return
	}
	hash := users.HashPassword(next)
	if _, err := s.Users.UpdateUser(r.Context(), v.user.ID, stele.UserUpdate{PasswordHash: &hash}); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if err := s.Sessions.DeleteUserSessions(r.Context(), v.user.ID); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.PasswordChanged(detached(r), v.who(r), v.user))
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login?password_changed=1", http.StatusSeeOther)
}

func (s *Server) handleEnrolMFA(w http.ResponseWriter, r *http.Request, v *visit) {
	if v.user.MFAEnabled() {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("secret"))
	key, err := keyFromSecret(v.user, secret)
	if err != nil || len(secret) < 16 {
		s.securityPage(w, r, v, http.StatusBadRequest, map[string]any{"MFAError": "The enrolment form was damaged; start again."})
		return
	}
	// Check the code against the secret before storing it, so a mistyped
	// enrolment never locks the user out.
	trial := *v.user
	trial.TOTPSecret = secret
	ok, err := s.checkTOTPTrial(&trial, r.PostFormValue("code"))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, v, "security", map[string]any{"MinLen": users.MinPasswordLen, "TOTPSecret": secret, "TOTPURL": key.URL(), "TOTPQR": template.URL(qrOf(key)),
			"MFAError": "That code does not match. Check the time on your device and try the next code."})
		return
	}
	sealed, err := s.sealTOTP(r.Context(), v.user, secret)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if _, err := s.Users.UpdateUser(r.Context(), v.user.ID, stele.UserUpdate{TOTPSecret: &sealed}); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	// The enrolment code is spent: it must not also open a sign-in.
	if _, err := s.Users.UseTOTPStep(r.Context(), v.user.ID, s.now().Unix()/totpPeriod+1); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.MFAEnrolled(detached(r), v.who(r), v.user))
	v.user.TOTPSecret = secret
	s.securityPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Two-factor sign-in is on. You will be asked for a code at every sign-in."})
}

func (s *Server) handleDisableMFA(w http.ResponseWriter, r *http.Request, v *visit) {
	ok, err := s.checkTOTP(r, v.user, r.PostFormValue("code"), s.now())
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if !ok {
		s.securityPage(w, r, v, http.StatusBadRequest, map[string]any{"MFAError": "That code is not valid; two-factor sign-in stays on."})
		return
	}
	off := ""
	if _, err := s.Users.UpdateUser(r.Context(), v.user.ID, stele.UserUpdate{TOTPSecret: &off}); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.MFAReset(detached(r), v.who(r), v.user))
	v.user.TOTPSecret = ""
	s.securityPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Two-factor sign-in is off."})
}

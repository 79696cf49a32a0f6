package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/retention"
)

// Settings → Retention: owners (settings.manage) set the account's own
// retention in days or go back to its type's default, and set or lift a
// legal hold. retention.Settings applies each change and records it as a
// configuration event, with before and after values, in the account and
// in _system.

// The form's fields as validation messages name them.
const (
	fieldRetention = "Retention"
	fieldDays      = "Retention (days)"
	fieldLegalHold = "Legal hold"
)

// settingsPage renders the Settings page with a status and extra data
// (a notice, or an error with the field it is about).
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	data := map[string]any{
		"Retention": v.account.Retention(s.AccountTypes), "Override": v.account.RetentionDays != nil,
		"Types": s.AccountTypes, "CanManage": v.can(stele.PermSettingsManage) && s.Retention != nil,
		"MaxRetentionDays": retention.MaxRetentionDays, "Days": strconv.Itoa(v.account.Retention(s.AccountTypes)),
		"Custom": false, "ErrorField": "",
		"StreamsLink": s.Streams != nil && v.can(stele.PermSettingsManage),
		// Settings → Alerts is for settings.manage alone: others never see it.
		"Alerts": v.can(stele.PermSettingsManage) && s.Alerts != nil,
	}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "settings", data)
}

// handleSetRetention sets the account's own retention ("custom" with days)
// or clears it ("default").
func (s *Server) handleSetRetention(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) {
		return
	}
	var u stele.AccountUpdate
	choice, daysText := r.PostFormValue("retention"), strings.TrimSpace(r.PostFormValue("days"))
	switch choice {
	case "default":
		u.ClearRetention = true
	case "custom":
		n, err := strconv.Atoi(daysText)
		if err == nil {
			u.RetentionDays = &n
			err = u.Validate(s.AccountTypes)
		}
		if err != nil {
			s.settingsPage(w, r, v, http.StatusBadRequest, map[string]any{
				"Error":      fmt.Sprintf("%s: enter a whole number of days from 1 to %d (you entered %q).", fieldDays, retention.MaxRetentionDays, daysText),
				"ErrorField": "days", "Days": daysText, "Custom": true})
			return
		}
	default:
		s.settingsPage(w, r, v, http.StatusBadRequest, map[string]any{
			"Error":      fieldRetention + ": choose the account type's default or this account's own number of days.",
			"ErrorField": "retention", "Days": daysText})
		return
	}
	s.updateRetention(w, r, v, u)
}

// handleSetLegalHold sets ("on") or lifts ("off") the account's legal hold.
func (s *Server) handleSetLegalHold(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) {
		return
	}
	var on bool
	switch r.PostFormValue("legal_hold") {
	case "on":
		on = true
	case "off":
	default:
		s.settingsPage(w, r, v, http.StatusBadRequest, map[string]any{
			"Error": fieldLegalHold + ": must be on or off.", "ErrorField": "legal_hold"})
		return
	}
	s.updateRetention(w, r, v, stele.AccountUpdate{LegalHold: &on})
}

func (s *Server) updateRetention(w http.ResponseWriter, r *http.Request, v *visit, u stele.AccountUpdate) {
	if s.Retention == nil {
		s.renderError(w, r, v, http.StatusServiceUnavailable, "Not available", "Retention settings are not configured on this server.")
		return
	}
	before := *v.account
	// A visitor who goes away does not leave the change unrecorded.
	after, err := s.Retention.Update(context.WithoutCancel(r.Context()), v.account.Name, u, v.who(r))
	if err != nil {
		if stele.ErrorCode(err) == stele.EINVALID {
			s.settingsPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": stele.ErrorMessage(err)})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	acct, err := s.Accounts.Account(r.Context(), v.account.ID)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	v.account = acct
	notice := "Nothing changed."
	switch {
	case u.LegalHold != nil && *u.LegalHold && !before.LegalHold:
		notice = "Legal hold is on: no events of " + acct.Name + " are purged until it is lifted. The change was recorded."
	case u.LegalHold != nil && !*u.LegalHold && before.LegalHold:
		notice = "Legal hold is lifted: events older than the retention are purged at the next run. The change was recorded."
	case u.LegalHold == nil && (before.Retention(s.AccountTypes) != after.RetentionDays || (before.RetentionDays != nil) != after.Override):
		notice = fmt.Sprintf("Retention is now %d days. The change was recorded.", after.RetentionDays)
	}
	s.settingsPage(w, r, v, http.StatusOK, map[string]any{"Notice": notice})
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
)

// maxRuleBody bounds an alert rule's JSON: ten destinations of twenty
// recipients each fit many times over.
const maxRuleBody = 64 << 10

// alertsFor checks that p may manage alert rules and returns its account.
func (s *Server) alertsFor(w http.ResponseWriter, r *http.Request, p *stele.Principal) (*stele.Account, bool) {
	if err := requireScope(p, stele.ScopeAlertsManage); err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	if s.Alerts == nil {
		s.writeError(w, r, stele.Errorf(stele.EUNAVAILABLE, "alert rules are not configured on this server"))
		return nil, false
	}
	return &stele.Account{ID: p.AccountID, Name: p.Account}, true
}

// decodeRule reads a rule's JSON strictly: unknown fields are refused,
// naming them.
func decodeRule(w http.ResponseWriter, r *http.Request) (alert.Input, error) {
	var in alert.Input
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return in, stele.Errorf(stele.EUNSUPPORTED, "send the rule as application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRuleBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, stele.Errorf(stele.ETOOLARGE, "an alert rule is at most %d bytes", maxRuleBody)
		}
		return in, badJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, &stele.Error{Code: stele.EINVALID, Message: "the body holds more than one JSON value",
			Details: []stele.FieldError{{Field: "", Rule: "json"}}}
	}
	return in, nil
}

// badJSON names the field and rule of a JSON decoding error.
func badJSON(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("%s: must be a JSON %s", te.Field, te.Type.Kind()),
			Details: []stele.FieldError{{Field: te.Field, Rule: "type", Message: fmt.Sprintf("%s: must be a JSON %s", te.Field, te.Type.Kind())}}}
	case errors.As(err, &se):
		return &stele.Error{Code: stele.EINVALID, Message: "the body is not valid JSON: " + se.Error(),
			Details: []stele.FieldError{{Field: "", Rule: "json", Message: se.Error()}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("unknown field %q", field),
			Details: []stele.FieldError{{Field: field, Rule: "unknown_field", Message: fmt.Sprintf("unknown field %q", field)}}}
	}
	return &stele.Error{Code: stele.EINVALID, Message: "the body is not a valid alert rule: " + err.Error(),
		Details: []stele.FieldError{{Field: "", Rule: "json"}}}
}

func (s *Server) handleCreateAlertRule(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	in, err := decodeRule(w, r)
	if err == nil {
		var rule *alert.Rule
		if rule, err = s.Alerts.Create(r.Context(), acct, in, keyActor(p, r)); err == nil {
			w.Header().Set("Location", "/v1/alert-rules/"+rule.ID)
			writeJSON(w, http.StatusCreated, rule)
			return
		}
	}
	s.writeError(w, r, err)
}

func (s *Server) handleListAlertRules(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	rules, err := s.Alerts.List(r.Context(), acct)
	s.reply(w, r, http.StatusOK, map[string]any{"alert_rules": rules}, err)
}

func (s *Server) handleGetAlertRule(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	rule, err := s.Alerts.Get(r.Context(), acct, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, rule, err)
}

func (s *Server) handleUpdateAlertRule(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	in, err := decodeRule(w, r)
	if err == nil {
		var rule *alert.Rule
		if rule, err = s.Alerts.Update(r.Context(), acct, r.PathValue("id"), in, keyActor(p, r)); err == nil {
			writeJSON(w, http.StatusOK, rule)
			return
		}
	}
	s.writeError(w, r, err)
}

func (s *Server) handleDeleteAlertRule(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	if err := s.Alerts.Delete(r.Context(), acct, r.PathValue("id"), keyActor(p, r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleTestAlertRule(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	res, err := s.Alerts.Test(r.Context(), acct, r.PathValue("id"), keyActor(p, r))
	s.reply(w, r, http.StatusOK, map[string]any{"results": res}, err)
}

func (s *Server) handleAlertFirings(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	acct, ok := s.alertsFor(w, r, p)
	if !ok {
		return
	}
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, &stele.Error{Code: stele.EINVALID, Message: "limit must be a whole number from 1 to 1000",
				Details: []stele.FieldError{{Field: "limit", Rule: "range"}}})
			return
		}
		limit = n
	}
	// A deleted rule's history stays readable.
	fs, err := s.Alerts.History(r.Context(), acct, r.PathValue("id"), limit)
	s.reply(w, r, http.StatusOK, map[string]any{"firings": fs}, err)
}

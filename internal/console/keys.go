package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
)

// consoleScopes are the scopes the console offers for new keys.
var consoleScopes = []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead, stele.ScopeEventsExport}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	keys, err := s.APIKeys.APIKeys(r.Context(), v.account.ID)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	data := map[string]any{"Keys": keys, "Scopes": consoleScopes}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "keys", data)
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermKeysManage) {
		return
	}
	s.keysPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) handleCreateKey(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermKeysManage) {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.serverError(w, r, v, stele.Errorf(stele.EINVALID, "the form could not be read"))
		return
	}
	var scopes []stele.Scope
	for _, sc := range r.PostForm["scope"] {
		scopes = append(scopes, stele.Scope(sc))
	}
	name := truncate(strings.TrimSpace(r.PostFormValue("name")), 100)
	k, secret, err := apikey.Issue(r.Context(), s.APIKeys, v.account, scopes, false, name, s.now())
	if err != nil {
		if stele.ErrorCode(err) == stele.EINVALID {
			s.keysPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": stele.ErrorMessage(err)})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.KeyCreated(context.WithoutCancel(r.Context()), v.who(r), k))
	s.keysPage(w, r, v, http.StatusOK, map[string]any{"Secret": secret, "SecretFor": k.ID})
}

func (s *Server) handleRevokeKey(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermKeysManage) {
		return
	}
	k, err := s.APIKeys.APIKey(r.Context(), r.PathValue("id"))
	if err == nil && k.AccountID != v.account.ID {
		err = stele.Errorf(stele.ENOTFOUND, "API key not found")
	}
	if err == nil {
		err = s.APIKeys.RevokeAPIKey(r.Context(), k.ID, s.now())
	}
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	s.Audit.Log(s.Audit.KeyRevoked(context.WithoutCancel(r.Context()), v.who(r), k))
	s.keysPage(w, r, v, http.StatusOK, map[string]any{"Notice": "Key " + k.ID + " was revoked; it stops working at once."})
}

func scopeText(ss []stele.Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

package api

import (
	"context"
	"net/http"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
)

// readTarget is the principal a read of the log acts for: the key's own,
// or, for an operator key that names another account with
// ?account=NAME, that account, read with the key's scopes. Any other key
// naming an account not its own is refused.
func (s *Server) readTarget(r *http.Request, p *stele.Principal) (*stele.Principal, error) {
	name := r.URL.Query().Get("account")
	if name == "" || name == p.Account {
		return p, nil
	}
	if !p.Operator || p.Account != stele.SystemAccount {
		// A key reaching for another tenant's log is worth an entry in its own.
		s.Audit.Log(s.Audit.Denied(context.WithoutCancel(r.Context()), s.who(r, p), audit.Denial{Account: p.Account,
			Resource: audit.Endpoint(r.Pattern), Permission: "operator", Method: r.Method}))
		return nil, &stele.Error{Code: stele.EFORBIDDEN, Message: "only an operator key may read another account's log",
			Details: []stele.FieldError{{Field: "account", Rule: "operator"}}}
	}
	acct, err := s.Accounts.AccountByName(r.Context(), name)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil, &stele.Error{Code: stele.ENOTFOUND, Message: "no account " + name,
			Details: []stele.FieldError{{Field: "account", Rule: "unknown"}}}
	}
	if err != nil {
		return nil, err
	}
	t := *p
	t.AccountID, t.Account = acct.ID, acct.Name
	return &t, nil
}

// noteRead records, off the request's path, that p read t's log as v says
// (Server.Reads; nothing when it is nil).
func (s *Server) noteRead(r *http.Request, p, t *stele.Principal, v audit.View) {
	if s.Reads == nil {
		return
	}
	v.Account, v.Reader = t.Account, p.Account
	s.Reads.Read(s.who(r, p), v)
}

package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"github.com/stele-audit/stele"
)

// Export is one export of an account's log: the query, the format, how
// many events left, and why it ended early (nil when it was complete).
type Export struct {
	Account string
	// Reader is the exporter's own account when it is another (an
	// operator exporting a customer's log): the record goes there too.
	Reader string
	Query  string
	Format string
	Rows   int64
	Err    error
}

// Exported records in the account's log that a exported what x says.
// An export is recorded whether or not it ran to the end: the rows that
// left, left.
func (r *Recorder) Exported(ctx context.Context, a Actor, x Export) error {
	outcome := stele.OutcomeSuccess
	if x.Err != nil {
		outcome = stele.OutcomeFailure
	}
	desc := fmt.Sprintf("%s exported %d events as %s", a.name(), x.Rows, x.Format)
	if x.Err != nil {
		desc = fmt.Sprintf("%s exported %d events as %s before the export ended early", a.name(), x.Rows, x.Format)
	}
	e := stele.Event{Account: x.Account, Action: "audit_log.exported", Outcome: outcome,
		Target: &stele.Ref{Type: "audit_log", ID: x.Account}, Description: desc,
		Metadata: map[string]any{"query": x.Query, "format": x.Format, "rows": json.Number(strconv.FormatInt(x.Rows, 10)),
			"complete": x.Err == nil, "via": a.via}}
	if x.Reader == "" || x.Reader == x.Account {
		return r.record(ctx, a, e)
	}
	e.Description += " (from account " + x.Reader + ")"
	own := e
	own.Account = x.Reader
	own.Metadata = maps.Clone(e.Metadata)
	own.Metadata["read_account"] = x.Account
	e.Metadata["reader_account"] = x.Reader
	return r.record(ctx, a, e, own)
}

// Denial is an attempt on the audit log refused for want of a permission:
// a console page, or an API endpoint, and the permission or API key scope
// it needs.
type Denial struct {
	Account string
	// Resource is what was refused: a console page or an API endpoint.
	Resource *stele.Ref
	// Permission is what the actor lacks: a role's permission, or a key's
	// scope.
	Permission string
	// Role is the console user's role, when the actor is one.
	Role   string
	Method string
}

// Page is a console page as the resource of a Denial.
func Page(path string) *stele.Ref { return &stele.Ref{Type: "page", ID: path} }

// Endpoint is an API endpoint as the resource of a Denial: "GET /v1/export".
func Endpoint(pattern string) *stele.Ref { return &stele.Ref{Type: "endpoint", ID: pattern} }

// Denied records in the account's log that a was refused what d says.
func (r *Recorder) Denied(ctx context.Context, a Actor, d Denial) error {
	holder := "its scopes lack"
	if d.Role != "" {
		holder = "the " + d.Role + " role lacks"
	}
	meta := map[string]any{"permission": d.Permission, "method": d.Method}
	if d.Role != "" {
		meta["role"] = d.Role
	}
	what := "access"
	if d.Resource != nil {
		what = d.Resource.ID
	}
	return r.record(ctx, a, stele.Event{Account: d.Account, Action: "audit_log.denied", Outcome: stele.OutcomeFailure,
		Target:      d.Resource,
		Description: fmt.Sprintf("%s was refused %s: %s %s", a.name(), what, holder, d.Permission),
		Metadata:    meta})
}

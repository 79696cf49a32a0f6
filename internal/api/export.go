package api

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/query"
	"github.com/stele-audit/stele/internal/search"
)

// exportStreams are the export formats this endpoint serves, keyed by the
// `format` parameter. A format with needs of its own (the verifiable bundle)
// adds its handler here; the event-stream formats come from export.Formats.
var exportStreams = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, p *stele.Principal, q stele.Query){
	"bundle": (*Server).handleExportBundle,
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	if err := requireScope(p, stele.ScopeEventsExport); err != nil {
		// A refused export is itself worth an entry in the audit log.
		s.Audit.Log(s.Audit.Denied(context.WithoutCancel(r.Context()), s.who(r, p), audit.Denial{Account: p.Account,
			Resource: audit.Endpoint("GET /v1/export"), Permission: string(stele.ScopeEventsExport), Method: r.Method}))
		s.writeError(w, r, err)
		return
	}
	v := r.URL.Query()
	q, err := query.Parse(v.Get("q"), s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	format := v.Get("format")
	if format == "" {
		format = "jsonl"
	}
	if err := s.Search.Readable(r.Context(), &stele.Account{ID: p.AccountID, Name: p.Account}); err != nil {
		s.writeError(w, r, err)
		return
	}
	if h, ok := exportStreams[format]; ok {
		h(s, w, r, p, q)
		return
	}
	f, err := export.Lookup(format, slices.Sorted(maps.Keys(exportStreams))...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	account := &stele.Account{ID: p.AccountID, Name: p.Account}
	n, err := StreamExport(r.Context(), w, s.Search, account, q, f)
	if err != nil {
		s.Logger.Warn("export ended early", "account", p.Account, "rows", n, "err", err)
	}
	s.recordExport(r, p, q, f.Name, n, err)
}

// StreamExport writes the events of account matching q to w in format f,
// with the headers of a download, and returns how many it wrote. Once the
// first byte is out an error can no longer change the status: the body just
// ends, and the caller logs it.
func StreamExport(ctx context.Context, w http.ResponseWriter, src *search.Service, account *stele.Account, q stele.Query, f export.Format) (int64, error) {
	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="stele-%s.%s"`, account.Name, f.Extension))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return export.Events(ctx, w, src, account, q, f)
}

// recordExport records an export in the account's log whether or not the
// client read it to the end: the rows left the server either way.
func (s *Server) recordExport(r *http.Request, p *stele.Principal, q stele.Query, format string, rows int64, err error) {
	s.Audit.Log(s.Audit.Exported(context.WithoutCancel(r.Context()), s.who(r, p),
		audit.Export{Account: p.Account, Query: q.String(), Format: format, Rows: rows, Err: err}))
}

// who is the holder of the request's key, as the actor of what the
// recorder records.
func (s *Server) who(r *http.Request, p *stele.Principal) audit.Actor {
	return audit.Key(p, clientIP(r), r.UserAgent())
}

// clientIP is the peer address of r, without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

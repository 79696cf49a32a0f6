package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/stele-audit/stele"
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
		if _, rerr := s.Ingest.Record(context.WithoutCancel(r.Context()), stele.Event{Account: p.Account, Action: "audit_log.denied",
			Outcome: stele.OutcomeFailure, Actor: &stele.Ref{Type: "api_key", ID: p.KeyID}, IP: clientIP(r), UserAgent: r.UserAgent(),
			Target:      &stele.Ref{Type: "endpoint", ID: "GET /v1/export"},
			Description: "API key " + p.KeyID + " was refused an export: it lacks the events:export scope",
			Metadata:    map[string]any{"scope": string(stele.ScopeEventsExport)}}); rerr != nil {
			s.Logger.Error("record denied export", "account", p.Account, "err", rerr)
		}
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
	// The export is recorded whether or not the client read it to the end:
	// the rows left the server either way.
	if rerr := s.recordExport(context.WithoutCancel(r.Context()), p, q, f.Name, n, err, r); rerr != nil {
		s.Logger.Error("record export", "account", p.Account, "err", rerr)
	}
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
	if f.Append != nil { // decrypted and encoded on every core
		return export.Stream(w, f, func(out func([]byte) error) (int64, error) {
			return src.Encode(ctx, account, q, f.Append, out)
		})
	}
	ew := f.New(w)
	n, err := src.Each(ctx, account, q, ew.Write)
	if cerr := ew.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// ExportEvent is the audit_log.exported event of an export.
func ExportEvent(account string, actor *stele.Ref, q stele.Query, format string, rows int64, err error, ip, userAgent string) stele.Event {
	outcome := stele.OutcomeSuccess
	if err != nil {
		outcome = stele.OutcomeFailure
	}
	return stele.Event{Account: account, Action: "audit_log.exported", Outcome: outcome, Actor: actor,
		Target: &stele.Ref{Type: "audit_log", ID: account},
		IP:     ip, UserAgent: userAgent,
		Description: fmt.Sprintf("exported %d events as %s", rows, format),
		Metadata:    map[string]any{"query": q.String(), "format": format, "rows": json.Number(strconv.FormatInt(rows, 10)), "complete": err == nil}}
}

func (s *Server) recordExport(ctx context.Context, p *stele.Principal, q stele.Query, format string, rows int64, err error, r *http.Request) error {
	actor := &stele.Ref{Type: "api_key", ID: p.KeyID}
	_, rerr := s.Ingest.Record(ctx, ExportEvent(p.Account, actor, q, format, rows, err, clientIP(r), r.UserAgent()))
	return rerr
}

// clientIP is the peer address of r, without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/record"
)

// PageSize is the number of events per page of the Audit Logs page.
const PageSize = 50

func (s *Server) handleAuditLogs(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermAuditLogsRead) {
		return
	}
	f := parseFilters(r.URL.Query())
	account, err := s.readAccount(r, v, f.Account)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	data := map[string]any{
		"F": f, "Ranges": ranges, "Categories": stele.Categories, "Outcomes": stele.Outcomes,
		"Actions": catalogActions(), "Filtered": f.active(), "CanExport": v.can(stele.PermAuditLogsExport),
		"Viewing": account,
	}
	if account != v.account {
		data["Other"] = account.Name
	}
	if v.user.Operator() {
		if data["Accounts"], err = s.Accounts.Accounts(r.Context()); err != nil {
			s.serverError(w, r, v, err)
			return
		}
	}
	for _, format := range export.Names() {
		ev := f.values()
		ev.Set("format", format)
		data["Export"+format] = "/admin/audit-logs/export?" + ev.Encode()
	}
	now := s.now()
	if read := f.readAs(now); read != "" {
		data["ReadAs"] = read
	}
	q, err := f.query(now)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		data["QueryError"] = stele.ErrorMessage(err)
		s.render(w, r, v, "auditlogs", data)
		return
	}
	page, err := s.Search.Search(r.Context(), account, q, f.Cursor, PageSize)
	if err != nil {
		switch stele.ErrorCode(err) {
		case stele.EINTERNAL:
			s.Logger.Error("audit logs search", "account", account.Name, "err", err)
			data["LoadError"] = "The events could not be loaded. The error was logged; try again in a moment."
		case stele.EGONE:
			data["LoadError"] = stele.ErrorMessage(err)
		default:
			data["QueryError"] = stele.ErrorMessage(err)
		}
		w.WriteHeader(statusFor(err))
		s.render(w, r, v, "auditlogs", data)
		return
	}
	s.Reads.Read(v.who(r), audit.View{Account: account.Name, Reader: v.account.Name, Kind: audit.ViewSearch, Query: audit.QueryText(q), Results: len(page.Events)})
	data["Events"] = page.Events
	if page.NextCursor != "" {
		nv := f.values()
		nv.Set("cursor", page.NextCursor)
		data["NextURL"] = "/admin/audit-logs?" + nv.Encode()
	}
	if f.Cursor != "" {
		data["FirstURL"] = "/admin/audit-logs?" + f.values().Encode()
	}
	ch, err := s.chart(r.Context(), account, q, now)
	if err != nil {
		s.Logger.Error("audit logs chart", "account", account.Name, "err", err)
		data["ChartError"] = true
	} else {
		data["Chart"] = ch
		data["HasText"] = q.HasText()
	}
	s.render(w, r, v, "auditlogs", data)
}

func statusFor(err error) int {
	switch stele.ErrorCode(err) {
	case stele.EINVALID:
		return http.StatusBadRequest
	case stele.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case stele.EGONE:
		return http.StatusGone
	default:
		return http.StatusInternalServerError
	}
}

// chart counts the filtered events of the chart's range by bucket and category.
func (s *Server) chart(ctx context.Context, account *stele.Account, q stele.Query, now time.Time) (*chart, error) {
	rq, err := s.Search.Plan(ctx, account, q)
	if err != nil {
		return nil, err
	}
	start, end := q.After, q.Before
	if end.IsZero() || end.After(now) {
		end = now
	}
	if start.IsZero() {
		// All time: the range starts at the first event, counted by day.
		counts, err := s.Counter.CountByBucket(ctx, rq, (24 * time.Hour).Microseconds())
		if err != nil {
			return nil, err
		}
		if len(counts) == 0 {
			start = end.Add(-24 * time.Hour)
		} else {
			start = record.Time(counts[0].Start)
		}
		if end.Sub(start) > 8*24*time.Hour {
			return buildChart(counts, start, end, 24*time.Hour, "day"), nil
		}
	}
	if !start.Before(end) {
		start = end.Add(-time.Hour)
	}
	bucket, unit := bucketFor(start, end)
	counts, err := s.Counter.CountByBucket(ctx, rq, bucket.Microseconds())
	if err != nil {
		return nil, err
	}
	return buildChart(counts, start, end, bucket, unit), nil
}

func catalogActions() []string {
	out := make([]string, 0, len(stele.Catalog))
	for a := range stele.Catalog {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermAuditLogsRead) {
		return
	}
	account, err := s.readAccount(r, v, r.URL.Query().Get("account"))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	id := r.PathValue("id")
	accountID, seq, err := stele.ParseEventID(id)
	if err == nil && accountID != account.ID {
		err = stele.Errorf(stele.ENOTFOUND, "event %q not found", id) // another account's event does not exist here
	}
	var e *stele.Event
	if err == nil {
		e, err = s.Search.Event(r.Context(), account, seq)
	}
	if err != nil {
		if stele.ErrorCode(err) == stele.ENOTFOUND {
			err = stele.Errorf(stele.ENOTFOUND, "There is no event %s in this account.", id)
		}
		s.serverError(w, r, v, err)
		return
	}
	s.Reads.Read(v.who(r), audit.View{Account: account.Name, Reader: v.account.Name, Kind: audit.ViewEvent, Query: id, Results: 1})
	data := map[string]any{"E": e, "Back": localPath(r.URL.Query().Get("back"))}
	if data["Back"] == "" && account != v.account {
		data["Back"] = "/admin/audit-logs?" + url.Values{"account": {account.Name}}.Encode()
	}
	if raw, err := eventJSON(e); err != nil {
		// Not the error's text: it may quote the event.
		s.Logger.Error("event detail: the event cannot be written as JSON", "account", account.Name, "seq", e.Seq)
		data["RawError"] = true
	} else {
		data["Raw"] = raw
	}
	if s.Integrity == nil {
		data["Integrity"] = integrity.EventStatus{Detail: "Integrity status appears here once tamper evidence (signed checkpoints) is enabled."}
		data["IntegrityUnavailable"] = true
	} else if st, err := s.Integrity(r.Context(), account, e); err != nil {
		s.Logger.Error("integrity check", "account", account.Name, "seq", e.Seq, "err", err)
		data["Integrity"] = integrity.EventStatus{Detail: "The integrity check failed to run; the error was logged."}
		data["IntegrityUnavailable"] = true
	} else {
		data["Integrity"] = st
	}
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	meta := make([][2]string, len(keys))
	for i, k := range keys {
		meta[i] = [2]string{k, metadataText(e.Metadata[k])}
	}
	data["Meta"] = meta
	s.render(w, r, v, "event", data)
}

// eventJSON is the event as the API returns it (export.AppendEventJSON),
// indented for reading.
func eventJSON(e *stele.Event) (string, error) {
	b, err := export.AppendEventJSON(nil, e)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return "", err
	}
	return out.String(), nil
}

// metadataText is a metadata value as the event page shows it: a string as
// it is, a number as its exact stored text (never converted: 1e19 stays
// 1e19), true, false or null.
func metadataText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

// handleExport streams exactly the filtered set in the chosen format, and
// records the export with its query and row count.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermAuditLogsExport) {
		return
	}
	f := parseFilters(r.URL.Query())
	account, err := s.readAccount(r, v, f.Account)
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	format, err := export.Lookup(r.URL.Query().Get("format"))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	q, err := f.query(s.now())
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	if err := s.Search.Readable(r.Context(), account); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", format.ContentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="stele-%s-%s.%s"`, account.Name, s.now().UTC().Format("20060102-150405"), format.Extension))
	n, err := export.Events(r.Context(), w, s.Search, account, q, format)
	if err != nil {
		s.Logger.Warn("console export ended early", "account", account.Name, "rows", n, "err", err)
	}
	s.Audit.Log(s.Audit.Exported(detached(r), v.who(r), audit.Export{Account: account.Name, Reader: v.account.Name, Query: q.String(), Format: format.Name, Rows: n, Err: err}))
}

// readAccount is the account whose log the visitor reads: their own, or,
// for an operator (a user of _system) who names another, that account.
// Anyone else naming an account not their own is refused.
func (s *Server) readAccount(r *http.Request, v *visit, name string) (*stele.Account, error) {
	if name == "" || name == v.account.Name {
		return v.account, nil
	}
	if !v.user.Operator() {
		// A user reaching for another tenant's log is worth an entry in their own.
		s.Audit.Log(s.Audit.Denied(detached(r), v.who(r), audit.Denial{Account: v.account.Name, Resource: audit.Page(r.URL.Path),
			Permission: "operator", Role: string(v.user.Role), Method: r.Method}))
		return nil, stele.Errorf(stele.EFORBIDDEN, "Only an operator may read another account's log.")
	}
	a, err := s.Accounts.AccountByName(r.Context(), name)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil, stele.Errorf(stele.ENOTFOUND, "There is no account %s.", name)
	}
	return a, err
}

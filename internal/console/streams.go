package console

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/stream"
)

// Settings → Streams: owners (settings.manage) list the account's streams
// with their lag and last error, create, change and delete them, and ask
// one to send a time window again. The stream service validates, seals
// the headers and records each change; this file turns forms into its
// input and its answers into pages.

// streamFormats are the formats a form offers, by destination type.
var streamFormats = []struct{ Type, Format, Label string }{
	{"syslog", "cef", "syslog: CEF"}, {"syslog", "json", "syslog: JSON"},
	{"https", "ndjson", "HTTPS: NDJSON"}, {"https", "splunk_hec", "HTTPS: Splunk HEC"}, {"https", "ocsf", "HTTPS: OCSF"},
}

// streamForm is the stream form as submitted (or as the stream stands,
// for editing). Header values are never put back in a page.
type streamForm struct {
	Name, Query, Type, Address, Format, URL, Start string
	TLS, Enabled, AllAccounts, ClearHeaders        bool
	headers                                        string
	HeaderNames                                    []string
}

func readStreamForm(r *http.Request) streamForm {
	f := streamForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), Query: strings.TrimSpace(r.PostFormValue("query")),
		Type: r.PostFormValue("type"), Address: strings.TrimSpace(r.PostFormValue("address")),
		Format: r.PostFormValue("format"), URL: strings.TrimSpace(r.PostFormValue("url")), Start: r.PostFormValue("start"),
		TLS: r.PostFormValue("tls") == "on", Enabled: r.PostFormValue("enabled") == "on",
		AllAccounts: r.PostFormValue("all_accounts") == "on", ClearHeaders: r.PostFormValue("clear_headers") == "on",
		headers: r.PostFormValue("headers"),
	}
	return f
}

// input is the form as the service takes it. Headers left blank are nil
// (kept on an update, for the same host); "remove" makes them empty.
func (f streamForm) input(create bool) (stream.Input, error) {
	in := stream.Input{Name: f.Name, Query: f.Query, Enabled: &f.Enabled}
	if create {
		in.Start = f.Start
		if f.AllAccounts {
			in.AllAccounts = &f.AllAccounts
		}
	}
	d := &stele.StreamDestination{Type: f.Type, Format: f.Format}
	switch f.Type {
	case "syslog":
		d.Address, d.TLS = f.Address, f.TLS
	case "https":
		d.URL = f.URL
		h, err := parseHeaderLines(f.headers)
		if err != nil {
			return in, err
		}
		if f.ClearHeaders {
			h = map[string]string{}
		}
		d.Headers = h
	}
	in.Destination = d
	return in, nil
}

// parseHeaderLines reads "Name: value" lines; nil when there are none.
func parseHeaderLines(text string) (map[string]string, error) {
	var out map[string]string
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		n++
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			// The line may hold a token: say which line, not what.
			return nil, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("Headers: line %d is not “Name: value”.", n),
				Details: []stele.FieldError{{Field: "destination.headers", Rule: "format"}}}
		}
		if out == nil {
			out = map[string]string{}
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, nil
}

func streamFormOf(v *stream.View) streamForm {
	d := v.Destination
	return streamForm{Name: v.Name, Query: v.Query, Type: d.Type, Address: d.Address, TLS: d.TLS, Format: d.Format, URL: d.URL,
		Enabled: v.Enabled, AllAccounts: v.AllAccounts, HeaderNames: d.HeaderNames}
}

func (s *Server) streamOwner(v *visit) stream.Owner {
	return stream.Owner{Account: v.account, Operator: v.user.Operator()}
}

// streamsAvailable answers 503 on a server without streams.
func (s *Server) streamsAvailable(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if s.Streams == nil {
		s.renderError(w, r, v, http.StatusServiceUnavailable, "Not available", "Streams are not configured on this server.")
		return false
	}
	return true
}

// streamNotices are the notices a redirect after a change asks for.
var streamNotices = map[string]string{
	"created":  "The stream was created. It forwards the events recorded from now on (or from the oldest kept, if you chose so).",
	"saved":    "The stream was saved. A paused stream resumes from where it stopped.",
	"deleted":  "The stream was deleted; it sends nothing more.",
	"replayed": "The replay was requested: the window's events are sent again, beside the live stream. Its progress shows below.",
}

func (s *Server) streamsPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	list, err := s.Streams.List(r.Context(), s.streamOwner(v))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	data := map[string]any{"Streams": list, "Formats": streamFormats, "Operator": v.user.Operator(),
		"Form":   streamForm{Type: "syslog", Format: "cef", Enabled: true, Start: stele.StreamStartNow},
		"Notice": streamNotices[r.URL.Query().Get("notice")], "Max": stele.MaxStreamsPerAccount}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "streams", data)
}

func (s *Server) handleStreams(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	s.streamsPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) handleCreateStream(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	f := readStreamForm(r)
	in, err := f.input(true)
	var view *stream.View
	if err == nil {
		view, err = s.Streams.Create(context.WithoutCancel(r.Context()), s.streamOwner(v), in, v.who(r))
	}
	if err != nil {
		if msg, ok := formError(err); ok {
			s.streamsPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": msg, "Form": f, "HeadersLost": f.headers != ""})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/admin/settings/streams/"+url.PathEscape(view.ID)+"?notice=created", http.StatusSeeOther)
}

// formError is the message a form shows for err, if it is the user's to fix.
func formError(err error) (string, bool) {
	switch stele.ErrorCode(err) {
	case stele.EINVALID, stele.ECONFLICT, stele.EFORBIDDEN:
		return stele.ErrorMessage(err), true
	}
	return "", false
}

func (s *Server) streamPage(w http.ResponseWriter, r *http.Request, v *visit, status int, extra map[string]any) {
	view, err := s.Streams.Get(r.Context(), s.streamOwner(v), r.PathValue("id"))
	if err != nil {
		s.serverError(w, r, v, err)
		return
	}
	now := s.now().UTC()
	data := map[string]any{"Stream": view, "Form": streamFormOf(view), "Formats": streamFormats,
		"Notice":      streamNotices[r.URL.Query().Get("notice")],
		"ReplayAfter": now.Add(-time.Hour).Format("2006-01-02T15:04"), "ReplayBefore": now.Format("2006-01-02T15:04")}
	for k, x := range extra {
		data[k] = x
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	s.render(w, r, v, "stream", data)
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	s.streamPage(w, r, v, http.StatusOK, nil)
}

func (s *Server) handleUpdateStream(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	f := readStreamForm(r)
	in, err := f.input(false)
	if err == nil {
		_, err = s.Streams.Update(context.WithoutCancel(r.Context()), s.streamOwner(v), r.PathValue("id"), in, v.who(r))
	}
	if err != nil {
		if msg, ok := formError(err); ok {
			s.streamPage(w, r, v, http.StatusBadRequest, map[string]any{"Error": msg, "Form": f, "HeadersLost": f.headers != ""})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/admin/settings/streams/"+url.PathEscape(r.PathValue("id"))+"?notice=saved", http.StatusSeeOther)
}

func (s *Server) handleDeleteStream(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	if err := s.Streams.Delete(context.WithoutCancel(r.Context()), s.streamOwner(v), r.PathValue("id"), v.who(r)); err != nil {
		s.serverError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/admin/settings/streams?notice=deleted", http.StatusSeeOther)
}

func (s *Server) handleReplayStream(w http.ResponseWriter, r *http.Request, v *visit) {
	if !s.require(w, r, v, stele.PermSettingsManage) || !s.streamsAvailable(w, r, v) {
		return
	}
	after, err1 := parseFormTime(r.PostFormValue("after"))
	before, err2 := parseFormTime(r.PostFormValue("before"))
	var err error
	switch {
	case err1 != nil:
		err = &stele.Error{Code: stele.EINVALID, Message: "From: enter a date and time (UTC), as 2026-11-24T10:00."}
	case err2 != nil:
		err = &stele.Error{Code: stele.EINVALID, Message: "To: enter a date and time (UTC), as 2026-11-24T11:00."}
	default:
		_, err = s.Streams.Replay(context.WithoutCancel(r.Context()), s.streamOwner(v), r.PathValue("id"), after, before, v.who(r))
	}
	if err != nil {
		if msg, ok := formError(err); ok {
			s.streamPage(w, r, v, http.StatusBadRequest, map[string]any{"ReplayError": msg,
				"ReplayAfter": r.PostFormValue("after"), "ReplayBefore": r.PostFormValue("before")})
			return
		}
		s.serverError(w, r, v, err)
		return
	}
	http.Redirect(w, r, "/admin/settings/streams/"+url.PathEscape(r.PathValue("id"))+"?notice=replayed", http.StatusSeeOther)
}

// parseFormTime reads a datetime-local value, in UTC.
func parseFormTime(text string) (time.Time, error) {
	text = strings.TrimSpace(text)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, text, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", text)
}

// stateClass is the pill class of a stream's state.
func stateClass(state string) string {
	switch state {
	case stream.StateRunning:
		return "outcome-success"
	case stream.StateFailing, stream.StatePaused:
		return "outcome-failure"
	default:
		return "pill-neutral"
	}
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/query"
)

func (s *Server) handleCreateEvents(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	if err := requireScope(p, stele.ScopeEventsWrite); err != nil {
		s.writeError(w, r, err)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.writeError(w, r, stele.Errorf(stele.EUNSUPPORTED, "Content-Type must be application/json"))
		return
	}
	// A producer that sends on once its quota is spent is answered before
	// its body is read, and not at once: a producer that ignores
	// Retry-After is slowed to one refusal per connection for as long as
	// the wait (up to a second), so its refusals cost the other accounts
	// little however fast it sends.
	if err := s.Ingest.Admit(r.Context(), p, r.ContentLength); err != nil {
		holdRefusal(r.Context(), err)
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeError(w, r, stele.Errorf(stele.ETOOLARGE, "the body is at most %d bytes", stele.MaxBodyBytes))
			return
		}
		s.writeError(w, r, stele.Errorf(stele.EINVALID, "reading the body: %v", err))
		return
	}
	receipts, err := s.Ingest.Ingest(r.Context(), p, body)
	// The key was taken from the cache and has changed since (or another
	// has: the generation is the store's): read it again and, if it still
	// may, send the events again. Nothing of them was stored.
	for tries := 0; errors.Is(err, ingest.ErrKeyChanged) && tries < 3; tries++ {
		if p, err = s.keys.Authenticate(r.Context(), bearerKey(r)); err != nil {
			s.writeAuthError(w, r, err)
			return
		}
		if err = requireScope(p, stele.ScopeEventsWrite); err != nil {
			break
		}
		receipts, err = s.Ingest.Ingest(r.Context(), p, body)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"events": receipts})
}

func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	if err := requireScope(p, stele.ScopeEventsRead); err != nil {
		s.writeError(w, r, err)
		return
	}
	v := r.URL.Query()
	limit := 0
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			s.writeError(w, r, &stele.Error{Code: stele.EINVALID, Message: "limit must be a whole number from 1 to 1000",
				Details: []stele.FieldError{{Field: "limit", Rule: "range"}}})
			return
		}
		limit = n
	}
	t, err := s.readTarget(r, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q, err := query.Parse(v.Get("q"), s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Search.Search(r.Context(), &stele.Account{ID: t.AccountID, Name: t.Account}, q, v.Get("cursor"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// {"events":[…],"next_cursor":…,"query":…} as encoding/json wrote it,
	// each event appended without reflection (export.AppendEventJSON). The
	// query is how it was read: its canonical form.
	body := append(make([]byte, 0, 1024*(len(page.Events)+1)), `{"events":[`...)
	for i, e := range page.Events {
		if i > 0 {
			body = append(body, ',')
		}
		if body, err = export.AppendEventJSON(body, e); err != nil {
			// Not the error's text: it may quote the event's contents.
			s.writeError(w, r, fmt.Errorf("event %s cannot be written as JSON", e.ID))
			return
		}
	}
	body = append(body, `],"next_cursor":`...)
	if page.NextCursor == "" {
		body = append(body, "null"...)
	} else {
		body = strconv.AppendQuote(body, page.NextCursor) // base64url: no character to escape
	}
	var read bytes.Buffer
	enc := json.NewEncoder(&read)
	enc.SetEscapeHTML(false)
	enc.Encode(q.String()) // a string always encodes
	body = append(append(body, `,"query":`...), bytes.TrimSuffix(read.Bytes(), []byte("\n"))...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, "}\n"...)) // the client may be gone; nothing useful to do about it
	s.noteRead(r, p, t, audit.View{Kind: audit.ViewSearch, Query: audit.QueryText(q), Results: len(page.Events)})
}

func (s *Server) handleGetEvent(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	if err := requireScope(p, stele.ScopeEventsRead); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.readTarget(r, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("id")
	accountID, seq, err := stele.ParseEventID(id)
	if err == nil && accountID != t.AccountID {
		// Another account's event is, to this key, an event that does not exist.
		err = stele.Errorf(stele.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.Search.Event(r.Context(), &stele.Account{ID: t.AccountID, Name: t.Account}, seq)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		err = stele.Errorf(stele.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if r.URL.Query().Get("proof") == "true" {
		if s.writeEventWithProof(w, r, p, t, e) {
			s.noteRead(r, p, t, audit.View{Kind: audit.ViewEvent, Query: id, Results: 1})
		}
		return
	}
	writeJSON(w, http.StatusOK, e)
	s.noteRead(r, p, t, audit.View{Kind: audit.ViewEvent, Query: id, Results: 1})
}

// readBody reads the request body, at most stele.MaxBodyBytes of it, into a
// buffer sized by Content-Length when the client sent one, rather than one
// grown and copied a dozen times over for a batch of a thousand events.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, stele.MaxBodyBytes)
	if n := r.ContentLength; n > 0 && n <= stele.MaxBodyBytes {
		// The server ends the body at Content-Length; the extra byte only
		// makes the end show as io.ErrUnexpectedEOF.
		buf := make([]byte, n+1)
		k, err := io.ReadFull(body, buf)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil
		}
		return buf[:k], err
	}
	return io.ReadAll(body)
}

// maxRefusalHold bounds how long a refusal for a spent quota is held.
const maxRefusalHold = time.Second

// holdRefusal waits, before a throttled request is answered, for the time
// its quota needs to take one more request, at most maxRefusalHold, or
// until the client is gone.
func holdRefusal(ctx context.Context, err error) {
	var e *stele.Error
	if !errors.As(err, &e) || e.Code != stele.ETHROTTLED || e.RetryAfter <= 0 {
		return
	}
	t := time.NewTimer(min(e.RetryAfter, maxRefusalHold))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/stream"
)

// maxSettingsBody bounds the body of a request that changes settings (a
// stream), as ingest's does.
const maxSettingsBody = stele.MaxBodyBytes

// streamsOwner checks the key's scope and returns whose streams it
// manages: its account's, and, for an operator key, streams of every
// account too.
func (s *Server) streamsOwner(w http.ResponseWriter, r *http.Request, p *stele.Principal) (stream.Owner, bool) {
	if err := requireScope(p, stele.ScopeStreamsManage); err != nil {
		s.writeError(w, r, err)
		return stream.Owner{}, false
	}
	if s.Streams == nil {
		s.writeError(w, r, stele.Errorf(stele.EUNAVAILABLE, "streams are not configured on this server"))
		return stream.Owner{}, false
	}
	return stream.Owner{Account: &stele.Account{ID: p.AccountID, Name: p.Account}, Operator: p.Operator}, true
}

func keyActor(p *stele.Principal, r *http.Request) audit.Actor {
	return audit.Key(p, clientIP(r), truncateUA(r.UserAgent()))
}

func truncateUA(ua string) string {
	if len(ua) > 1024 {
		return ua[:1024]
	}
	return ua
}

func (s *Server) handleCreateStream(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	var in stream.Input
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.Streams.Create(r.Context(), o, in, keyActor(p, r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/streams/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleListStreams(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	list, err := s.Streams.List(r.Context(), o)
	s.reply(w, r, http.StatusOK, map[string]any{"streams": list}, err)
}

func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	v, err := s.Streams.Get(r.Context(), o, r.PathValue("id"))
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) handleUpdateStream(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	var in stream.Input
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.Streams.Update(r.Context(), o, r.PathValue("id"), in, keyActor(p, r))
	s.reply(w, r, http.StatusOK, v, err)
}

func (s *Server) handleDeleteStream(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	if err := s.Streams.Delete(r.Context(), o, r.PathValue("id"), keyActor(p, r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// replayRequest is the body of POST /v1/streams/{id}/replay.
type replayRequest struct {
	After  time.Time `json:"after"`
	Before time.Time `json:"before"`
}

func (s *Server) handleReplayStream(w http.ResponseWriter, r *http.Request, p *stele.Principal) {
	o, ok := s.streamsOwner(w, r, p)
	if !ok {
		return
	}
	var in replayRequest
	if err := decodeJSON(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rp, err := s.Streams.Replay(r.Context(), o, r.PathValue("id"), in.After, in.Before, keyActor(p, r))
	s.reply(w, r, http.StatusAccepted, rp, err)
}

// decodeJSON decodes a request's JSON body into v, strictly: the
// Content-Type must be JSON, the body at most maxSettingsBody bytes and
// one value, every field known and of its type. Its errors name the
// field and the rule.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return stele.Errorf(stele.EUNSUPPORTED, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSettingsBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return stele.Errorf(stele.ETOOLARGE, "the body is at most %d bytes", maxSettingsBody)
		}
		return stele.Errorf(stele.EINVALID, "reading the body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	bad := func(field, rule, msg string) error {
		return &stele.Error{Code: stele.EINVALID, Message: msg, Details: []stele.FieldError{{Field: field, Rule: rule, Message: msg}}}
	}
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		var timeErr *time.ParseError
		switch {
		case errors.As(err, &typeErr):
			field := typeErr.Field
			if field == "" {
				field = "body"
			}
			return bad(field, "type", fmt.Sprintf("%s must be a JSON %s", field, jsonKind(typeErr.Type.Kind().String())))
		case errors.As(err, &timeErr):
			return bad("body", "format", "times are RFC 3339, as 2026-11-24T10:00:00Z")
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return bad("body", "json", "the body is not valid JSON")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if len(name) > 64 {
				name = name[:64]
			}
			return bad(name, "unknown_field", fmt.Sprintf("unknown field %q", name))
		default:
			return bad("body", "json", "the body is not valid JSON")
		}
	}
	if dec.More() {
		return bad("body", "json", "the body holds more than one JSON value")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "ptr":
		return "object"
	default:
		return "number"
	}
}

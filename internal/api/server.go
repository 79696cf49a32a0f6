// Package api is Stele's JSON HTTP API: routes, middleware, and one file of
// handlers per resource. Handlers depend on services and root interfaces,
// never on a concrete store.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/metrics"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/stream"
)

// Server holds the API's dependencies.
type Server struct {
	Ingest   *ingest.Service
	Search   *search.Service
	Accounts stele.AccountStore
	APIKeys  stele.APIKeyStore
	Logger   *slog.Logger
	// Ready reports whether the node can take traffic (the store answers
	// and the master key unwraps the account keys); its error's text is
	// the reason /healthz gives, so it must be fit for anyone to read.
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// Checkpoints signs and serves checkpoints and proofs; nil turns the
	// tamper-evidence endpoints off.
	Checkpoints *integrity.Checkpointer
	// Audit records the API's own actions (exports, refusals); Routes
	// makes one over Ingest when it is nil.
	Audit *audit.Recorder
	// Reads records reads of the log (audit_log.viewed), coalesced and
	// off the request's path; nil records none.
	Reads *audit.Reads
	// Streams manages /v1/streams; nil answers them 503.
	Streams *stream.Service
	// Alerts manages alert rules (/v1/alert-rules); nil answers 503.
	Alerts *alert.Service

	keys *apikey.Cache // over APIKeys; made by Routes
}

// Routes registers the API's routes on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	s.keys = apikey.NewCache(s.APIKeys)
	if s.Audit == nil {
		s.Audit = &audit.Recorder{Sink: s.Ingest, Logger: s.Logger}
	}
	mux.Handle("POST /v1/events", s.authWrite(s.handleCreateEvents))
	mux.Handle("GET /v1/events", s.auth(s.handleListEvents))
	mux.Handle("GET /v1/events/{id}", s.auth(s.handleGetEvent))
	mux.Handle("GET /v1/export", s.auth(s.handleExport))
	mux.Handle("GET /v1/checkpoint", s.auth(s.handleCheckpoint))
	mux.Handle("GET /v1/proofs/inclusion", s.auth(s.handleInclusionProof))
	mux.Handle("GET /v1/proofs/consistency", s.auth(s.handleConsistencyProof))
	mux.Handle("POST /v1/streams", s.auth(s.handleCreateStream))
	mux.Handle("GET /v1/streams", s.auth(s.handleListStreams))
	mux.Handle("GET /v1/streams/{id}", s.auth(s.handleGetStream))
	mux.Handle("PUT /v1/streams/{id}", s.auth(s.handleUpdateStream))
	mux.Handle("DELETE /v1/streams/{id}", s.auth(s.handleDeleteStream))
	mux.Handle("POST /v1/streams/{id}/replay", s.auth(s.handleReplayStream))
	mux.Handle("POST /v1/alert-rules", s.auth(s.handleCreateAlertRule))
	mux.Handle("GET /v1/alert-rules", s.auth(s.handleListAlertRules))
	mux.Handle("GET /v1/alert-rules/{id}", s.auth(s.handleGetAlertRule))
	mux.Handle("PUT /v1/alert-rules/{id}", s.auth(s.handleUpdateAlertRule))
	mux.Handle("DELETE /v1/alert-rules/{id}", s.auth(s.handleDeleteAlertRule))
	mux.Handle("POST /v1/alert-rules/{id}/test", s.auth(s.handleTestAlertRule))
	mux.Handle("GET /v1/alert-rules/{id}/firings", s.auth(s.handleAlertFirings))
	mux.HandleFunc("GET /v1/openapi.json", s.handleOpenAPI)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /livez", s.handleLive)
	// Everything else under /v1/ answers in the API's own error body, not
	// the mux's plain text: 405 with Allow for a known path, else 404.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) { s.handleNoRoute(w, r, mux) })
}

func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.Join(allow, " or "), nil))
		return
	}
	s.writeError(w, r, stele.Errorf(stele.ENOTFOUND, "no such API route: %s %s", r.Method, r.URL.Path))
}

// Handler returns the API with its middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Routes(mux)
	return Middleware(s.Logger, mux)
}

// Middleware wraps h with panic recovery (recovery.Handler: a panic ends
// its own request only, as a 500, or by cutting a response already
// started), request logging and security headers. The log never holds
// query strings, bodies or panic values: they carry event data.
func Middleware(logger *slog.Logger, h http.Handler) http.Handler {
	recovered := recovery.Handler(logger, h, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, errorBody(stele.EINTERNAL, "internal error", nil))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			hdr.Set("Cache-Control", "no-store")
		}
		defer func() {
			logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
		}()
		recovered.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type principalKey struct{}

// auth authenticates the request's API key and passes its principal on.
func (s *Server) auth(next func(http.ResponseWriter, *http.Request, *stele.Principal)) http.Handler {
	return s.authWith(s.keys.Authenticate, next)
}

// authWrite authenticates a request that writes events from the key cache
// alone; the transaction that stores them confirms the key is unchanged
// (apikey.Cache.AuthenticateForWrite), and handleCreateEvents reads it
// again if it is not.
func (s *Server) authWrite(next func(http.ResponseWriter, *http.Request, *stele.Principal)) http.Handler {
	return s.authWith(s.keys.AuthenticateForWrite, next)
}

func (s *Server) authWith(authenticate func(context.Context, string) (*stele.Principal, error),
	next func(http.ResponseWriter, *http.Request, *stele.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := bearerKey(r)
		if key == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stele"`)
			s.writeError(w, r, stele.Errorf(stele.EUNAUTHORIZED, "an API key is required: Authorization: Bearer <key>"))
			return
		}
		p, err := authenticate(r.Context(), key)
		if err != nil {
			s.writeAuthError(w, r, err)
			return
		}
		metrics.SetAccount(r.Context(), p.Account)
		next(w, r, p)
	})
}

// bearerKey returns the API key of the request's "Authorization: Bearer"
// header, or "" when there is none.
func bearerKey(r *http.Request) string {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(key)
}

func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, err error) {
	if stele.ErrorCode(err) == stele.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="stele", error="invalid_token"`)
	}
	s.writeError(w, r, err)
}

func requireScope(p *stele.Principal, scope stele.Scope) error {
	if !p.Can(scope) {
		return stele.Errorf(stele.EFORBIDDEN, "this key lacks the %s scope", scope)
	}
	return nil
}

// handleHealth is readiness: 200 when the node can serve, 503 with the
// reason when it cannot (a load balancer stops sending it traffic).
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleLive is liveness: 200 whenever the process serves HTTP at all, so
// that an orchestrator restarts a node that hangs, not one that waits for
// its database or key.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// statusOf maps an application error code to its HTTP status, in one place.
func statusOf(code stele.Code) int {
	switch code {
	case stele.EINVALID:
		return http.StatusBadRequest
	case stele.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case stele.EFORBIDDEN:
		return http.StatusForbidden
	case stele.ENOTFOUND:
		return http.StatusNotFound
	case stele.ECONFLICT:
		return http.StatusConflict
	case stele.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case stele.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case stele.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case stele.ETHROTTLED:
		return http.StatusTooManyRequests
	case stele.EGONE:
		return http.StatusGone
	default:
		return http.StatusInternalServerError
	}
}

type errorJSON struct {
	Code    stele.Code         `json:"code"`
	Message string             `json:"message"`
	Details []stele.FieldError `json:"details"`
}

func errorBody(code stele.Code, msg string, details []stele.FieldError) map[string]errorJSON {
	if details == nil {
		details = []stele.FieldError{}
	}
	return map[string]errorJSON{"error": {Code: code, Message: msg, Details: details}}
}

// writeError writes err as the API's error body. Internal errors are logged
// and answered without detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := stele.ErrorCode(err)
	var details []stele.FieldError
	var e *stele.Error
	if errors.As(err, &e) {
		details = e.Details
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(ingest.RetryAfterSeconds(e.RetryAfter), 10))
		}
	}
	if code == stele.EINTERNAL {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, statusOf(code), errorBody(code, stele.ErrorMessage(err), details))
}

// reply ends a handler with its result: err as the API's error when there
// is one, v as JSON with status otherwise.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing useful to do about it
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

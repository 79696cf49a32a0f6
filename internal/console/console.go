// Package console is Stele's web console: sign-in, the Administration menu
// and the Audit Logs page. Pages are rendered on the server with
// html/template from an embedded file system; the core flows work without
// JavaScript, and a strict Content-Security-Policy forbids inline scripts
// and styles.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/recovery"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/search"
	"github.com/stele-audit/stele/internal/stream"
	"github.com/stele-audit/stele/internal/users"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Timeouts of a console session.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
)

// IntegrityChecker checks one event against its account's latest signed
// checkpoint, for the event detail page (integrity.Checkpointer.EventStatus:
// the check stele verify --url makes too).
type IntegrityChecker func(ctx context.Context, account *stele.Account, e *stele.Event) (integrity.EventStatus, error)

// Server serves the console. Its dependencies are root interfaces and services.
type Server struct {
	Accounts stele.AccountStore
	Users    stele.UserStore
	Sessions stele.SessionStore
	APIKeys  stele.APIKeyStore
	Counter  stele.EventCounter
	Search   *search.Service
	Ingest   *ingest.Service
	// Audit records the console's own actions; Init makes one over Ingest
	// when it is nil.
	Audit *audit.Recorder
	// Reads records views of the Audit Logs page and of events
	// (audit_log.viewed), coalesced and off the request's path; nil
	// records none.
	Reads        *audit.Reads
	Logger       *slog.Logger
	AccountTypes []stele.AccountType
	// TLS is set when the console is served over HTTPS: cookies are then
	// Secure and __Host- prefixed, and HSTS is sent.
	TLS bool
	// Integrity, when set, gives the detail page its integrity status.
	Integrity IntegrityChecker
	// Retention reads and changes the account's retention and legal hold
	// (Settings → Retention); without it the page only shows them.
	Retention *retention.Settings
	// Alerts manages the account's alert rules (Settings → Alerts); nil
	// leaves the page out.
	Alerts *alert.Service
	// Secrets seals users' TOTP seeds under their account's keys, so the
	// database alone never yields a second factor.
	Secrets SecretSealer
	// Throttle, when set, keeps the sign-in throttle's counts in the store,
	// shared by every node and kept across restarts; without it they live
	// in this process.
	Throttle stele.LoginThrottleStore
	Now      func() time.Time
	// Streams manages Settings → Streams; without it the page says so.
	Streams *stream.Service

	pages    map[string]*template.Template
	throttle limiter
	hasher   *hasher
	creator  *users.Service
	csrf     *http.CrossOriginProtection
}

// SecretSealer encrypts small per-account secrets (seal.Keyring).
type SecretSealer interface {
	SealSecret(ctx context.Context, accountID int64, purpose, plain string) (string, error)
	OpenSecret(ctx context.Context, accountID int64, purpose, sealed string) (string, error)
}

// Init parses the templates; call it once before serving.
func (s *Server) Init() error {
	pages, err := parsePages()
	if err != nil {
		return err
	}
	s.pages = pages
	if s.Throttle != nil {
		s.throttle = storeThrottle{s.Throttle}
	} else {
		s.throttle = newThrottle()
	}
	if s.Audit == nil {
		s.Audit = &audit.Recorder{Sink: s.Ingest, Logger: s.Logger}
	}
	s.hasher = newHasher()
	s.creator = &users.Service{Store: s.Users, Audit: s.Audit}
	s.csrf = http.NewCrossOriginProtection()
	if s.AccountTypes == nil {
		s.AccountTypes = stele.DefaultAccountTypes
	}
	return nil
}

// Routes registers the console's routes on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFiles, "static")
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	mux.Handle("GET /static/", s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})))
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.secure(h)) }
	page("GET /{$}", s.handleHome)
	page("GET /login", s.handleLoginForm)
	page("POST /login", s.handleLogin)
	page("GET /login/mfa", s.handleMFAForm)
	page("POST /login/mfa", s.handleMFA)
	page("POST /logout", s.handleLogout)

	authed := func(pattern string, h func(http.ResponseWriter, *http.Request, *visit)) {
		mux.Handle(pattern, s.secure(s.signedIn(h)))
	}
	authed("GET /admin", func(w http.ResponseWriter, r *http.Request, v *visit) {
		http.Redirect(w, r, "/admin/audit-logs", http.StatusSeeOther)
	})
	authed("GET /admin/audit-logs", s.handleAuditLogs)
	authed("GET /admin/audit-logs/export", s.handleExport)
	authed("GET /admin/audit-logs/{id}", s.handleEvent)
	authed("GET /admin/users", s.handleUsers)
	authed("POST /admin/users", s.handleCreateUser)
	authed("POST /admin/users/{id}/role", s.handleChangeRole)
	authed("POST /admin/users/{id}/password", s.handleResetPassword)
	authed("POST /admin/users/{id}/delete", s.handleDeleteUser)
	authed("GET /admin/api-keys", s.handleKeys)
	authed("POST /admin/api-keys", s.handleCreateKey)
	authed("POST /admin/api-keys/{id}/revoke", s.handleRevokeKey)
	authed("GET /admin/settings", s.handleSettings)
	authed("POST /admin/settings/retention", s.handleSetRetention)
	authed("POST /admin/settings/legal-hold", s.handleSetLegalHold)
	authed("GET /admin/settings/streams", s.handleStreams)
	authed("POST /admin/settings/streams", s.handleCreateStream)
	authed("GET /admin/settings/streams/{id}", s.handleStream)
	authed("POST /admin/settings/streams/{id}", s.handleUpdateStream)
	authed("POST /admin/settings/streams/{id}/delete", s.handleDeleteStream)
	authed("POST /admin/settings/streams/{id}/replay", s.handleReplayStream)
	authed("GET /admin/settings/alerts", s.handleAlerts)
	authed("GET /admin/settings/alerts/new", s.handleNewAlertRule)
	authed("POST /admin/settings/alerts", s.handleCreateAlertRule)
	authed("GET /admin/settings/alerts/{id}", s.handleAlertRule)
	authed("POST /admin/settings/alerts/{id}", s.handleUpdateAlertRule)
	authed("POST /admin/settings/alerts/{id}/enabled", s.handleToggleAlertRule)
	authed("POST /admin/settings/alerts/{id}/test", s.handleTestAlertRule)
	authed("POST /admin/settings/alerts/{id}/delete", s.handleDeleteAlertRule)
	authed("GET /admin/system", s.handleSystem)
	authed("GET /admin/accounts", s.handleAccounts)
	authed("POST /admin/accounts", s.handleCreateAccount)
	authed("GET /account", s.handleSecurity)
	authed("POST /account/password", s.handleChangePassword)
	authed("POST /account/mfa", s.handleEnrolMFA)
	authed("POST /account/mfa/disable", s.handleDisableMFA)
}

// Handler returns the console alone on its own mux (tests and embedding).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Routes(mux)
	return mux
}

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// secure sets the security headers, refuses cross-origin state changes,
// and ends a request that panics with the error page, alone: one event
// that trips a page must not take the console down for every account.
func (s *Server) secure(h http.Handler) http.Handler {
	protected := recovery.Handler(s.Logger, s.csrf.Handler(h), func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, nil, http.StatusInternalServerError, "Something went wrong",
			"The error was logged. Try again; if it persists, ask your operator to look at the server log.")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.TLS {
			hdr.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hdr.Set("Cache-Control", "no-store")
		}
		protected.ServeHTTP(w, r)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/admin/audit-logs", http.StatusSeeOther)
}

package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/recovery"
)

// visit is a signed-in request: the session, its user and account.
type visit struct {
	session *stele.Session
	token   string
	user    *stele.User
	account *stele.Account
	csrf    string
}

// can reports whether the visitor's role grants p.
func (v *visit) can(p stele.Permission) bool { return v.user.Role.Allows(p) }

// who is the signed-in user of the visit, as the actor of what the
// recorder records, at the request's address.
func (v *visit) who(r *http.Request) audit.Actor {
	return audit.User(v.user, clientIP(r), userAgent(r))
}

func (s *Server) cookieName() string {
	if s.TLS {
		return "__Host-stele_session"
	}
	return "stele_session"
}

// setSessionCookie sets the session cookie: HttpOnly, SameSite=Lax, Path=/,
// and under TLS Secure with the __Host- prefix (no Domain), so neither
// scripts nor sibling hosts can read or plant it.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true,
		Secure: s.TLS, SameSite: http.SameSiteLaxMode, MaxAge: int(AbsoluteTimeout / time.Second)})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", HttpOnly: true,
		Secure: s.TLS, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// csrfToken is the per-session token forms carry besides the browser's
// own Sec-Fetch-Site and Origin checks (http.CrossOriginProtection): it is
// derived from the session token, so it needs no storage and dies with it.
func csrfToken(token string) string {
	h := sha256.Sum256([]byte("stele console csrf\x00" + token))
	return hex.EncodeToString(h[:16])
}

// startSession creates a session for u and sets its cookie.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u *stele.User, mfaPending bool) error {
	token := rand.Text() + rand.Text()
	now := s.now().UTC().Truncate(stele.TimeUnit)
	sess := &stele.Session{TokenHash: tokenHash(token), UserID: u.ID, CreatedAt: now, LastSeenAt: now,
		MFAPending: mfaPending, IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 512)}
	if err := s.Sessions.CreateSession(ctx, sess); err != nil {
		return err
	}
	s.setSessionCookie(w, token)
	return nil
}

// session returns the request's live session and its token; nil if there
// is none or it has expired (an expired session is deleted and recorded).
func (s *Server) session(r *http.Request) (*stele.Session, string, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, "", nil
	}
	sess, err := s.Sessions.Session(r.Context(), tokenHash(c.Value))
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) > IdleTimeout || now.Sub(sess.CreatedAt) > AbsoluteTimeout {
		if err := s.Sessions.DeleteSession(r.Context(), sess.TokenHash); err != nil {
			return nil, "", err
		}
		if u, err := s.Users.User(r.Context(), sess.UserID); err == nil {
			reason := "idle"
			if now.Sub(sess.CreatedAt) > AbsoluteTimeout {
				reason = "absolute"
			}
			s.Audit.Log(s.Audit.SessionExpired(detached(r), audit.User(u, clientIP(r), userAgent(r)), u, reason))
		}
		return nil, "", nil
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		// Touch at most once a minute: the idle timeout needs no finer grain.
		if err := s.Sessions.TouchSession(r.Context(), sess.TokenHash, now); err != nil {
			return nil, "", err
		}
	}
	return sess, c.Value, nil
}

// signedIn passes requests with a complete session on, and sends others to
// /login with the page they wanted. State-changing requests must carry the
// session's CSRF token.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, *visit)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, token, err := s.session(r)
		if err != nil {
			s.serverError(w, r, nil, err)
			return
		}
		if sess == nil || sess.MFAPending {
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = ""
			}
			target := "/login"
			if next != "" && next != "/" {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		u, err := s.Users.User(r.Context(), sess.UserID)
		if err != nil {
			s.serverError(w, r, nil, err)
			return
		}
		acct, err := s.Accounts.Account(r.Context(), u.AccountID)
		if err != nil {
			s.serverError(w, r, nil, err)
			return
		}
		v := &visit{session: sess, token: token, user: u, account: acct, csrf: csrfToken(token)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(v.csrf)) != 1 {
				s.renderError(w, r, v, http.StatusForbidden, "This form has expired", "Reload the page and try again.")
				return
			}
		}
		h(w, r, v)
	})
}

// require answers 403 with the no-permission page, and records the
// attempt, unless the visitor holds p.
func (s *Server) require(w http.ResponseWriter, r *http.Request, v *visit, p stele.Permission) bool {
	if v.can(p) {
		return true
	}
	s.Audit.Log(s.Audit.Denied(detached(r), v.who(r), audit.Denial{Account: v.account.Name, Resource: audit.Page(r.URL.Path),
		Permission: string(p), Role: string(v.user.Role), Method: r.Method}))
	w.WriteHeader(http.StatusForbidden)
	s.render(w, r, v, "forbidden", map[string]any{"Permission": p, "Role": v.user.Role})
	return false
}

// detached is the request's context without its cancellation: what a
// visitor did is recorded even when they go away at once. A failure to
// record is logged (Recorder.Log), not shown: the visitor's action happened.
func detached(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

// userAgent is the request's User-Agent as the console records it.
func userAgent(r *http.Request) string { return truncate(r.UserAgent(), 1024) }

// clientIP is the peer address without its port. Behind a proxy this is
// the proxy; trusting X-Forwarded-For needs configuration that names the
// proxies, which arrives with deployment work.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// localPath returns next when it is a path on this site, else "".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return next
}

// ExpireSessions deletes expired sessions every interval until ctx ends.
// Expired sessions are refused anyway; this keeps the table small.
func (s *Server) ExpireSessions(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := s.now()
			err := recovery.Call(func() error {
				_, err := s.Sessions.DeleteSessionsBefore(ctx, now.Add(-AbsoluteTimeout), now.Add(-IdleTimeout))
				return err
			})
			if err != nil && ctx.Err() == nil {
				recovery.Log(s.Logger, slog.LevelWarn, "expire sessions", err)
			}
		}
	}
}

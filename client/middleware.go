package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// MiddlewareConfig says how Middleware reads a platform's requests. Every
// field is optional.
type MiddlewareConfig struct {
	// Tenant names the Stele account a request acts for; its latency is
	// counted for that account and its events recorded there (which takes
	// an operator key). Nil or "": the key's own account. A handler that
	// learns the tenant later calls SetTenant.
	Tenant func(*http.Request) string
	// Actor is who makes the request, when known before the handler
	// runs; a handler that authenticates calls SetActor.
	Actor func(*http.Request) *stele.Ref
	// ClientIP is the address of the caller: the host of RemoteAddr when
	// nil. Behind a proxy, read the header the proxy sets (and only that
	// proxy may set).
	ClientIP func(*http.Request) string
	// Route names a request's route for the latency figures: the
	// ServeMux pattern that matched when nil (never the raw path, which
	// holds ids), "unmatched" when none did.
	Route func(*http.Request) string
	// RequestIDHeader carries the request id ("X-Request-Id" when
	// empty); a request without one is given one, set on the response too.
	RequestIDHeader string
	// Interval is the window latency is aggregated over: a minute when 0.
	Interval time.Duration
}

// Middleware wraps a platform's HTTP handlers: it measures their response
// times per route and tenant, recorded each minute as one
// system.api_latency event per tenant (the shape of Stele's own), and lets
// handlers record events with the request's actor, ip, user agent and
// request id filled in (RecordRequest).
type Middleware struct {
	c   *Client
	cfg MiddlewareConfig

	mu      sync.Mutex
	start   time.Time
	routes  map[latencyKey]*window
	tenants map[string]*window

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type latencyKey struct{ tenant, route string }

// Middleware returns the middleware of the client; it records a window of
// latency every cfg.Interval until Close.
func (c *Client) Middleware(cfg MiddlewareConfig) *Middleware {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.RequestIDHeader == "" {
		cfg.RequestIDHeader = "X-Request-Id"
	}
	m := &Middleware{c: c, cfg: cfg, start: time.Now(), routes: map[latencyKey]*window{}, tenants: map[string]*window{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	return m
}

func (m *Middleware) loop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			if err := m.Flush(context.Background()); err != nil && m.c.rec.onError != nil {
				m.c.rec.onError(err)
			}
		}
	}
}

// Close stops the middleware's clock and records the window in progress.
// Close the Client after it, so that the window is sent.
func (m *Middleware) Close(ctx context.Context) error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return m.Flush(ctx)
}

// requestInfo is what the middleware knows of a request, for its handlers.
type requestInfo struct {
	m         *Middleware
	ip, ua    string
	requestID string

	mu     sync.Mutex
	tenant string
	actor  *stele.Ref
}

type requestKey struct{}

// Handler is the middleware: wrap the platform's mux with it.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{m: m, ua: r.UserAgent(), requestID: r.Header.Get(m.cfg.RequestIDHeader)}
		if len(info.ua) > stele.MaxTextLen {
			info.ua = strings.ToValidUTF8(info.ua[:stele.MaxTextLen], "")
		}
		if info.requestID == "" || len(info.requestID) > 128 {
			info.requestID = rand.Text()
			w.Header().Set(m.cfg.RequestIDHeader, info.requestID)
		}
		if m.cfg.ClientIP != nil {
			info.ip = m.cfg.ClientIP(r)
		} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			info.ip = host
		}
		if m.cfg.Tenant != nil {
			info.tenant = m.cfg.Tenant(r)
		}
		if m.cfg.Actor != nil {
			info.actor = m.cfg.Actor(r)
		}
		r = r.WithContext(context.WithValue(r.Context(), requestKey{}, info))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if m.cfg.Route != nil {
			route = m.cfg.Route(r)
		}
		if route == "" {
			route = "unmatched"
		}
		info.mu.Lock()
		tenant := info.tenant
		info.mu.Unlock()
		m.Observe(tenant, route, sw.status, time.Since(start))
	})
}

// Observe counts one request of tenant on route, answered with status
// after d. Handler calls it; call it for requests measured elsewhere.
func (m *Middleware) Observe(tenant, route string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := latencyKey{tenant, route}
	rw, ok := m.routes[k]
	if !ok {
		rw = &window{}
		m.routes[k] = rw
	}
	rw.add(d, status)
	tw, ok := m.tenants[tenant]
	if !ok {
		tw = &window{}
		m.tenants[tenant] = tw
	}
	tw.add(d, status)
}

// Flush ends the current window: it records one system.api_latency event
// per tenant that had requests, and starts the next window.
func (m *Middleware) Flush(ctx context.Context) error {
	now := time.Now()
	m.mu.Lock()
	start, routes, tenants := m.start, m.routes, m.tenants
	m.start, m.routes, m.tenants = now, map[latencyKey]*window{}, map[string]*window{}
	m.mu.Unlock()
	var errs []error
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		e := latencyEvent(tenant, start, now, tenants[tenant], routes)
		if err := m.c.Record(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("record system.api_latency of %q: %w", tenant, err))
		}
	}
	return errors.Join(errs...)
}

// maxRoutes bounds the routes broken down in one api_latency event.
const maxRoutes = 8

var latencyActor = &stele.Ref{Type: "system", ID: "api_latency", Name: "API latency middleware"}

// latencyEvent is the system.api_latency event of a tenant's window, in
// the shape of Stele's own: the tenant's figures, then requests, errors
// and p95 of its busiest routes under the route's slug. It, routeSlug and
// statusWriter mirror internal/metrics/collector.go deliberately (the
// client imports nothing internal); internal/api/client_mirror_test.go holds
// them equal.
func latencyEvent(tenant string, start, now time.Time, tw *window, routes map[latencyKey]*window) stele.Event {
	s := tw.summary()
	meta := map[string]any{
		"window_start": start.UTC().Format(time.RFC3339Nano), "window_seconds": seconds(now.Sub(start)),
		"requests": s.count, "errors": s.errors, "client_errors": s.clientErrors,
		"p50_ms": ms(s.p50), "p95_ms": ms(s.p95), "p99_ms": ms(s.p99), "max_ms": ms(s.max),
	}
	var ks []latencyKey
	for k := range routes {
		if k.tenant == tenant {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b latencyKey) int { // busiest first
		if d := routes[b].count - routes[a].count; d != 0 {
			return int(d)
		}
		return strings.Compare(a.route, b.route)
	})
	for _, k := range ks[:min(len(ks), maxRoutes)] {
		rs := routes[k].summary()
		slug := routeSlug(k.route)
		meta[slug+".requests"] = rs.count
		meta[slug+".errors"] = rs.errors
		meta[slug+".p95_ms"] = ms(rs.p95)
	}
	return stele.Event{Account: tenant, Action: "system.api_latency", Category: stele.CategorySystem,
		Outcome: stele.OutcomeSuccess, Time: now, Actor: latencyActor,
		Description: fmt.Sprintf("%d API requests in the minute, %d errors; p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", s.count, s.errors, ms(s.p50), ms(s.p95), ms(s.p99)),
		Metadata:    meta}
}

// routeSlug turns "GET /v1/things/{id}" into "get_v1_things_id".
func routeSlug(route string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(route) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// ErrNoRequest is returned by RecordRequest outside the middleware.
var ErrNoRequest = errors.New("stele client: the context is not a request's under Middleware")

// SetTenant names the tenant (Stele account) of the request whose context
// ctx is, once the handler knows it.
func SetTenant(ctx context.Context, tenant string) {
	if info, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.tenant = tenant
		info.mu.Unlock()
	}
}

// SetActor names who makes the request whose context ctx is, once the
// handler knows it.
func SetActor(ctx context.Context, actor stele.Ref) {
	if info, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.actor = &actor
		info.mu.Unlock()
	}
}

// RecordRequest records e from a handler under Middleware, with what the
// event leaves empty taken from the request: its actor, ip, user agent,
// request id and tenant. It returns ErrNoRequest for a context that is not
// a request's under Middleware.
func RecordRequest(ctx context.Context, e stele.Event) error {
	info, ok := ctx.Value(requestKey{}).(*requestInfo)
	if !ok {
		return ErrNoRequest
	}
	info.mu.Lock()
	if e.Actor == nil && info.actor != nil {
		a := *info.actor
		e.Actor = &a
	}
	if e.Account == "" {
		e.Account = info.tenant
	}
	info.mu.Unlock()
	if e.IP == "" {
		e.IP = info.ip
	}
	if e.UserAgent == "" {
		e.UserAgent = info.ua
	}
	if e.RequestID == "" {
		e.RequestID = info.requestID
	}
	return info.m.c.Record(ctx, e)
}

// statusWriter mirrors internal/metrics/collector.go's deliberately; see
// latencyEvent.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

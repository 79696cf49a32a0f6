package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
)

// Recorder stores Stele's own events (ingest.Service does).
type Recorder interface {
	Record(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error)
}

// Config wires a Collector to what it measures.
type Config struct {
	Recorder Recorder
	// StoreSize returns the bytes the store occupies (sqlite.DB.Size).
	StoreSize func(ctx context.Context) (int64, error)
	// Ingested returns the events committed since start (ingest.Writer.Committed).
	Ingested func() int64
	// Commits returns the transactions that carried them (ingest.Writer.Commits).
	Commits func() int64
	// Throttled returns what the ingest quotas refused since start
	// (ingest.Quotas.Refusals).
	Throttled func() []Throttled
	Logger    *slog.Logger
	Now       func() time.Time // time.Now when nil

	// Streams returns the figures of the streams this node runs
	// (stream.Forwarder.Figures).
	Streams func() []StreamFigure

	// Reads returns what the record of reads of the log did since start
	// (audit.Reads.Figures).
	Reads func() ReadFigures

	// Collectors are registered as they are: the histograms that a hot
	// path fills itself (ingest.Writer.Collectors).
	Collectors []prometheus.Collector
}

// ReadFigures are the counts of audit.Reads: reads recorded, covered by
// an earlier record of the same read, dropped for a full queue, and
// refused by the store.
type ReadFigures struct {
	Recorded  int64
	Coalesced int64
	Dropped   int64
	Failed    int64
}

type key struct{ account, route string }

// Collector measures API requests and the process, and records both each minute.
type Collector struct {
	cfg   Config
	reg   *prometheus.Registry
	conns atomic.Int64

	reqs      *prometheus.CounterVec
	durations *prometheus.HistogramVec
	latency   *prometheus.GaugeVec
	rate      prometheus.Gauge

	mu       sync.Mutex
	rng      *rand.Rand
	start    time.Time // of the current window
	routes   map[key]*window
	accounts map[string]*window
	prev     usageSample
}

// New returns a Collector whose window starts now.
func New(cfg Config) *Collector {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{cfg: cfg, reg: prometheus.NewRegistry(), rng: rand.New(rand.NewPCG(1, 2)),
		routes: map[key]*window{}, accounts: map[string]*window{}}
	c.start = cfg.Now()
	c.prev = c.sample(context.Background())
	c.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stele_http_requests_total",
		Help: "API requests by account, route and status code."}, []string{"account", "route", "code"})
	c.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stele_http_request_duration_seconds",
		Help: "API response times by account and route.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
		[]string{"account", "route"})
	c.latency = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stele_api_latency_last_minute_seconds",
		Help: "API response time quantiles of the last complete minute, per account (as recorded in system.api_latency)."},
		[]string{"account", "quantile"})
	c.rate = prometheus.NewGauge(prometheus.GaugeOpts{Name: "stele_ingest_events_per_second",
		Help: "Events committed per second over the last complete minute."})
	c.reg.MustRegister(c.reqs, c.durations, c.latency, c.rate,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stele_open_connections", Help: "Open HTTP connections."},
			func() float64 { return float64(c.conns.Load()) }))
	if cfg.Ingested != nil {
		c.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stele_ingested_events_total",
			Help: "Events committed since start."}, func() float64 { return float64(cfg.Ingested()) }))
	}
	if cfg.Commits != nil {
		c.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stele_ingest_commits_total",
			Help: "Ingest transactions committed since start; events divided by commits is the mean group-commit size."},
			func() float64 { return float64(cfg.Commits()) }))
	}
	if cfg.Throttled != nil {
		c.reg.MustRegister(newThrottledCollector(cfg.Throttled))
	}
	c.reg.MustRegister(cfg.Collectors...)
	if cfg.Streams != nil {
		c.reg.MustRegister(newStreamCollector(cfg.Streams))
	}
	if cfg.Reads != nil {
		for _, f := range []struct {
			name, help string
			of         func(ReadFigures) int64
		}{
			{"stele_audit_reads_recorded_total", "Reads of the log recorded as audit_log.viewed.", func(f ReadFigures) int64 { return f.Recorded }},
			{"stele_audit_reads_coalesced_total", "Reads of the log covered by a record of the same read less than its window ago.", func(f ReadFigures) int64 { return f.Coalesced }},
			{"stele_audit_reads_dropped_total", "Reads of the log not recorded because the queue to the ingest path was full.", func(f ReadFigures) int64 { return f.Dropped }},
			{"stele_audit_reads_failed_total", "Reads of the log whose record the store refused (logged).", func(f ReadFigures) int64 { return f.Failed }},
		} {
			c.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: f.name, Help: f.help},
				func() float64 { return float64(f.of(cfg.Reads())) }))
		}
	}
	if cfg.StoreSize != nil {
		c.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stele_store_size_bytes",
			Help: "Bytes the store occupies."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, err := cfg.StoreSize(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return c
}

// Handler serves the Prometheus exposition of the private registry. With
// a token, a scrape must carry it ("Authorization: Bearer <token>", as
// Prometheus sends its authorization credentials); the exposition names
// accounts and their traffic.
func (c *Collector) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg})
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Hashing first makes the comparison's time independent of the
		// lengths too.
		if sum := sha256.Sum256([]byte(strings.TrimSpace(got))); !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stele-metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"the metrics token is required: Authorization: Bearer <token>","details":[]}}`+"\n")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ConnState counts open connections; set it as http.Server.ConnState.
func (c *Collector) ConnState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.conns.Add(-1)
	}
}

type holderKey struct{}

type holder struct{ account atomic.Pointer[string] }

// SetAccount names the account a request acts for, once authenticated, so
// that its response time is counted for that account. Requests that never
// name one are counted in Prometheus only.
func SetAccount(ctx context.Context, account string) {
	if h, ok := ctx.Value(holderKey{}).(*holder); ok {
		h.account.Store(&account)
	}
}

// Middleware measures every request that passes through it. The route is
// the ServeMux pattern that matched, never the raw path (which holds ids).
func (c *Collector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := &holder{}
		r = r.WithContext(context.WithValue(r.Context(), holderKey{}, h))
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		account := ""
		if p := h.account.Load(); p != nil {
			account = *p
		}
		c.Observe(account, route, rec.status, time.Since(start))
	})
}

// Observe counts one request.
func (c *Collector) Observe(account, route string, status int, d time.Duration) {
	c.reqs.WithLabelValues(account, route, fmt.Sprint(status)).Inc()
	c.durations.WithLabelValues(account, route).Observe(d.Seconds())
	if account == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{account, route}
	rw, ok := c.routes[k]
	if !ok {
		rw = &window{}
		c.routes[k] = rw
	}
	rw.add(d, status, c.rng)
	aw, ok := c.accounts[account]
	if !ok {
		aw = &window{}
		c.accounts[account] = aw
	}
	aw.add(d, status, c.rng)
}

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

// maxRoutes bounds the routes broken down in one api_latency event.
const maxRoutes = 8

// Flush ends the current window: it records one system.api_latency event
// per account that had requests and one system.resource_usage event in
// _system, and starts the next window.
func (c *Collector) Flush(ctx context.Context) error {
	now := c.cfg.Now()
	c.mu.Lock()
	start, routes, accounts := c.start, c.routes, c.accounts
	c.start, c.routes, c.accounts = now, map[key]*window{}, map[string]*window{}
	c.mu.Unlock()

	c.latency.Reset()
	var events []stele.Event
	for _, name := range slices.Sorted(maps.Keys(accounts)) {
		s := accounts[name].summary()
		meta := map[string]any{
			"window_start": start.UTC().Format(time.RFC3339Nano), "window_seconds": seconds(now.Sub(start)),
			"requests": s.Count, "errors": s.Errors, "client_errors": s.ClientErrors,
			"p50_ms": ms(s.P50), "p95_ms": ms(s.P95), "p99_ms": ms(s.P99), "max_ms": ms(s.Max),
		}
		for _, q := range []struct {
			name string
			d    time.Duration
		}{{"0.5", s.P50}, {"0.95", s.P95}, {"0.99", s.P99}} {
			c.latency.WithLabelValues(name, q.name).Set(q.d.Seconds())
		}
		var rs []key
		for k := range routes {
			if k.account == name {
				rs = append(rs, k)
			}
		}
		slices.SortFunc(rs, func(a, b key) int { // busiest first
			if d := routes[b].count - routes[a].count; d != 0 {
				return int(d)
			}
			return strings.Compare(a.route, b.route)
		})
		for _, k := range rs[:min(len(rs), maxRoutes)] {
			rsum := routes[k].summary()
			slug := routeSlug(k.route)
			meta[slug+".requests"] = rsum.Count
			meta[slug+".errors"] = rsum.Errors
			meta[slug+".p95_ms"] = ms(rsum.P95)
		}
		events = append(events, stele.Event{Account: name, Action: "system.api_latency", Category: stele.CategorySystem,
			Outcome: stele.OutcomeSuccess, Time: now, Actor: systemActor,
			Description: fmt.Sprintf("%d API requests in the minute, %d errors; p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", s.Count, s.Errors, ms(s.P50), ms(s.P95), ms(s.P99)),
			Metadata:    meta})
	}
	events = append(events, c.resourceEvent(ctx, start, now))
	if c.cfg.Recorder == nil {
		return nil
	}
	var errs []error
	// One Record call per event: an account deleted meanwhile must not
	// take the others' events down with it.
	for _, e := range events {
		if _, err := c.cfg.Recorder.Record(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("record %s for %s: %w", e.Action, e.Account, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("metrics: %w", errs[0])
	}
	return nil
}

// Loop flushes once a minute until ctx is done. A flush that fails or
// panics is logged; the next minute is recorded all the same.
func (c *Collector) Loop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := recovery.Call(func() error { return c.Flush(ctx) }); err != nil && ctx.Err() == nil {
				recovery.Log(c.cfg.Logger, slog.LevelWarn, "record metrics", err)
			}
		}
	}
}

var systemActor = &stele.Ref{Type: "system", ID: "stele:metrics", Name: "Stele metrics"}

// routeSlug turns "GET /v1/events/{id}" into "get_v1_events_id".
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

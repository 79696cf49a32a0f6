// Package loadgen drives a Stele server's ingest API with realistic events
// from the demo generator and reports throughput and request latency.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/demo"
)

// Config says where and how hard to push.
type Config struct {
	URL         string // the server's base URL; events go to URL + "/v1/events"
	Key         string // an API key with the events:write scope
	Concurrency int    // requests in flight
	Batch       int    // events per request; 1 sends single-event requests
	Duration    time.Duration
	// Accounts, with an operator key, spreads events over these accounts,
	// round-robin. Empty writes to the key's own account.
	Accounts []string
	Out      io.Writer // progress and the final report go here
	// TLS, for an https URL, replaces the default configuration (the
	// system's roots), e.g. to trust a private CA.
	TLS *tls.Config
}

// Result sums up a run. Latencies are per request.
type Result struct {
	Events, Requests, Errors int64
	Elapsed                  time.Duration
	EventsPerSec             float64
	P50, P95, P99, Max       time.Duration
}

// bodyPool is how many different bodies each worker cycles through.
const bodyPool = 16

// progressEvery is how often Run prints a progress line.
const progressEvery = 5 * time.Second

// Run sends events until cfg.Duration has passed or ctx is done, then prints
// and returns the result. It returns an error, without a load test, when the
// first request is refused with a 4xx (a bad key, a missing scope) or the
// server cannot be reached.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := check(&cfg); err != nil {
		return Result{}, err
	}
	t, err := newTarget(cfg.URL, cfg.TLS)
	if err != nil {
		return Result{}, err
	}
	r := &runner{cfg: cfg, url: cfg.URL + "/v1/events", target: t}
	// One request first, so that a bad key or URL is reported plainly rather
	// than as thousands of errors. Worker 0 goes on on its connection.
	first, err := r.worker()
	if err != nil {
		return Result{}, err
	}
	fmt.Fprintf(cfg.Out, "Sending %d-event requests to %s with %d workers for %s\n", cfg.Batch, r.url, cfg.Concurrency, cfg.Duration)

	bodies, err := r.bodies(0)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := r.probe(ctx, first.api, bodies[0]); err != nil {
		first.conn.close()
		return Result{}, err
	}

	stop, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancel()
	samples := make([][]time.Duration, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			pool, wk := bodies, first
			if w > 0 {
				var err error
				if wk, err = r.worker(); err == nil {
					pool, err = r.bodies(w)
				}
				if err != nil {
					r.fail(err)
					cancel()
					return
				}
			}
			samples[w] = r.work(ctx, stop, wk.api, pool)
			wk.conn.close()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r.report(start, done)

	res := Result{Events: r.events.Load(), Requests: r.requests.Load(), Errors: r.errors.Load(), Elapsed: time.Since(start)}
	var all []time.Duration
	all = append(all, r.probeLatency)
	for _, s := range samples {
		all = append(all, s...)
	}
	res.P50, res.P95, res.P99, res.Max = percentiles(all)
	if res.Elapsed > 0 {
		res.EventsPerSec = float64(res.Events) / res.Elapsed.Seconds()
	}
	r.printResult(res)
	return res, r.setupErr
}

func check(cfg *Config) error {
	if cfg.URL == "" {
		return errors.New("loadgen: no URL")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Concurrency < 1 {
		cfg.Concurrency = 1
	}
	if cfg.Batch < 1 {
		cfg.Batch = 1
	}
	if cfg.Batch > 1000 {
		return fmt.Errorf("loadgen: batch %d is above the server's limit of 1000", cfg.Batch)
	}
	if cfg.Duration <= 0 {
		return errors.New("loadgen: duration must be positive")
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	return nil
}

type runner struct {
	cfg    Config
	url    string
	target *target
	hist   histogram

	events, requests, errors atomic.Int64
	probeLatency             time.Duration

	outMu     sync.Mutex
	firstErr  sync.Once
	setupMu   sync.Mutex
	setupErr  error
	accountRR atomic.Uint64
}

func (r *runner) printf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.cfg.Out, format, args...)
}

func (r *runner) fail(err error) {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	if r.setupErr == nil {
		r.setupErr = err
	}
}

// bodies returns worker w's pool of request bodies. They are built once (the
// server stores duplicates as new events, since they carry no idempotency
// key) and their times set at each send.
func (r *runner) bodies(w int) ([]*body, error) {
	now := time.Now()
	gen := demo.New(now.UnixNano()+int64(w), now.Add(-time.Hour), now)
	out := make([]*body, bodyPool)
	events := make([]input, r.cfg.Batch)
	for i := range out {
		for j := range events {
			account := ""
			if n := len(r.cfg.Accounts); n > 0 {
				account = r.cfg.Accounts[r.accountRR.Add(1)%uint64(n)]
			}
			world := account
			if world == "" {
				world = "acme"
			}
			e := gen.Next(world, now.Add(-time.Duration(bodyPool*r.cfg.Batch-i*r.cfg.Batch-j)*time.Millisecond))
			events[j] = inputOf(&e, account)
		}
		b, err := encodeBody(events)
		if err != nil {
			return nil, fmt.Errorf("loadgen: encode events: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// worker is one worker's connection, and the client that sends on it.
type worker struct {
	conn *conn
	api  *client.Client
}

func (r *runner) worker() (worker, error) {
	c := &conn{t: r.target}
	api, err := client.New(r.cfg.URL, r.cfg.Key, client.WithTransport(c), client.WithUserAgent("stele-loadgen"))
	if err != nil {
		return worker{}, fmt.Errorf("loadgen: %w", err)
	}
	return worker{conn: c, api: api}, nil
}

// send posts one body and returns how many events the server stored, and
// the latency.
func (r *runner) send(ctx context.Context, api *client.Client, b *body) (int, time.Duration, error) {
	b.stamp(time.Now())
	start := time.Now()
	receipts, err := api.SendRaw(ctx, b.b)
	return len(receipts), time.Since(start), err
}

func (r *runner) probe(ctx context.Context, api *client.Client, b *body) error {
	stored, lat, err := r.send(ctx, api, b)
	var status *client.StatusError
	if err != nil && !errors.As(err, &status) {
		return fmt.Errorf("loadgen: first request: %w", err)
	}
	r.probeLatency = lat
	r.requests.Add(1)
	r.hist.record(lat)
	switch {
	case err == nil:
		r.events.Add(int64(stored))
	case status.StatusCode >= 400 && status.StatusCode < 500:
		return fmt.Errorf("loadgen: first request refused: %w", err)
	default:
		r.errors.Add(1)
		r.firstError(err)
	}
	return nil
}

// work sends requests until stop is done and returns their latencies. A
// request in flight when the run ends is let finish, so that the counts match
// what the server stored; only ctx (the caller giving up) cuts one short.
func (r *runner) work(ctx, stop context.Context, api *client.Client, bodies []*body) []time.Duration {
	samples := make([]time.Duration, 0, 4096)
	for i := 0; stop.Err() == nil; i++ {
		stored, lat, err := r.send(ctx, api, bodies[i%len(bodies)])
		if ctx.Err() != nil {
			break
		}
		r.requests.Add(1)
		var status *client.StatusError
		if err == nil || errors.As(err, &status) { // the server answered
			samples = append(samples, lat)
			r.hist.record(lat)
		}
		if err != nil {
			r.errors.Add(1)
			r.firstError(err)
			continue
		}
		r.events.Add(int64(stored))
	}
	return samples
}

func (r *runner) firstError(err error) {
	r.firstErr.Do(func() { r.printf("  first error: %v\n", err) })
}

// Package loadgen drives a Stele server's ingest API with realistic events
// from the demo generator and reports throughput and request latency.
package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/leader"
)

// Config says where and how hard to push.
type Config struct {
	URL         string // the server's base URL; events go to URL + "/v1/events"
	Key         string // an API key with the events:write scope
	Concurrency int    // requests in flight
	Batch       int    // events per request; 1 sends single-event requests
	Duration    time.Duration
	// Rate, when positive, sends that many requests a second on a fixed
	// schedule, whatever the server's pace (an open loop): a request that
	// waits for a free worker because the server fell behind is timed from
	// its slot, counting the wait, as its producer would see it. Zero sends
	// as fast as the workers get answers.
	Rate float64
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
	pace := "as fast as the server answers"
	if cfg.Rate > 0 {
		pace = fmt.Sprintf("at %s requests/s (a request late for its slot timed from the slot)", strconv.FormatFloat(cfg.Rate, 'f', -1, 64))
	}
	fmt.Fprintf(cfg.Out, "Sending %d-event requests to %s with %d workers for %s, %s\n", cfg.Batch, r.url, cfg.Concurrency, cfg.Duration, pace)

	bodies, err := r.bodies(0)
	if err != nil {
		return Result{}, err
	}
	if err := r.probe(ctx, first.api, bodies[0]); err != nil {
		first.conn.close()
		return Result{}, err
	}
	// Every worker is ready before the clock starts, so that neither the
	// rate nor a schedule's first slots count the time it takes to build
	// the bodies.
	workers, pools := make([]worker, cfg.Concurrency), make([][]*body, cfg.Concurrency)
	workers[0], pools[0] = first, bodies
	errs := make([]error, cfg.Concurrency)
	var ready sync.WaitGroup
	for w := 1; w < cfg.Concurrency; w++ {
		ready.Go(func() {
			if workers[w], errs[w] = r.worker(); errs[w] == nil {
				pools[w], errs[w] = r.bodies(w)
			}
		})
	}
	ready.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, wk := range workers {
			if wk.conn != nil {
				wk.conn.close()
			}
		}
		return Result{}, err
	}

	start := time.Now()
	if cfg.Rate > 0 {
		// A rate below one request a run still sends slot 0; the gap is
		// capped so that it cannot overflow.
		every := time.Duration(min(float64(time.Second)/cfg.Rate, float64(cfg.Duration)))
		r.sched = &schedule{start: start, every: every, end: start.Add(cfg.Duration)}
	}
	stop, cancel := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer cancel()
	samples := make([][]time.Duration, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Go(func() {
			samples[w] = r.work(ctx, stop, workers[w].api, pools[w])
			workers[w].conn.close()
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
	return res, nil
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
	if cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate > MaxRate {
		return fmt.Errorf("loadgen: rate %v is not a number of requests a second from 0 (as fast as answered) to %d", cfg.Rate, MaxRate)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	return nil
}

// MaxRate is the highest Rate: a slot every microsecond.
const MaxRate = 1_000_000

// schedule is an open loop's: slot k is due at start + k×every, and the
// slots from end on are not sent.
type schedule struct {
	start, end time.Time
	every      time.Duration
	next       atomic.Int64
}

// claim returns the next slot's time, or false once the slots have run out.
func (s *schedule) claim() (time.Time, bool) {
	due := s.start.Add(time.Duration(s.next.Add(1)-1) * s.every)
	return due, due.Before(s.end)
}

type runner struct {
	cfg    Config
	url    string
	target *target
	hist   histogram
	sched  *schedule // nil: a closed loop

	events, requests, errors atomic.Int64
	probeLatency             time.Duration

	outMu     sync.Mutex
	firstErr  sync.Once
	accountRR atomic.Uint64
}

func (r *runner) printf(format string, args ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintf(r.cfg.Out, format, args...)
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
//
// On a schedule each request waits for its slot. A worker that reaches its
// slot late (every worker was waiting for the server) times the request
// from the slot, not from when it got to it; one that sleeps until its slot
// times it from its send, so that its own wake-up (timers fire up to a
// millisecond late) is not counted as the server's.
func (r *runner) work(ctx, stop context.Context, api *client.Client, bodies []*body) []time.Duration {
	samples := make([]time.Duration, 0, 4096)
	for i := 0; stop.Err() == nil; i++ {
		var due time.Time
		late := false
		if r.sched != nil {
			var ok bool
			if due, ok = r.sched.claim(); !ok {
				break
			}
			if late = !time.Now().Before(due); !late && !leader.Sleep(stop, time.Until(due)) {
				break
			}
		}
		stored, lat, err := r.send(ctx, api, bodies[i%len(bodies)])
		if ctx.Err() != nil {
			break
		}
		if late {
			lat = time.Since(due)
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

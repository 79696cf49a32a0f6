package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// accepted mirrors the fields internal/ingest decodes, so that decoding
// with DisallowUnknownFields fails on anything the server would reject.
type accepted struct {
	Account        string          `json:"account"`
	Time           string          `json:"time"`
	Action         string          `json:"action"`
	Category       string          `json:"category"`
	Outcome        string          `json:"outcome"`
	Actor          *stele.Ref      `json:"actor"`
	Target         *ref            `json:"target"`
	Source         *ref            `json:"source"`
	IP             string          `json:"ip"`
	UserAgent      string          `json:"user_agent"`
	RequestID      string          `json:"request_id"`
	Description    string          `json:"description"`
	Metadata       json.RawMessage `json:"metadata"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// ingestServer is a stand-in for Stele's POST /v1/events.
type ingestServer struct {
	t                *testing.T
	events, requests atomic.Int64
	batches, singles atomic.Int64
	// stale counts events whose time is not within maxAge before their
	// request arrived, unordered those not after the one before them.
	stale, unordered atomic.Int64
	conns            atomic.Int64  // connections opened
	closeEach        bool          // answer with Connection: close
	delay            time.Duration // before each answer
	mu               sync.Mutex
	accounts         map[string]int
}

func (s *ingestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		s.t.Errorf(format, args...)
		http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/events" {
		fail("%s %s, want POST /v1/events", r.Method, r.URL.Path)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer sk_test" {
		fail("authorization %q", got)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		fail("content type %q", got)
		return
	}
	var body struct {
		Events []json.RawMessage `json:"events"`
	}
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(r.Body); err != nil {
		fail("read body: %v", err)
		return
	}
	if err := json.Unmarshal(raw.Bytes(), &body); err != nil {
		fail("decode body: %v", err)
		return
	}
	if body.Events == nil {
		s.singles.Add(1)
		body.Events = []json.RawMessage{raw.Bytes()}
	} else {
		s.batches.Add(1)
	}
	arrived := time.Now()
	var prev time.Time
	receipts := make([]stele.Receipt, len(body.Events))
	for i, ev := range body.Events {
		dec := json.NewDecoder(bytes.NewReader(ev))
		dec.DisallowUnknownFields()
		var in accepted
		if err := dec.Decode(&in); err != nil {
			fail("event %d: %v", i, err)
			return
		}
		if in.Action == "" || in.Time == "" || in.IdempotencyKey != "" {
			fail("event %d: action %q time %q idempotency key %q", i, in.Action, in.Time, in.IdempotencyKey)
			return
		}
		at, err := time.Parse(time.RFC3339Nano, in.Time)
		if err != nil {
			fail("event %d: time: %v", i, err)
			return
		}
		if at.After(arrived) || arrived.Sub(at) > maxAge {
			s.stale.Add(1)
		}
		if !at.After(prev) {
			s.unordered.Add(1)
		}
		prev = at
		s.mu.Lock()
		s.accounts[in.Account]++
		s.mu.Unlock()
		receipts[i] = stele.Receipt{ID: "evt_" + fmt.Sprint(i), Seq: s.events.Add(1), Account: in.Account}
	}
	s.requests.Add(1)
	time.Sleep(s.delay)
	if s.closeEach {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"events": receipts})
}

// maxAge is how old an event's time may be when its request arrives: the
// loader stamps events as it sends them, as a producer reporting what just
// happened does (replaying a body's first times would be seconds old).
// It is far below the run's length, so a replayed body shows, and far above
// what a loaded machine (CI with -race on two cores) takes to send one.
const maxAge = time.Second

func newIngestServer(t *testing.T) (*ingestServer, *httptest.Server) {
	t.Helper()
	s, srv := unstartedIngestServer(t)
	srv.Start()
	return s, srv
}

func unstartedIngestServer(t *testing.T) (*ingestServer, *httptest.Server) {
	t.Helper()
	s := &ingestServer{t: t, accounts: map[string]int{}}
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	t.Cleanup(srv.Close)
	return s, srv
}

func TestRunCountsWhatTheServerAccepted(t *testing.T) {
	s, srv := newIngestServer(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{URL: srv.URL + "/", Key: "sk_test", Concurrency: 4, Batch: 50, Duration: 2 * time.Second, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != s.events.Load() || res.Requests != s.requests.Load() || res.Events != 50*res.Requests {
		t.Errorf("result %d events in %d requests, server saw %d in %d", res.Events, res.Requests, s.events.Load(), s.requests.Load())
	}
	if res.Errors != 0 || res.Requests == 0 || s.singles.Load() != 0 {
		t.Errorf("errors %d, requests %d, single-event requests %d", res.Errors, res.Requests, s.singles.Load())
	}
	if res.P50 <= 0 || res.P50 > res.P95 || res.P95 > res.P99 || res.P99 > res.Max || res.EventsPerSec <= 0 {
		t.Errorf("implausible figures %+v", res)
	}
	if s.stale.Load() != 0 || s.unordered.Load() != 0 {
		t.Errorf("%d events with a time more than %s before their request or after it, %d not after the event before them",
			s.stale.Load(), maxAge, s.unordered.Load())
	}
	if acct := s.accounts; len(acct) != 1 || acct[""] == 0 {
		t.Errorf("accounts %v, want only the key's own", acct)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"events", "requests", "errors", "events/s", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunKeepsOneConnectionPerWorker(t *testing.T) {
	s, srv := newIngestServer(t)
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 3, Batch: 5, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 6 || s.conns.Load() != 3 {
		t.Errorf("%d requests on %d connections, want 3 connections (the probe's goes on as worker 0's)", res.Requests, s.conns.Load())
	}
}

func TestRunDialsAgainWhenTheServerClosesTheConnection(t *testing.T) {
	s, srv := unstartedIngestServer(t)
	s.closeEach = true
	srv.Start()
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 2, Batch: 5, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Requests < 4 || res.Events != s.events.Load() || s.conns.Load() != res.Requests {
		t.Errorf("%+v; the server saw %d events on %d connections", res, s.events.Load(), s.conns.Load())
	}
}

func TestRunOverHTTPS(t *testing.T) {
	s, srv := unstartedIngestServer(t)
	srv.StartTLS()
	// The test server's certificate is no system root: refused plainly.
	_, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 1, Batch: 1, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 2, Batch: 5, Duration: 200 * time.Millisecond,
		TLS: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || res.Events == 0 || res.Events != s.events.Load() {
		t.Errorf("%+v; the server saw %d events", res, s.events.Load())
	}
}

func TestRunSendsSingleEventsWhenBatchIsOne(t *testing.T) {
	s, srv := newIngestServer(t)
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 2, Batch: 1, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.batches.Load() != 0 || s.singles.Load() == 0 || res.Events != s.singles.Load() {
		t.Errorf("%d batches, %d single events; result %d events", s.batches.Load(), s.singles.Load(), res.Events)
	}
}

func TestRunSpreadsEventsOverAccounts(t *testing.T) {
	s, srv := newIngestServer(t)
	_, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 2, Batch: 10, Duration: 200 * time.Millisecond,
		Accounts: []string{"acme", "globex", "newco"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.accounts) != 3 || s.accounts["acme"] == 0 || s.accounts["globex"] == 0 || s.accounts["newco"] == 0 {
		t.Errorf("accounts %v", s.accounts)
	}
}

func TestRunReportsARefusedKey(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"invalid API key"}}`))
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Config{URL: srv.URL, Key: "bad", Concurrency: 8, Batch: 100, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "invalid API key") {
		t.Fatalf("err = %v, want the 401 and the server's message", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests after a refusal, want 1", n)
	}
}

func TestRunCountsServerErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, `{"error":{"code":"unavailable","message":"busy"}}`, http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"events":[{"id":"a"},{"id":"b"},{"id":"c"},{"id":"d"},{"id":"e"}]}`))
	}))
	defer srv.Close()
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "k", Concurrency: 2, Batch: 5, Duration: 200 * time.Millisecond, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.Events != 5*(res.Requests-res.Errors) {
		t.Errorf("%+v", res)
	}
	if c := strings.Count(out.String(), "first error"); c != 1 || !strings.Contains(out.String(), "503") {
		t.Errorf("first error printed %d times:\n%s", c, out.String())
	}
}

func TestQuantileOfHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	p99 := quantile(h.snapshot(), nil, 0.99)
	if p99 < 95*time.Millisecond || p99 > 105*time.Millisecond {
		t.Errorf("p99 = %s, want about 99ms", p99)
	}
}

// TestRunOnAScheduleSendsAtTheRate: with a rate, requests go out on the
// schedule however fast the server answers, and none after the run.
func TestRunOnAScheduleSendsAtTheRate(t *testing.T) {
	s, srv := newIngestServer(t)
	var out bytes.Buffer
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 4, Batch: 1, Duration: time.Second, Rate: 100, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	// The probe, then at most the schedule's 100 slots (a slot a loaded
	// machine reaches after the run's end is not sent).
	if res.Requests > 101 || res.Requests < 51 || res.Requests != s.requests.Load() {
		t.Errorf("%d requests (server: %d) in a second at 100 a second", res.Requests, s.requests.Load())
	}
	if !strings.Contains(out.String(), "at 100 requests/s") {
		t.Errorf("the report does not say the rate:\n%s", out.String())
	}
}

// TestRunOnAScheduleCountsTheWaitForAFreeWorker: a server slower than the
// rate shows in the latency, which runs from each request's slot. One
// worker, slots every 20 ms, answers after 50 ms: the i-th request on the
// schedule leaves at least i×50 ms in, for a slot at i×20 ms.
func TestRunOnAScheduleCountsTheWaitForAFreeWorker(t *testing.T) {
	s, srv := newIngestServer(t)
	s.delay = 50 * time.Millisecond
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 1, Batch: 1, Duration: time.Second, Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	onSchedule := res.Requests - 1 // the probe's
	if onSchedule < 3 {
		t.Fatalf("only %d requests on the schedule", onSchedule)
	}
	if want := time.Duration(onSchedule-1) * 30 * time.Millisecond; res.Max < want {
		t.Errorf("max latency %s over %d requests, want at least %s: the wait for the worker is not counted", res.Max, onSchedule, want)
	}
	if res.P50 < s.delay {
		t.Errorf("p50 %s, below the server's own %s", res.P50, s.delay)
	}
}

// TestRunOnAScheduleSlowerThanTheRun sends the first slot only.
func TestRunOnAScheduleSlowerThanTheRun(t *testing.T) {
	s, srv := newIngestServer(t)
	res, err := Run(context.Background(), Config{URL: srv.URL, Key: "sk_test", Concurrency: 2, Batch: 1, Duration: 200 * time.Millisecond, Rate: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 2 || s.requests.Load() != 2 { // the probe and slot 0
		t.Errorf("%d requests (server: %d), want the probe and one on the schedule", res.Requests, s.requests.Load())
	}
}

func TestCheckRefusesARateThatIsNoRate(t *testing.T) {
	for _, rate := range []float64{-1, math.NaN(), math.Inf(1), MaxRate + 1} {
		cfg := Config{URL: "http://127.0.0.1:1", Duration: time.Second, Rate: rate}
		if err := check(&cfg); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("rate %v: %v", rate, err)
		}
	}
}

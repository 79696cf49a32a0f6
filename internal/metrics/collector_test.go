package metrics_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/metrics"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

// events is a Recorder that keeps what it is given.
type events struct {
	mu  sync.Mutex
	all []stele.Event
}

func (e *events) Record(_ context.Context, evs ...stele.Event) ([]stele.Receipt, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, evs...)
	return make([]stele.Receipt, len(evs)), nil
}

func (e *events) byAction(action string) []stele.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []stele.Event
	for _, ev := range e.all {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func TestFlushRecordsExactPercentilesPerAccount(t *testing.T) {
	rec := &events{}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	c := metrics.New(metrics.Config{Recorder: rec, Now: func() time.Time { return now },
		StoreSize: func(context.Context) (int64, error) { return 1 << 20, nil }, Ingested: func() int64 { return 0 }})
	for i := 1; i <= 100; i++ {
		status := 201
		if i%10 == 0 {
			status = 503
		}
		c.Observe("acme", "POST /v1/events", status, time.Duration(i)*time.Millisecond)
	}
	c.Observe("acme", "GET /v1/events", 200, time.Millisecond)
	c.Observe("beta", "GET /v1/events", 404, 3*time.Millisecond)
	c.Observe("", "GET /healthz", 200, time.Millisecond) // no account: Prometheus only
	now = now.Add(time.Minute)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	lat := rec.byAction("system.api_latency")
	if len(lat) != 2 || lat[0].Account != "acme" || lat[1].Account != "beta" {
		t.Fatalf("api_latency events %+v", lat)
	}
	m := lat[0].Metadata
	want := map[string]any{"requests": int64(101), "errors": int64(10), "p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0, "max_ms": 100.0,
		"post_v1_events.requests": int64(100), "post_v1_events.errors": int64(10), "get_v1_events.requests": int64(1)}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("acme %s = %v (%T), want %v", k, m[k], m[k], v)
		}
	}
	if lat[0].Category != stele.CategorySystem || !lat[0].Time.Equal(now) {
		t.Errorf("event %+v", lat[0])
	}
	if lat[1].Metadata["client_errors"] != int64(1) {
		t.Errorf("beta client errors %v", lat[1].Metadata["client_errors"])
	}
	res := rec.byAction("system.resource_usage")
	if len(res) != 1 || res[0].Account != stele.SystemAccount {
		t.Fatalf("resource_usage events %+v", res)
	}
	for _, k := range []string{"cpu_seconds_total", "rss_bytes", "go_heap_bytes", "goroutines", "open_connections", "store_bytes", "ingest_events_per_second"} {
		if _, ok := res[0].Metadata[k]; !ok {
			t.Errorf("resource_usage lacks %s", k)
		}
	}
	if res[0].Metadata["store_bytes"] != int64(1<<20) || res[0].Metadata["rss_bytes"].(int64) <= 0 {
		t.Errorf("resource usage %v", res[0].Metadata)
	}
	// The next minute starts empty.
	now = now.Add(time.Minute)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.byAction("system.api_latency")); n != 2 {
		t.Fatalf("%d api_latency events after an idle minute, want still 2", n)
	}
}

func TestMiddlewareMeasuresByPatternAndAccount(t *testing.T) {
	rec := &events{}
	c := metrics.New(metrics.Config{Recorder: rec, Ingested: func() int64 { return 1200 }, Commits: func() int64 { return 75 }})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			metrics.SetAccount(r.Context(), "acme")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.Handle("GET /metrics", c.Handler(""))
	srv := httptest.NewUnstartedServer(c.Middleware(mux))
	srv.Config.ConnState = c.ConnState
	srv.Start()
	defer srv.Close()
	for i, auth := range []string{"Bearer k", "Bearer k", ""} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/things/evt_"+strings.Repeat("x", i+1), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`stele_http_requests_total{account="acme",code="200",route="GET /v1/things/{id}"} 2`,
		`stele_http_requests_total{account="",code="401",route="GET /v1/things/{id}"} 1`,
		`stele_http_request_duration_seconds_count{account="acme",route="GET /v1/things/{id}"} 2`,
		"stele_open_connections ", "go_goroutines ", "process_resident_memory_bytes ",
		"stele_ingested_events_total 1200\n", "stele_ingest_commits_total 75\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	lat := rec.byAction("system.api_latency")
	if len(lat) != 1 || lat[0].Metadata["requests"] != int64(2) || lat[0].Metadata["get_v1_things_id.requests"] != int64(2) {
		t.Fatalf("api_latency %+v", lat)
	}
}

func TestMetricsTokenIsRequiredWhenSet(t *testing.T) {
	c := metrics.New(metrics.Config{})
	srv := httptest.NewServer(c.Handler("s3cret-token"))
	defer srv.Close()
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Bearer s3cret-token-and-more", http.StatusUnauthorized},
		{"Basic s3cret-token", http.StatusUnauthorized},
		{"Bearer s3cret-token", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusUnauthorized {
			if !strings.Contains(string(body), `"code":"unauthorized"`) || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("Authorization %q: %s %v", tc.auth, body, resp.Header)
			}
			if strings.Contains(string(body), "go_goroutines") {
				t.Fatal("the exposition was served without the token")
			}
		} else if !strings.Contains(string(body), "go_goroutines ") {
			t.Fatalf("with the token: %s", body)
		}
	}
}

func TestSamplesStayBounded(t *testing.T) {
	c := metrics.New(metrics.Config{})
	for i := range 5 * metrics.MaxSamples {
		c.Observe("acme", "GET /v1/events", 200, time.Duration(i%100)*time.Millisecond)
	}
	// Flush without a recorder must not fail; the figures still reach Prometheus.
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > 256<<20 {
		t.Fatalf("heap %d after %d observations", m.HeapAlloc, 5*metrics.MaxSamples)
	}
}

func TestLoopRecordsEveryMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &events{}
		c := metrics.New(metrics.Config{Recorder: rec})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Loop(ctx, time.Minute); close(done) }()
		c.Observe("acme", "POST /v1/events", 201, time.Millisecond)
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		if n := len(rec.byAction("system.resource_usage")); n != 0 {
			t.Fatalf("%d events before a minute passed", n)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if n := len(rec.byAction("system.resource_usage")); n != 2 {
			t.Fatalf("%d resource_usage events after two minutes, want 2", n)
		}
		if n := len(rec.byAction("system.api_latency")); n != 1 {
			t.Fatalf("%d api_latency events, want 1", n)
		}
		cancel()
		<-done
	})
}

// The events pass the same validation as a producer's, and producers may
// send system.* events of their own.
func TestMetricsEventsAreStoredAndProducersMaySendSystemEvents(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, n := range []string{stele.SystemAccount, "acme"} {
		if err := db.CreateAccount(ctx, &stele.Account{Name: n, Type: "team"}); err != nil {
			t.Fatal(err)
		}
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{4}, 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stack := datapath.Start(db, sqlitetest.Keys(t), master, logger, ingest.WriterConfig{})
	defer stack.Stop()
	c := metrics.New(metrics.Config{Recorder: stack.Ingest, StoreSize: db.Size, Ingested: stack.Writer.Committed})
	for i := range 12 {
		c.Observe("acme", "GET /v1/events/{id}/route"+strings.Repeat("x", i), 200, time.Millisecond)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"action":"system.queue_depth","category":"system","metadata":{"depth":12}}`,
		`{"action":"system.api_latency","metadata":{"p99_ms":12.5}}`,
	} {
		in, err := ingest.Decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, d := ingest.Validate(&in[0], 0, time.Now()); d != nil {
			t.Errorf("%s rejected: %+v", body, d)
		}
	}
}

// TestThrottledRequestsAreCountedPerAccount: /metrics exposes the quota
// refusals by account and quota, as the quotas count them at each scrape.
func TestThrottledRequestsAreCountedPerAccount(t *testing.T) {
	var (
		mu      sync.Mutex
		refused []metrics.Throttled
	)
	c := metrics.New(metrics.Config{Throttled: func() []metrics.Throttled { mu.Lock(); defer mu.Unlock(); return refused }})
	srv := httptest.NewServer(c.Handler(""))
	defer srv.Close()
	scrape := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := scrape(); strings.Contains(body, `stele_ingest_throttled_requests_total{`) {
		t.Fatalf("a series before any refusal:\n%s", body)
	}
	mu.Lock()
	refused = []metrics.Throttled{{Account: "acme", Quota: "events_per_second", Requests: 3, Events: 3000},
		{Account: "globex", Quota: "bytes_per_second", Requests: 1, Events: 2}}
	mu.Unlock()
	body := scrape()
	for _, want := range []string{
		`stele_ingest_throttled_requests_total{account="acme",quota="events_per_second"} 3`,
		`stele_ingest_throttled_events_total{account="acme",quota="events_per_second"} 3000`,
		`stele_ingest_throttled_requests_total{account="globex",quota="bytes_per_second"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in:\n%s", want, body)
		}
	}
}

// TestReadRecordFiguresAreExposed: the counts of the record of reads,
// dropped ones above all, are on /metrics.
func TestReadRecordFiguresAreExposed(t *testing.T) {
	c := metrics.New(metrics.Config{Recorder: &events{}, Reads: func() metrics.ReadFigures {
		return metrics.ReadFigures{Recorded: 4, Coalesced: 30, Dropped: 2, Failed: 1}
	}})
	srv := httptest.NewServer(c.Handler(""))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"stele_audit_reads_recorded_total 4\n", "stele_audit_reads_coalesced_total 30\n",
		"stele_audit_reads_dropped_total 2\n", "stele_audit_reads_failed_total 1\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

package metrics_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/metrics"
)

// The public client may import nothing internal, so its latency
// middleware (client/window.go, and middleware.go's latencyEvent,
// routeSlug and statusWriter) is a copy of this package's. These tests
// hold the two together: the same requests through both make the same
// system.api_latency figures.

// request is one request as both middlewares count it.
type request struct {
	route  string
	status int
	d      time.Duration
}

// latencyRequests are requests on more routes than an event breaks down,
// with routes whose slugs need work, ties in count, and every kind of
// status.
func latencyRequests() []request {
	routes := []string{"GET /v1/things/{id}", "POST /v1/events", "unmatched", "GET /", "DELETE /v1/a-b//c/{x...}",
		"GET /v1/one", "GET /v1/two", "GET /v1/three", "GET /v1/four", "GET /v1/five"}
	statuses := []int{200, 201, 204, 400, 404, 429, 500, 503}
	var out []request
	for i := range 600 {
		r := routes[(i*i)%len(routes)]
		out = append(out, request{route: r, status: statuses[(i*7)%len(statuses)], d: time.Duration(1+(i*7919)%50_000) * time.Microsecond})
	}
	return out
}

// clientLatency runs requests through a client's middleware and returns
// the metadata of the system.api_latency event each tenant was sent.
func clientLatency(t *testing.T, run func(m *client.Middleware)) map[string]map[string]any {
	t.Helper()
	var mu sync.Mutex
	got := map[string]map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []struct {
				Account  string          `json:"account"`
				Action   string          `json:"action"`
				Metadata json.RawMessage `json:"metadata"`
			} `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("the client's body: %v", err)
		}
		mu.Lock()
		for _, e := range body.Events {
			if e.Action == "system.api_latency" {
				got[e.Account] = jsonMap(t, e.Metadata)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"events":[]}`))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "key")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Middleware(client.MiddlewareConfig{Interval: time.Hour})
	run(m)
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// collectorLatency runs requests through a Collector and returns the
// metadata of its system.api_latency event of each account.
func collectorLatency(t *testing.T, run func(c *metrics.Collector)) map[string]map[string]any {
	t.Helper()
	rec := &events{}
	c := metrics.New(metrics.Config{Recorder: rec})
	run(c)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, e := range rec.byAction("system.api_latency") {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		got[e.Account] = jsonMap(t, b)
	}
	return got
}

// jsonMap is metadata as JSON reads it, less the window's clock.
func jsonMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "window_start")
	delete(m, "window_seconds")
	return m
}

func TestClientMiddlewareSummarisesLatencyAsTheCollector(t *testing.T) {
	reqs := latencyRequests()
	fromClient := clientLatency(t, func(m *client.Middleware) {
		for _, r := range reqs {
			m.Observe("acme", r.route, r.status, r.d)
		}
	})
	fromCollector := collectorLatency(t, func(c *metrics.Collector) {
		for _, r := range reqs {
			c.Observe("acme", r.route, r.status, r.d)
		}
	})
	if len(fromClient["acme"]) == 0 || !reflect.DeepEqual(fromClient, fromCollector) {
		t.Fatalf("the client's figures differ from metrics':\nclient:  %v\nmetrics: %v", fromClient, fromCollector)
	}
}

func TestClientMiddlewareCountsStatusesAsTheCollector(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /header/{code}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(map[string]int{"404": 404, "500": 500, "201": 201}[r.PathValue("code")])
		w.WriteHeader(http.StatusTeapot) // too late: the first status stands
	})
	mux.HandleFunc("GET /body", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
		w.WriteHeader(http.StatusInternalServerError) // too late: the body made it 200
	})
	mux.HandleFunc("GET /nothing", func(w http.ResponseWriter, r *http.Request) {})
	paths := []string{"/header/404", "/header/500", "/header/201", "/body", "/nothing", "/nowhere", "/header/404"}
	// Each middleware counts a request for the account its handler names.
	tenant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.SetAccount(r.Context(), "acme")
		client.SetTenant(r.Context(), "acme")
		mux.ServeHTTP(w, r)
	})
	serve := func(h http.Handler) {
		for _, p := range paths {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
		}
	}
	// The counts, not the times, which differ from run to run.
	counts := func(m map[string]map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m["acme"] {
			if !strings.HasSuffix(k, "_ms") {
				out[k] = v
			}
		}
		return out
	}
	fromClient := clientLatency(t, func(m *client.Middleware) { serve(m.Handler(tenant)) })
	fromCollector := collectorLatency(t, func(c *metrics.Collector) { serve(c.Middleware(tenant)) })
	if len(fromClient["acme"]) == 0 || !reflect.DeepEqual(counts(fromClient), counts(fromCollector)) {
		t.Fatalf("the client counts otherwise than metrics:\nclient:  %v\nmetrics: %v", counts(fromClient), counts(fromCollector))
	}
	if got := fromClient["acme"]["errors"]; got != 1.0 {
		t.Errorf("errors: %v, want the one 500", got)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/export"
	"github.com/stele-audit/stele/internal/goldentest"
	"github.com/stele-audit/stele/internal/metrics"
	"github.com/stele-audit/stele/internal/stream"
)

// The public client imports only the standard library and the root
// package, so what it shares with the server is copied, deliberately: its
// types of the API's JSON (streams, alert rules), its event encoder
// (internal/export's), and its latency middleware (internal/metrics').
// The tests of this file hold each copy to the original.

// sentEvents runs a client against a server that takes every batch it
// sends (answering with no receipts) and returns the events of the
// batches, as JSON reads them, in the order sent. use records through c.
func sentEvents(t *testing.T, use func(c *client.Client)) []map[string]any {
	t.Helper()
	var mu sync.Mutex
	var sent []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("the client's body: %v", err)
		}
		mu.Lock()
		sent = append(sent, body.Events...)
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
	use(c)
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return sent
}

// jsonShape is what encoding/json makes of a type: each field's JSON tag
// and the shape of its value, nested, less the fields it leaves out;
// time.Time and the root package's types by name.
func jsonShape(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + jsonShape(t.Elem())
	case reflect.Slice:
		return "[]" + jsonShape(t.Elem())
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() || t.PkgPath() == "github.com/stele-audit/stele" {
			return t.String()
		}
		var b strings.Builder
		b.WriteString("{")
		for f := range t.Fields() {
			if f.Tag.Get("json") == "-" {
				continue
			}
			b.WriteString(f.Tag.Get("json") + " " + jsonShape(f.Type) + "; ")
		}
		return b.String() + "}"
	}
	return t.Kind().String()
}

// TestClientTypesReadAndWriteTheAPIsJSON: the client's types of streams
// (client/streams.go) and alert rules (client/alerts.go), copies of the
// stream and alert packages' that this API serves, read and write the same
// JSON.
func TestClientTypesReadAndWriteTheAPIsJSON(t *testing.T) {
	for _, tc := range []struct{ api, client reflect.Type }{
		{reflect.TypeFor[stream.View](), reflect.TypeFor[client.Stream]()},
		{reflect.TypeFor[stream.Input](), reflect.TypeFor[client.StreamInput]()},
		{reflect.TypeFor[stream.ReplayView](), reflect.TypeFor[client.StreamReplay]()},
		{reflect.TypeFor[alert.Rule](), reflect.TypeFor[client.AlertRule]()},
		{reflect.TypeFor[alert.Input](), reflect.TypeFor[client.AlertRuleInput]()},
		{reflect.TypeFor[alert.TestResult](), reflect.TypeFor[client.AlertTestResult]()},
		{reflect.TypeFor[alert.Firing](), reflect.TypeFor[client.AlertFiring]()},
	} {
		if a, c := jsonShape(tc.api), jsonShape(tc.client); a != c {
			t.Errorf("%s and %s differ in JSON:\n api:    %s\n client: %s", tc.api, tc.client, a, c)
		}
	}
}

// TestClientEncodesEventsAsExportDoes: the recorder's encoder
// (client/encode.go) and export's (metadata.go's strings and values) write
// the same event alike: the client's batch as a server reads it, and
// export.AppendEventJSON read back alike, less the fields only Stele sets.
func TestClientEncodesEventsAsExportDoes(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	csv := goldentest.RoleChange()
	csv.Description = "Ada changed Bob's role\nfrom viewer to admin"
	evs := []stele.Event{*goldentest.RoleChange(), *csv,
		{Action: "finding.generated", Time: t0, Outcome: "failure",
			Actor:  &stele.Ref{Type: "service", ID: "=HYPERLINK(\"http://evil\")", Name: "+cmd|' /C calc'!A0"},
			Source: &stele.Ref{Type: "aws", ID: "-2+3", Name: "@SUM(A1)"}, Description: "\tTabbed", IdempotencyKey: "\rcr"},
		{Action: "a\x7f", Time: t0, Description: "<b>&</b> \u2028\u2029 \x00\x01\x1f\b\f\n\r\t \"\\ \xff\xfe é 😀 \xed\xa0\x80"},
		{Action: "user.login", Time: t0, Account: "globex", Actor: &stele.Ref{ID: "u_1", Email: "e\bf\f"},
			Metadata: map[string]any{"z": nil, "a": false, "<": "&\b\f", "n": json.Number("-1.5e+3"), "s": "\x00\u2028"}},
	}
	for i := range evs {
		if evs[i].IdempotencyKey == "" { // the recorder would make one up
			evs[i].IdempotencyKey = fmt.Sprintf("k-%d", i)
		}
	}
	sent := sentEvents(t, func(c *client.Client) {
		for _, e := range evs {
			if err := c.Record(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(sent) != len(evs) {
		t.Fatalf("the client sent %d events, want %d", len(sent), len(evs))
	}
	for i := range evs {
		b, err := export.AppendEventJSON(nil, &evs[i])
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if k == "id" || k == "seq" || k == "received_at" || v == nil || v == "" {
				delete(want, k) // Stele's, or left out by a producer
			}
		}
		if !reflect.DeepEqual(sent[i], want) {
			t.Errorf("event %d:\nclient:          %v\nAppendEventJSON: %v", i, sent[i], want)
		}
	}
}

// latencyRequest is one request as both latency middlewares count it.
type latencyRequest struct {
	route  string
	status int
	d      time.Duration
}

// latencyRequests are requests on more routes than an event breaks down,
// with routes whose slugs need work, ties in count, and every kind of
// status; fewer than a window samples, so that no sampling is random.
func latencyRequests() []latencyRequest {
	routes := []string{"GET /v1/things/{id}", "POST /v1/events", "unmatched", "GET /", "DELETE /v1/a-b//c/{x...}",
		"GET /v1/one", "GET /v1/two", "GET /v1/three", "GET /v1/four", "GET /v1/five"}
	statuses := []int{200, 201, 204, 400, 404, 429, 500, 503}
	var out []latencyRequest
	for i := range 600 {
		out = append(out, latencyRequest{route: routes[(i*i)%len(routes)], status: statuses[(i*7)%len(statuses)],
			d: time.Duration(1+(i*7919)%50_000) * time.Microsecond})
	}
	return out
}

// clientLatency runs requests through a client's middleware and returns
// the metadata of the system.api_latency event it sent of each tenant.
func clientLatency(t *testing.T, run func(m *client.Middleware)) map[string]map[string]any {
	t.Helper()
	sent := sentEvents(t, func(c *client.Client) {
		m := c.Middleware(client.MiddlewareConfig{Interval: time.Hour})
		run(m)
		if err := m.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
	got := map[string]map[string]any{}
	for _, e := range sent {
		if e["action"] == "system.api_latency" {
			account, _ := e["account"].(string)
			got[account] = latencyFigures(t, e["metadata"])
		}
	}
	return got
}

// recordFunc is a metrics.Recorder.
type recordFunc func(evs ...stele.Event)

func (f recordFunc) Record(_ context.Context, evs ...stele.Event) ([]stele.Receipt, error) {
	f(evs...)
	return make([]stele.Receipt, len(evs)), nil
}

// collectorLatency runs requests through a Collector and returns the
// metadata of its system.api_latency event of each account.
func collectorLatency(t *testing.T, run func(c *metrics.Collector)) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	c := metrics.New(metrics.Config{Recorder: recordFunc(func(evs ...stele.Event) { // Flush calls it, not a goroutine
		for _, e := range evs {
			if e.Action == "system.api_latency" {
				got[e.Account] = latencyFigures(t, e.Metadata)
			}
		}
	})})
	run(c)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return got
}

// latencyFigures is an event's metadata as JSON reads it, less the
// window's clock.
func latencyFigures(t *testing.T, meta any) map[string]any {
	t.Helper()
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "window_start")
	delete(m, "window_seconds")
	return m
}

// TestClientMiddlewareSummarisesLatencyAsMetrics: the client's window
// (client/window.go), latencyEvent and routeSlug make the figures
// internal/metrics' make of the same requests.
func TestClientMiddlewareSummarisesLatencyAsMetrics(t *testing.T) {
	reqs := latencyRequests()
	fromClient := clientLatency(t, func(m *client.Middleware) {
		for _, r := range reqs {
			m.Observe("acme", r.route, r.status, r.d)
		}
	})
	fromMetrics := collectorLatency(t, func(c *metrics.Collector) {
		for _, r := range reqs {
			c.Observe("acme", r.route, r.status, r.d)
		}
	})
	if len(fromClient["acme"]) == 0 || !reflect.DeepEqual(fromClient, fromMetrics) {
		t.Fatalf("the client's figures differ from metrics':\nclient:  %v\nmetrics: %v", fromClient, fromMetrics)
	}
}

// TestClientMiddlewareCountsStatusesAsMetrics: the client's statusWriter
// takes a response's status as internal/metrics' does.
func TestClientMiddlewareCountsStatusesAsMetrics(t *testing.T) {
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
	// Each middleware counts a request for the account its handler names.
	tenant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.SetAccount(r.Context(), "acme")
		client.SetTenant(r.Context(), "acme")
		mux.ServeHTTP(w, r)
	})
	serve := func(h http.Handler) {
		for _, p := range []string{"/header/404", "/header/500", "/header/201", "/body", "/nothing", "/nowhere", "/header/404"} {
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
	fromMetrics := collectorLatency(t, func(c *metrics.Collector) { serve(c.Middleware(tenant)) })
	if len(fromClient["acme"]) == 0 || !reflect.DeepEqual(counts(fromClient), counts(fromMetrics)) {
		t.Fatalf("the client counts otherwise than metrics:\nclient:  %v\nmetrics: %v", counts(fromClient), counts(fromMetrics))
	}
	if got := fromClient["acme"]["errors"]; got != 1.0 {
		t.Errorf("errors: %v, want the one 500", got)
	}
}

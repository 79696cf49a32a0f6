package client_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
	"github.com/stele-audit/stele/internal/metrics"
)

// platform is a platform's own API under the client's middleware.
func platform(t *testing.T, m *client.Middleware) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("a thing"))
	})
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		client.SetActor(r.Context(), stele.Ref{Type: "user", ID: "u_ada", Email: "ada@acme.io"})
		e := client.SettingChanged(stele.Ref{}, "session_timeout_minutes", "30", "60")
		if err := client.RecordRequest(r.Context(), e); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return srv
}

func TestMiddlewareRecordsLatencyPerTenantAndRoute(t *testing.T) {
	s := startLive(t)
	c, err := client.New(s.URL(), s.keys["operator"])
	if err != nil {
		t.Fatal(err)
	}
	m := c.Middleware(client.MiddlewareConfig{Tenant: func(r *http.Request) string { return r.Header.Get("X-Tenant") }, Interval: time.Hour})
	p := platform(t, m)
	call := func(tenant, method, path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL+path, nil)
		req.Header.Set("X-Tenant", tenant)
		for i := 0; i < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for range 3 {
		call("acme", "GET", "/things/1")
	}
	call("acme", "GET", "/things/missing")
	call("acme", "GET", "/boom")
	if resp := call("acme", "POST", "/things", "User-Agent", "platform-test/1", "X-Request-Id", "req-42"); resp.StatusCode != 201 {
		t.Fatalf("POST /things: %s", resp.Status)
	}
	call("globex", "GET", "/things/2")
	if resp := call("globex", "GET", "/things/3"); resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("a request without an id was not given one")
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	acme := s.client(t)
	lat := only(t, acme, "action:system.api_latency")
	want := map[string]string{"requests": "6", "errors": "1", "client_errors": "1",
		"get_things_id.requests": "4", "get_things_id.errors": "0", "post_things.requests": "1", "get_boom.errors": "1"}
	for k, v := range want {
		if got := lat.Metadata[k]; got != json.Number(v) {
			t.Errorf("acme's %s = %v, want %s", k, got, v)
		}
	}
	num := func(k string) float64 { f, _ := lat.Metadata[k].(json.Number).Float64(); return f }
	if !(num("p50_ms") > 0 && num("p50_ms") <= num("p95_ms") && num("p95_ms") <= num("p99_ms") && num("p99_ms") <= num("max_ms")) {
		t.Errorf("acme's quantiles %v", lat.Metadata)
	}
	if lat.Category != stele.CategorySystem || lat.Actor == nil || lat.Actor.Type != "system" {
		t.Errorf("latency event %+v", lat)
	}
	g, err := client.New(s.URL(), s.keys["globex"])
	if err != nil {
		t.Fatal(err)
	}
	if glat := only(t, g, "action:system.api_latency"); glat.Metadata["requests"] != json.Number("2") || glat.Metadata["get_things_id.requests"] != json.Number("2") {
		t.Errorf("globex's figures %v", glat.Metadata)
	}

	// Stele's own system.api_latency events have the same fields.
	own := stelesOwnLatency(t)
	if got, want := slices.Sorted(maps.Keys(lat.Metadata)), slices.Sorted(maps.Keys(own.Metadata)); !slices.Equal(got, want) {
		t.Errorf("metadata fields %q, Stele's own %q", got, want)
	}

	// The handler's event carries the request's actor, ip, user agent,
	// request id and tenant.
	set := only(t, acme, "action:settings.updated")
	if set.Actor == nil || set.Actor.ID != "u_ada" || set.IP != "127.0.0.1" || set.UserAgent != "platform-test/1" ||
		set.RequestID != "req-42" || set.Account != "acme" || set.Metadata["setting"] != "session_timeout_minutes" {
		t.Errorf("request's event %+v", set)
	}
	if err := client.RecordRequest(t.Context(), set); err != client.ErrNoRequest {
		t.Errorf("RecordRequest outside a request: %v", err)
	}
}

func only(t *testing.T, c *client.Client, q string) stele.Event {
	t.Helper()
	var out []stele.Event
	for e, err := range c.Query(t.Context(), q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if len(out) != 1 {
		t.Fatalf("%q: %d events, want 1", q, len(out))
	}
	return out[0]
}

type captured struct{ events []stele.Event }

func (c *captured) Record(_ context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	c.events = append(c.events, events...)
	return nil, nil
}

// stelesOwnLatency is a system.api_latency event of Stele's own collector,
// for a window with requests on the same routes.
func stelesOwnLatency(t *testing.T) stele.Event {
	rec := &captured{}
	col := metrics.New(metrics.Config{Recorder: rec})
	col.Observe("acme", "GET /things/{id}", 200, time.Millisecond)
	col.Observe("acme", "POST /things", 201, time.Millisecond)
	col.Observe("acme", "GET /boom", 500, time.Millisecond)
	if err := col.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, e := range rec.events {
		if e.Action == "system.api_latency" {
			return e
		}
	}
	t.Fatal("no system.api_latency event from Stele's collector")
	return stele.Event{}
}

package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// meteredAccount adds an account allowed 2 events a second in bursts of 5
// seconds, with a read/write key of the same name. The rate is low so that
// no pause of a slow machine between two requests refills the bucket.
func (e *env) meteredAccount(name string) {
	e.t.Helper()
	rate, burst := int64(2), int64(5)
	a := &stele.Account{Name: name, Type: "team", Ingest: stele.IngestOverride{EventsPerSecond: &rate, BurstSeconds: &burst}}
	if err := e.db.CreateAccount(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	e.accts[name] = a
	e.issue(name, name, []stele.Scope{stele.ScopeEventsWrite, stele.ScopeEventsRead}, false)
}

func events(n int) string {
	return `{"events":[` + strings.TrimSuffix(strings.Repeat(loginEvent+",", n), ",") + `]}`
}

// TestIngestOverQuotaIsRefusedWith429AndRetryAfter: through a real
// listener, a request beyond the account's quota gets 429, a Retry-After
// of whole seconds, and the API's error body naming the quota and the
// account's limit; nothing of it is stored; other accounts are unaffected.
func TestIngestOverQuotaIsRefusedWith429AndRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.meteredAccount("metered")
	c := newConformance(t, e.srv.URL, e.srv.Client())
	// A batch no wait would let through is too large, not throttled.
	r := c.run(call{method: "POST", path: "/v1/events", key: e.keys["metered"], status: http.StatusRequestEntityTooLarge, body: events(11)})
	if code, msg, _ := r.errorBody(t); r.Status != http.StatusRequestEntityTooLarge || code != "too_large" || !strings.Contains(msg, "at most 10 events") {
		t.Fatalf("a batch over the burst: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Retry-After") != "" {
		t.Fatalf("a batch that can never pass got Retry-After %q", r.Header.Get("Retry-After"))
	}

	e.mustPost("metered", events(8))
	// The answer is the one the OpenAPI document describes.
	r = c.run(call{method: "POST", path: "/v1/events", key: e.keys["metered"], status: http.StatusTooManyRequests, body: events(3)})
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want whole seconds, at least 1", r.Header.Get("Retry-After"))
	}
	code, msg, details := r.errorBody(t)
	if code != "throttled" || !strings.Contains(msg, "2 events a second") || len(details) != 1 ||
		details[0].Field != "ingest_events_per_second" || details[0].Rule != "quota" {
		t.Fatalf("error %s %q %+v", code, msg, details)
	}
	e.mustPost("metered", events(2))
	if p := e.list("metered", "", 100, ""); len(p.Events) != 10 {
		t.Fatalf("metered holds %d events, want the 10 that fit", len(p.Events))
	}
	e.mustPost("globex", events(3))

	// Once the quota is spent a request is refused before its body is
	// read: a body that is not even JSON, of the size of the ten events
	// the account sent, gets 429, not 400.
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/events", strings.NewReader(`{"events":[`+strings.Repeat(" ", len(events(10)))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys["metered"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a request after the quota was spent: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

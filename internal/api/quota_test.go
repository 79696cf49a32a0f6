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
	e.mustPost("metered", events(10))
	// The answer is the one the OpenAPI document describes.
	c := newConformance(t, e.srv.URL, e.srv.Client())
	r := c.run(call{method: "POST", path: "/v1/events", key: e.keys["metered"], status: http.StatusTooManyRequests, body: events(3)})
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q, want whole seconds, at least 1", r.Header.Get("Retry-After"))
	}
	code, msg, details := r.errorBody(t)
	if code != "throttled" || !strings.Contains(msg, "2 events a second") || len(details) != 1 ||
		details[0].Field != "ingest_events_per_second" || details[0].Rule != "quota" {
		t.Fatalf("error %s %q %+v", code, msg, details)
	}
	if p := e.list("metered", "", 100, ""); len(p.Events) != 10 {
		t.Fatalf("metered holds %d events, want the first 10", len(p.Events))
	}
	e.mustPost("globex", events(3))

	// A batch no wait would let through is too large, not throttled.
	r = c.run(call{method: "POST", path: "/v1/events", key: e.keys["metered"], status: http.StatusRequestEntityTooLarge, body: events(11)})
	if code, msg, _ := r.errorBody(t); r.Status != http.StatusRequestEntityTooLarge || code != "too_large" || !strings.Contains(msg, "at most 10 events") {
		t.Fatalf("a batch over the burst: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Retry-After") != "" {
		t.Fatalf("a batch that can never pass got Retry-After %q", r.Header.Get("Retry-After"))
	}
}

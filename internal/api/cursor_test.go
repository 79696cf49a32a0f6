package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCursorsAreBoundToTheAccountAndQuery: pages of a query with relative
// times (parsed anew, to other instants, on each request) follow each other
// to the end; the cursor of one account or query is a 400 naming the
// cursor field for another.
func TestCursorsAreBoundToTheAccountAndQuery(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	var batch []string
	for i := range 30 {
		batch = append(batch, fmt.Sprintf(`{"action":"user.login","actor":{"id":"u_%d"},"time":%q}`,
			i, now.Add(-time.Duration(i+5)*time.Minute).Format(time.RFC3339Nano)))
	}
	e.mustPost("acme", `{"events":[`+strings.Join(batch, ",")+`]}`)
	e.mustPost("globex", `{"events":[`+strings.Join(batch, ",")+`]}`)

	const q = "action:user.login after:24h before:1m"
	seen := map[string]bool{}
	cursor, first := "", ""
	for {
		p := e.list("acme", q, 7, cursor)
		for _, ev := range p.Events {
			if seen[ev.ID] {
				t.Fatalf("event %s twice", ev.ID)
			}
			seen[ev.ID] = true
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
		if first == "" {
			first = cursor
		}
	}
	if len(seen) != 30 {
		t.Fatalf("paged through %d events, want 30", len(seen))
	}
	for _, tt := range []struct{ key, q string }{
		{"globex", q},
		{"acme", "action:user.login after:24h"},
		{"acme", "action:user.login after:1d before:1m"},
	} {
		v := url.Values{"q": {tt.q}, "limit": {"7"}, "cursor": {first}}
		r := e.do("GET", "/v1/events?"+v.Encode(), e.keys[tt.key], "", nil)
		_, msg, d := r.errorBody(t)
		if r.Status != http.StatusBadRequest || len(d) != 1 || d[0].Field != "cursor" || !strings.Contains(msg, "first page") {
			t.Errorf("%s %q: %d %s", tt.key, tt.q, r.Status, r.Body)
		}
	}
}

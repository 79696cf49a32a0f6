package console_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// hostileEvents are events as stores written before metadata numbers were
// checked hold them: the latency event of issue 15 (requests 1e19), numbers
// out of every range, numbers spelled as text, and markup in every string.
func hostileEvents(account string, now time.Time) []stele.Event {
	markup := `<script>alert(1)</script><img src=x onerror=alert(2)>" onmouseover="alert(3)`
	return []stele.Event{
		{Account: account, Action: "system.api_latency", Time: now.Add(-10 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("1e19"), "errors": json.Number("0"),
				"p50_ms": json.Number("1"), "p95_ms": json.Number("2"), "p99_ms": json.Number("3")}},
		{Account: account, Action: "system.api_latency", Time: now.Add(-20 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("-1e308"), "errors": "Infinity",
				"p50_ms": "NaN", "p95_ms": json.Number("0.1e-400"), "p99_ms": json.Number("1e400")}},
		{Account: account, Action: "system.api_latency", Time: now.Add(-30 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("1.7976931348623157e308"), "errors": json.Number("1.7976931348623157e308"),
				"p50_ms": json.Number("9223372036854775808"), "p95_ms": json.Number("1e308"), "p99_ms": "1e999"}},
		{Account: account, Action: "user.login", Time: now.Add(-40 * time.Minute), Outcome: stele.OutcomeFailure,
			Actor:       &stele.Ref{Type: "user", ID: markup, Name: markup, Email: "x@" + markup},
			Target:      &stele.Ref{Type: markup, ID: "javascript:alert(4)", Name: markup},
			Source:      &stele.Ref{Type: "aws", ID: markup, Name: markup},
			UserAgent:   markup,
			RequestID:   markup,
			Description: markup + " =HYPERLINK(\"http://evil.example\")",
			Metadata: map[string]any{"huge": json.Number("1e19"), "int": json.Number("12345678901234567890"),
				"neg": json.Number("-1e308"), "inf": json.Number("1e400"), "tiny": json.Number("0.1e-400"),
				"nan": "NaN", "null": nil, "yes": true, "html": markup, "link": "javascript:alert(5)",
				markup: "key of markup"}},
	}
}

var negative = regexp.MustCompile(`class="tick tick-y"[^>]*>-`)

// TestPagesShowHostileStoredValuesSafely: every page an owner opens renders
// the events of an old store — numbers out of every range, markup in every
// string — as text, and the console stays up. Before, /admin/system died
// with a stack overflow, and the event page wrote a null as <nil>.
func TestPagesShowHostileStoredValuesSafely(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	receipts, err := s.ingest.AppendUnchecked(context.Background(), hostileEvents("acme", time.Now().UTC())...)
	if err != nil {
		t.Fatal(err)
	}
	b := s.client(t)
	b.login("owner@acme.example", password)
	pages := []string{"/admin/system", "/admin/system?range=7d", "/admin/audit-logs", "/admin/audit-logs?range=all",
		"/admin/audit-logs?q=alert&range=24h", "/admin/audit-logs?category=system"}
	for _, r := range receipts {
		pages = append(pages, "/admin/audit-logs/"+r.ID)
	}
	for _, p := range pages {
		resp, body := b.do("GET", p, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if got := unsafeMarkup(body); got != nil {
			t.Errorf("%s: markup from event data: %q", p, got)
		}
		if !strings.HasPrefix(p, "/admin/system") {
			continue
		}
		for _, nonsense := range []string{"9,223,372", "-922", "NaN", "Inf", "∞"} {
			if strings.Contains(body, nonsense) {
				t.Errorf("%s: shows %q", p, nonsense)
			}
		}
		if negative.MatchString(body) {
			t.Errorf("%s: a negative axis: %q", p, negative.FindString(body))
		}
	}
	_, body := b.do("GET", "/admin/audit-logs/"+receipts[3].ID, nil)
	for k, want := range map[string]string{"huge": "1e19", "int": "12345678901234567890", "inf": "1e400", "tiny": "0.1e-400", "null": "null", "yes": "true"} {
		if !strings.Contains(body, `<td class="mono">`+k+`</td><td class="wrap">`+want+`</td>`) {
			t.Errorf("metadata %s is not shown as %s", k, want)
		}
	}
	raw := regexp.MustCompile(`(?s)<pre class="raw" tabindex="0">(.*?)</pre>`).FindStringSubmatch(body)
	if raw == nil {
		t.Fatal("no JSON on the event page")
	}
	dec := json.NewDecoder(strings.NewReader(html.UnescapeString(raw[1])))
	dec.UseNumber()
	var back map[string]any
	if err := dec.Decode(&back); err != nil || back["description"] == nil {
		t.Fatalf("the page's JSON does not parse: %v", err)
	}
	_, body = b.do("GET", "/admin/system", nil)
	if !strings.Contains(body, "requests 1e&#43;19") { // html/template writes + as &#43;
		t.Errorf("the poisoned minute is not charted as 1e+19: %s", chartSection(t, body, "requests"))
	}
}

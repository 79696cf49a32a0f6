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
	"github.com/stele-audit/stele/internal/hostiletest"
)

var negative = regexp.MustCompile(`class="tick tick-y"[^>]*>-`)

// TestPagesShowHostileStoredValuesSafely: every page an owner opens renders
// the events of an old store — numbers out of every range, markup in every
// string — as text, and the console stays up. Before, /admin/system died
// with a stack overflow, and the event page wrote a null as <nil>.
func TestPagesShowHostileStoredValuesSafely(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	receipts, err := s.ingest.AppendUnchecked(context.Background(), hostiletest.OldStoreEvents("acme", time.Now().UTC())...)
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

package console_test

import (
	"html"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

var (
	rowLink = regexp.MustCompile(`class="row-link" href="/admin/audit-logs/(evt_[0-9a-z]+)"`)
	olderAt = regexp.MustCompile(`href="([^"]+)" id="older"`)
)

// TestAuditLogsPageThroughARelativeRange: the time presets (last 24 hours,
// the default last 7 days) move with the clock, so each page of the Audit
// Logs computes other bounds; its cursors still lead page by page to the
// end, each event once.
func TestAuditLogsPageThroughARelativeRange(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	s.seed(120)
	var mu sync.Mutex
	now := time.Now()
	s.con.Now = func() time.Time { // a second later at each look
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	b := s.client(t)
	b.login("owner@acme.example", password)
	for _, start := range []string{"/admin/audit-logs?range=24h", "/admin/audit-logs"} {
		seen := map[string]bool{}
		next := start
		for pages := 0; next != ""; pages++ {
			resp, body := b.do("GET", next, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s page %d: %d", start, pages+1, resp.StatusCode)
			}
			for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
				if seen[m[1]] {
					t.Fatalf("%s: event %s on two pages", start, m[1])
				}
				seen[m[1]] = true
			}
			next = ""
			if m := olderAt.FindStringSubmatch(body); m != nil {
				next = html.UnescapeString(m[1])
			}
		}
		if len(seen) < 120 {
			t.Fatalf("%s: paged through %d events, want the 120 seeded and more", start, len(seen))
		}
	}
}

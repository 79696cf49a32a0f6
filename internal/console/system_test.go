package console_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// recordMetrics records n minutes of system.api_latency in account and of
// system.resource_usage in _system, the way the metrics collector does.
func (s *site) recordMetrics(account string, n int) {
	s.t.Helper()
	now := time.Now().UTC()
	actor := &stele.Ref{Type: "service", ID: "stele"}
	var evs []stele.Event
	for i := range n {
		at := now.Add(-time.Duration(i*7+1) * time.Minute) // a few buckets apart
		evs = append(evs,
			stele.Event{Account: account, Action: "system.api_latency", Category: stele.CategorySystem, Outcome: stele.OutcomeSuccess,
				Time: at, Actor: actor, Description: "latency", Metadata: map[string]any{
					"window_seconds": 60, "requests": 100 + i, "errors": i % 2, "client_errors": 0,
					"p50_ms": 4.5 + float64(i), "p95_ms": 20.25, "p99_ms": 88.5, "max_ms": 120.0,
					"v1_events.requests": 100 + i, "v1_events.p95_ms": 20.25}},
			stele.Event{Account: stele.SystemAccount, Action: "system.resource_usage", Category: stele.CategorySystem, Outcome: stele.OutcomeSuccess,
				Time: at, Actor: actor, Description: "resources", Metadata: map[string]any{
					"cpu_percent": 12.5, "rss_bytes": 96 << 20, "go_heap_bytes": 40 << 20, "goroutines": 42,
					"open_connections": 3, "store_bytes": 512 << 20, "ingest_events_per_second": 250.0}})
	}
	// An old minute, outside the 24-hour range, shows only over 7 days.
	evs = append(evs, stele.Event{Account: account, Action: "system.api_latency", Category: stele.CategorySystem, Outcome: stele.OutcomeSuccess,
		Time: now.Add(-3 * 24 * time.Hour), Actor: actor, Metadata: map[string]any{"requests": 5, "errors": 0, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3}})
	if _, err := s.ingest.Record(context.Background(), evs...); err != nil {
		s.t.Fatal(err)
	}
}

var (
	pathData = regexp.MustCompile(`<path class="line" d="([^"]*)"`)
	bandRE   = regexp.MustCompile(`<rect class="band"`)
)

// chartSection returns the section of the page that draws chart id.
func chartSection(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="chart-`+id+`"`)
	if i < 0 {
		t.Fatalf("no chart %s", id)
	}
	j := strings.Index(body[i:], "</section>")
	return body[i : i+j]
}

func TestSystemPageChartsAPILatencyOfTheViewersAccount(t *testing.T) {
	s := newSite(t)
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	s.recordMetrics("acme", 4)
	s.recordMetrics("globex", 2) // never shown to acme
	b := s.client(t)
	b.login("auditor@acme.example", password)

	resp, body := b.do("GET", "/admin/audit-logs", nil)
	if !strings.Contains(body, `href="/admin/system"`) {
		t.Fatal("System is not in the Administration menu")
	}
	resp, body = b.do("GET", "/admin/system", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("system page: %d", resp.StatusCode)
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
		t.Error("inline style or script in the page")
	}
	lat := chartSection(t, body, "latency")
	if n := len(bandRE.FindAllString(lat, -1)); n != 4 {
		t.Fatalf("latency chart has %d points, want 4 (24 hours)", n)
	}
	for _, want := range []string{"p50", "p95", "p99", "88.5 ms", " ms</text>", "Time (UTC)", "Milliseconds", `<svg class="chart line-chart"`} {
		if !strings.Contains(lat, want) {
			t.Errorf("latency chart lacks %q", want)
		}
	}
	paths := pathData.FindAllStringSubmatch(lat, -1)
	if len(paths) != 3 || !strings.HasPrefix(paths[0][1], "M") {
		t.Fatalf("latency paths %v", paths)
	}
	req := chartSection(t, body, "requests")
	if !strings.Contains(req, "requests 103") || !strings.Contains(req, "Requests per 5 minutes") {
		t.Errorf("requests chart: %s", req)
	}
	if strings.Contains(body, `id="chart-cpu"`) || strings.Contains(body, "Resource usage") {
		t.Error("a non-operator sees resource usage")
	}

	// Over 7 days, hourly points, and the old minute is in.
	_, body = b.do("GET", "/admin/system?range=7d", nil)
	lat = chartSection(t, body, "latency")
	if n := len(bandRE.FindAllString(lat, -1)); n < 2 || n > 5 || !strings.Contains(lat, "p99 3.0 ms") {
		t.Fatalf("7-day latency chart has %d points:\n%s", n, lat)
	}
	if resp, body := b.do("GET", "/admin/system?range=forever", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Range:") {
		t.Fatalf("bad range: %d", resp.StatusCode)
	}
}

func TestOperatorsSeeResourceUsage(t *testing.T) {
	s := newSite(t)
	s.user(stele.SystemAccount, "operator@stele.local", stele.RoleOwner)
	s.recordMetrics(stele.SystemAccount, 3)
	b := s.client(t)
	b.login("operator@stele.local", password)
	resp, body := b.do("GET", "/admin/system", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("system page: %d", resp.StatusCode)
	}
	for id, want := range map[string]string{"cpu": "12.5%", "memory": "96.0 MiB", "store": "512.0 MiB", "ingest": "250.0 events/s", "latency": "p95 20.2"} {
		sec := chartSection(t, body, id)
		if n := len(bandRE.FindAllString(sec, -1)); n != 3 || !strings.Contains(sec, want) || !pathData.MatchString(sec) {
			t.Errorf("%s chart: %d points, %q shown: %v", id, n, want, strings.Contains(sec, want))
		}
	}
}

func TestSystemPageNeedsAuditLogsRead(t *testing.T) {
	s := newSite(t)
	s.user("acme", "member@acme.example", stele.RoleMember)
	s.recordMetrics("acme", 2)
	b := s.client(t)
	b.login("member@acme.example", password)
	resp, body := b.do("GET", "/admin/system", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "audit_logs.read") || strings.Contains(body, "<svg class=\"chart") {
		t.Fatalf("member: %d", resp.StatusCode)
	}
	if strings.Contains(body, `href="/admin/system"`) {
		t.Error("System is in a member's menu")
	}
	if got := s.events("acme", "action:audit_log.denied"); len(got) != 1 || got[0].Target.ID != "/admin/system" {
		t.Fatalf("denied events %+v", got)
	}
}

func TestSystemPageWithNothingRecordedSaysSo(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)
	resp, body := b.do("GET", "/admin/system", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Nothing was recorded in this range") || strings.Contains(body, `class="chart line-chart"`) {
		t.Fatalf("empty system page: %d", resp.StatusCode)
	}
}

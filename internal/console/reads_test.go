package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
)

// recordReads turns the site's record of reads on, and returns a
// function that stops it (every read noted is then recorded) and returns
// the audit_log.viewed events of account, oldest first.
func (s *site) recordReads(t *testing.T) func(account string) []stele.Event {
	t.Helper()
	reads := audit.NewReads(&audit.Recorder{Sink: s.ingest}, audit.ReadsConfig{})
	s.con.Reads = reads // before any request: the server reads it after
	t.Cleanup(reads.Close)
	_, sysKey, err := apikey.Issue(context.Background(), s.db, s.accts[stele.SystemAccount], []stele.Scope{stele.ScopeEventsRead}, false, "reads", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return func(account string) []stele.Event {
		t.Helper()
		reads.Close()
		key := s.key
		if account == stele.SystemAccount {
			key = sysKey
		}
		req, _ := http.NewRequest("GET", s.srv.URL+"/v1/events?limit=1000&q=action:audit_log.viewed", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct{ Events []stele.Event }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/events: %d %v", resp.StatusCode, err)
		}
		slices.Reverse(page.Events)
		return page.Events
	}
}

var (
	olderLink    = regexp.MustCompile(`id="older"[^>]*href="([^"]+)"|href="([^"]+)" id="older"`)
	eventRowLink = regexp.MustCompile(`class="row-link" href="([^"]+)"`)
)

func firstMatch(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in the page", re)
	}
	for _, g := range m[1:] {
		if g != "" {
			return strings.ReplaceAll(g, "&amp;", "&")
		}
	}
	return ""
}

// TestConsoleReadsAreRecordedOncePerQuery: the Audit Logs page, paged
// and refreshed, is one record per query; another query is another; an
// event opened twice is one record; each names the user, the console
// and the count the page showed.
func TestConsoleReadsAreRecordedOncePerQuery(t *testing.T) {
	s := newSite(t)
	s.seed(120)
	viewed := s.recordReads(t)
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	b := s.client(t)
	b.login("auditor@acme.example", password)
	_, body := b.do("GET", "/admin/audit-logs", nil)
	older := firstMatch(t, olderLink, body)
	for range 2 { // the next page, twice; and the first page, refreshed
		if resp, _ := b.do("GET", older, nil); resp.StatusCode != 200 {
			t.Fatalf("older page: %d", resp.StatusCode)
		}
	}
	b.do("GET", "/admin/audit-logs", nil)
	b.do("GET", "/admin/audit-logs?"+url.Values{"q": {"actor:ada@acme.io"}, "range": {"24h"}}.Encode(), nil)
	event := firstMatch(t, eventRowLink, body)
	for range 2 {
		if resp, _ := b.do("GET", event, nil); resp.StatusCode != 200 {
			t.Fatalf("event page: %d", resp.StatusCode)
		}
	}
	got := viewed("acme")
	want := []struct{ view, query, results string }{
		{"search", "after:7d", "50"},
		{"search", "actor:ada@acme.io after:24h", "40"},
		{"event", strings.TrimPrefix(event, "/admin/audit-logs/"), "1"},
	}
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%v", e.Metadata)
		}
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Category != stele.CategoryAudit || e.Actor == nil || e.Actor.Email != "auditor@acme.example" || e.Actor.Type != "user" ||
			e.Metadata["via"] != "console" || e.Metadata["view"] != w.view || e.Metadata["query"] != w.query ||
			fmt.Sprint(e.Metadata["results"]) != w.results || e.IP != "127.0.0.1" || e.UserAgent != "console-test/1.0" {
			t.Errorf("record %d: %+v %v from %s, want %+v", i, e.Actor, e.Metadata, e.IP, w)
		}
	}
}

// TestConsoleFiltersTheRecordsOfReads: action:audit_log.viewed filters
// the records of reads like any event, and the action is offered in the
// page's list of actions.
func TestConsoleFiltersTheRecordsOfReads(t *testing.T) {
	s := newSite(t)
	s.seed(6)
	viewed := s.recordReads(t)
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	b := s.client(t)
	b.login("auditor@acme.example", password)
	_, body := b.do("GET", "/admin/audit-logs", nil)
	if !strings.Contains(body, `<option value="audit_log.viewed">`) {
		t.Fatal("audit_log.viewed is not among the actions offered")
	}
	if n := len(viewed("acme")); n != 1 { // and the record is stored
		t.Fatalf("%d records", n)
	}
	for _, path := range []string{"/admin/audit-logs?q=action:audit_log.viewed", "/admin/audit-logs?action=audit_log.viewed&category=audit"} {
		resp, body := b.do("GET", path, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `<code class="action">audit_log.viewed</code>`) || strings.Contains(body, "user.login</code>") {
			t.Fatalf("%s: %d, the record of the read is not alone", path, resp.StatusCode)
		}
	}
}

// TestConsoleOperatorReadsAreRecordedInTheAccountRead: an operator reads
// a customer's log from the console by choosing the account; the read is
// recorded in that account and in _system. A customer's user cannot
// name another account.
func TestConsoleOperatorReadsAreRecordedInTheAccountRead(t *testing.T) {
	s := newSite(t)
	s.seed(6)
	viewed := s.recordReads(t)
	s.user(stele.SystemAccount, "op@stele.example", stele.RoleOwner)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	op := s.client(t)
	op.login("op@stele.example", password)
	resp, body := op.do("GET", "/admin/audit-logs?account=acme&range=all", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="viewing">of acme`) || !strings.Contains(body, "ada@acme.io") || strings.Contains(body, "spy@globex.io") {
		t.Fatalf("operator's view of acme: %d", resp.StatusCode)
	}
	event := firstMatch(t, eventRowLink, body)
	if !strings.HasSuffix(event, "?account=acme") {
		t.Fatalf("event link %q does not keep the account", event)
	}
	if resp, _ := op.do("GET", event, nil); resp.StatusCode != 200 {
		t.Fatalf("operator's view of an acme event: %d", resp.StatusCode)
	}
	if resp, body := op.do("GET", "/admin/audit-logs/export?format=jsonl&range=all&account=acme", nil); resp.StatusCode != 200 ||
		!strings.Contains(body, "ada@acme.io") || strings.Contains(body, "spy@globex.io") {
		t.Fatalf("operator's export of acme: %d", resp.StatusCode)
	}
	cust := s.client(t)
	cust.login("owner@acme.example", password)
	for _, path := range []string{"/admin/audit-logs?account=globex", "/admin/audit-logs/" + strings.TrimSuffix(strings.TrimPrefix(event, "/admin/audit-logs/"), "?account=acme") + "?account=globex"} {
		if resp, body := cust.do("GET", path, nil); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "GLOBEX-SECRET") {
			t.Fatalf("a customer naming globex: %s %d", path, resp.StatusCode)
		}
	}
	if denied := s.apiEvents("action:audit_log.denied"); len(denied) != 2 || denied[0].Metadata["permission"] != "operator" || denied[0].Actor.Email != "owner@acme.example" {
		t.Fatalf("the customer's refusals: %+v", denied)
	}
	if resp, _ := op.do("GET", "/admin/audit-logs?account=initech", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown account: %d", resp.StatusCode)
	}
	for _, account := range []string{"acme", stele.SystemAccount} {
		got := viewed(account)
		var views []string
		for _, e := range got {
			if e.Actor.Email == "op@stele.example" {
				views = append(views, fmt.Sprint(e.Metadata["view"]))
			}
		}
		if !slices.Equal(views, []string{"search", "event"}) {
			t.Errorf("%s: the operator's reads recorded as %v", account, views)
		}
	}
	// The export, recorded at once (not a coalesced read), in both logs.
	exported := s.apiEvents("action:audit_log.exported")
	if len(exported) != 1 || exported[0].Actor.Email != "op@stele.example" || exported[0].Metadata["reader_account"] != stele.SystemAccount {
		t.Fatalf("acme's record of the operator's export: %+v", exported)
	}
}

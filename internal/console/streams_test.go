package console_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/stream"
)

// siteStreams is the streams service of a test site, and its forwarder,
// which a test runs when it wants events to flow.
func siteStreams(db *sqlite.DB, c *datapath.Path, logger *slog.Logger) (*stream.Service, *stream.Forwarder) {
	rec := &audit.Recorder{Sink: c.Ingest, Logger: logger}
	fwd := &stream.Forwarder{Store: db, Keys: c.Keyring, Audit: rec, Logger: logger, Wake: c.Writer.NextCommit,
		Config: stream.Config{Poll: 50 * time.Millisecond, Refresh: 100 * time.Millisecond, SaveEvery: 50 * time.Millisecond}}
	return &stream.Service{Store: db, Secrets: c.Keyring, Audit: rec, Changed: fwd.Poke}, fwd
}

// lines is an HTTPS receiver that counts the NDJSON lines it accepts and
// keeps the Authorization headers it saw.
type lines struct {
	mu    sync.Mutex
	n     int
	auth  []string
	srv   *httptest.Server
	roots *x509.CertPool
}

func newLines(t *testing.T) *lines {
	l := &lines{}
	l.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.n += strings.Count(string(b), "\n")
		l.auth = append(l.auth, r.Header.Get("Authorization"))
		l.mu.Unlock()
	}))
	t.Cleanup(l.srv.Close)
	l.roots = x509.NewCertPool()
	l.roots.AddCert(l.srv.Certificate())
	return l
}

func (l *lines) count() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, append([]string(nil), l.auth...)
}

var streamLink = regexp.MustCompile(`href="/admin/settings/streams/(str_[a-z0-9]+)"`)

// TestOwnerManagesStreamsInSettings: an owner creates a stream from the
// form (its token never comes back in a page), sees it listed with its
// state and lag, edits it, asks for a replay and deletes it; each change
// is recorded with the owner as actor; a bad form says what is wrong.
func TestOwnerManagesStreamsInSettings(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)

	resp, body := b.do("GET", "/admin/settings", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `href="/admin/settings/streams"`) {
		t.Fatalf("settings has no link to streams: %d", resp.StatusCode)
	}
	form := url.Values{"name": {"Splunk <prod>"}, "query": {"category:authentication"}, "type": {"https"}, "format": {"splunk_hec"},
		"url": {"https://hec.example.com:8088/services/collector/event"}, "headers": {"Authorization: Splunk console-token-123"},
		"start": {"now"}, "enabled": {"on"}, "csrf": {b.csrf("/admin/settings/streams")}}
	resp, _ = b.do("POST", "/admin/settings/streams", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "notice=created") {
		t.Fatalf("create: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, list := b.do("GET", "/admin/settings/streams", nil)
	m := streamLink.FindStringSubmatch(list)
	if m == nil || !strings.Contains(list, "Splunk &lt;prod&gt;") || !strings.Contains(list, ">running<") ||
		!strings.Contains(list, ">1 event<") { // stream.created, with no forwarder running

		t.Fatalf("the list:\n%s", list)
	}
	id := m[1]
	_, detail := b.do("GET", "/admin/settings/streams/"+id, nil)
	for _, page := range []string{list, detail} {
		if strings.Contains(page, "console-token") {
			t.Fatal("a page shows the header value")
		}
	}
	if !strings.Contains(detail, "Sends Authorization") || !strings.Contains(detail, `id="replay-form"`) {
		t.Fatalf("the detail page:\n%s", detail)
	}

	// A bad form is refused naming the field, and keeps what was typed
	// but the headers.
	bad := url.Values{"name": {"Splunk <prod>"}, "query": {"after:24h"}, "type": {"syslog"}, "format": {"ndjson"}, "address": {"siem"},
		"enabled": {"on"}, "csrf": {b.csrf("/admin/settings/streams/" + id)}}
	resp, body = b.do("POST", "/admin/settings/streams/"+id, bad)
	if resp.StatusCode != 400 || !strings.Contains(body, "relative to now") || !strings.Contains(body, "host:port") || !strings.Contains(body, `value="after:24h"`) {
		t.Fatalf("a bad edit: %d\n%s", resp.StatusCode, body)
	}

	// Edit: off, another format, headers kept.
	edit := url.Values{"name": {"Splunk"}, "query": {""}, "type": {"https"}, "format": {"ndjson"},
		"url": {"https://hec.example.com:8088/services/collector/raw"}, "csrf": {b.csrf("/admin/settings/streams/" + id)}}
	resp, _ = b.do("POST", "/admin/settings/streams/"+id, edit)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	got, err := s.con.Streams.Get(context.Background(), stream.Owner{Account: s.accts["acme"]}, id)
	if err != nil || got.Enabled || got.Name != "Splunk" || got.Destination.Format != "ndjson" || len(got.Destination.HeaderNames) != 1 {
		t.Fatalf("after the edit: %+v, %v", got, err)
	}
	resp, _ = b.do("POST", "/admin/settings/streams/"+id+"/replay", url.Values{"after": {"2026-01-01T00:00"}, "before": {"2026-01-01T06:00"},
		"csrf": {b.csrf("/admin/settings/streams/" + id)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	_, detail = b.do("GET", "/admin/settings/streams/"+id, nil)
	if !strings.Contains(detail, ">pending<") || !strings.Contains(detail, ">disabled<") {
		t.Fatalf("the detail after a replay:\n%s", detail)
	}
	resp, body = b.do("POST", "/admin/settings/streams/"+id+"/replay", url.Values{"after": {"soon"}, "before": {"2026-01-01T06:00"},
		"csrf": {b.csrf("/admin/settings/streams/" + id)}})
	if resp.StatusCode != 400 || !strings.Contains(body, "From: enter a date") {
		t.Fatalf("a bad replay: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/admin/settings/streams/"+id+"/delete", url.Values{"csrf": {b.csrf("/admin/settings/streams/" + id)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/admin/settings/streams/"+id, nil); resp.StatusCode != 404 {
		t.Fatalf("a deleted stream's page: %d", resp.StatusCode)
	}

	for _, acct := range []string{"acme", stele.SystemAccount} {
		evs := s.events(acct, "action:stream.*")
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action)
			if e.Actor == nil || e.Actor.Email != "owner@acme.example" || e.IP != "127.0.0.1" {
				t.Fatalf("%s: %s by %+v from %q", acct, e.Action, e.Actor, e.IP)
			}
			if b, _ := json.Marshal(e); strings.Contains(string(b), "console-token") {
				t.Fatalf("%s: the token is in %s", acct, e.Action)
			}
		}
		if strings.Join(actions, " ") != "stream.deleted stream.replayed stream.updated stream.created" {
			t.Fatalf("%s: %v", acct, actions)
		}
	}
}

// TestOnlyOwnersSeeStreamsAndOnlyTheirAccounts: admins, auditors and
// members are refused (and the refusal recorded); another account's
// owner finds no stream of acme's.
func TestOnlyOwnersSeeStreamsAndOnlyTheirAccounts(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	s.user("globex", "owner@globex.example", stele.RoleOwner)
	for _, r := range []stele.Role{stele.RoleAdmin, stele.RoleAuditor, stele.RoleMember} {
		s.user("acme", string(r)+"@acme.example", r)
	}
	v, err := s.con.Streams.Create(context.Background(), stream.Owner{Account: s.accts["acme"]},
		stream.Input{Name: "siem", Destination: &stele.StreamDestination{Type: "syslog", Address: "siem.example.com:514", Format: "cef"}}, audit.CLI())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []stele.Role{stele.RoleAdmin, stele.RoleAuditor, stele.RoleMember} {
		b := s.client(t)
		b.login(string(r)+"@acme.example", password)
		_, settings := b.do("GET", "/admin/settings", nil)
		if strings.Contains(settings, "/admin/settings/streams") {
			t.Fatalf("%s sees the link to streams", r)
		}
		for _, path := range []string{"/admin/settings/streams", "/admin/settings/streams/" + v.ID} {
			if resp, body := b.do("GET", path, nil); resp.StatusCode != 403 || strings.Contains(body, "siem.example.com") {
				t.Fatalf("%s GET %s: %d", r, path, resp.StatusCode)
			}
		}
		csrf := b.csrf("/admin/settings")
		if resp, _ := b.do("POST", "/admin/settings/streams/"+v.ID+"/delete", url.Values{"csrf": {csrf}}); resp.StatusCode != 403 {
			t.Fatalf("%s deleted a stream: %d", r, resp.StatusCode)
		}
	}
	b := s.client(t)
	b.login("owner@globex.example", password)
	if resp, _ := b.do("GET", "/admin/settings/streams/"+v.ID, nil); resp.StatusCode != 404 {
		t.Fatalf("globex's owner opened acme's stream: %d", resp.StatusCode)
	}
	if _, body := b.do("GET", "/admin/settings/streams", nil); strings.Contains(body, v.ID) {
		t.Fatal("globex's owner lists acme's stream")
	}
	csrf := b.csrf("/admin/settings/streams")
	if resp, _ := b.do("POST", "/admin/settings/streams/"+v.ID+"/delete", url.Values{"csrf": {csrf}}); resp.StatusCode != 404 {
		t.Fatalf("globex's owner deleted acme's stream: %d", resp.StatusCode)
	}
	if got := s.events("acme", "action:audit_log.denied"); len(got) != 9 {
		t.Fatalf("%d refusals recorded, want 9", len(got))
	}
}

// streamsInChromium is the Settings → Streams part of the end-to-end run:
// the owner (signed in) creates a stream to an HTTPS collector from the
// form, watches the list until its lag shows zero with every event sent,
// disables it, asks for a replay and deletes it.
func streamsInChromium(t *testing.T, ctx context.Context, s *site, dir string) {
	base := s.srv.URL
	collector := newLines(t)
	s.fwd.Options.RootCAs = collector.roots
	fctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.fwd.Run(fctx) }()
	defer func() { stop(); <-done }()

	run(t, ctx, chromedp.Navigate(base+"/admin/settings"), chromedp.WaitVisible("#streams-link", chromedp.ByQuery))
	submitAndWait(t, ctx, "#streams-link", "/admin/settings/streams")
	screenshot(t, ctx, dir, "streams-empty")
	run(t, ctx,
		chromedp.SendKeys("#stream-name", "Data lake", chromedp.ByQuery),
		chromedp.SendKeys("#stream-query", "-action:stream.*", chromedp.ByQuery),
		chromedp.Click("#type-https", chromedp.ByQuery),
		chromedp.SetValue("#stream-format", "ndjson", chromedp.ByQuery),
		chromedp.SendKeys("#stream-url", collector.srv.URL+"/ingest", chromedp.ByQuery),
		chromedp.SendKeys("#stream-headers", "Authorization: Bearer e2e-token-9", chromedp.ByQuery),
		chromedp.SetValue("#stream-start", "oldest", chromedp.ByQuery),
	)
	submitAndWait(t, ctx, "#stream-create", "notice=created")
	run(t, ctx, chromedp.WaitVisible("#stream-status", chromedp.ByQuery))
	want := len(s.apiEvents("-action:stream.*"))
	// Reload the list until it shows the stream caught up.
	var lag string
	for deadline := time.Now().Add(time.Minute); ; {
		run(t, ctx, chromedp.Navigate(base+"/admin/settings/streams"), chromedp.WaitVisible("#streams", chromedp.ByQuery),
			chromedp.Text("#streams tbody td.stream-lag", &lag, chromedp.ByQuery))
		if n, _ := collector.count(); n >= want && strings.HasPrefix(lag, "0 events") {
			break
		}
		if time.Now().After(deadline) {
			n, _ := collector.count()
			t.Fatalf("after a minute the list shows lag %q, the collector has %d lines of %d", lag, n, want)
		}
	}
	screenshot(t, ctx, dir, "streams-list")
	if n, auth := collector.count(); n != want || auth[0] != "Bearer e2e-token-9" {
		t.Fatalf("the collector got %d lines (want %d) with %q", n, want, auth[0])
	}
	var html string
	run(t, ctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, "e2e-token") {
		t.Fatal("the page shows the token")
	}
	submitAndWait(t, ctx, "#streams tbody a.stream-link", "/admin/settings/streams/str_")
	run(t, ctx, chromedp.WaitVisible("#stream-form", chromedp.ByQuery), chromedp.Click("#stream-enabled", chromedp.ByQuery))
	submitAndWait(t, ctx, "#stream-save", "notice=saved")
	var state string
	run(t, ctx, chromedp.Text("#stream-state", &state, chromedp.ByQuery))
	if state != "disabled" {
		t.Fatalf("after switching it off the state is %q", state)
	}
	submitAndWait(t, ctx, "#replay-submit", "notice=replayed")
	run(t, ctx, chromedp.WaitVisible("#replays", chromedp.ByQuery))
	screenshot(t, ctx, dir, "stream-detail")
	// The confirm dialog of the delete button is accepted.
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	submitAndWait(t, ctx, "#stream-delete", "notice=deleted")
	if rows := texts(t, ctx, "#streams tbody tr"); len(rows) != 0 {
		t.Fatalf("%d streams listed after the delete", len(rows))
	}
}

// TestStreamPagesShowHostileValuesSafely: a stream's name and query are
// the owner's, its last error partly a remote destination's answer: all
// of it is shown as text.
func TestStreamPagesShowHostileValuesSafely(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	v, err := s.con.Streams.Create(context.Background(), stream.Owner{Account: s.accts["acme"]},
		stream.Input{Name: "n" + evil, Query: `"` + strings.ReplaceAll(evil, `"`, `\"`) + `"`,
			Destination: &stele.StreamDestination{Type: "https", URL: "https://hec.example.com/x?q=" + url.QueryEscape(evil), Format: "ndjson",
				Headers: map[string]string{"X-Evil": "v"}}}, audit.CLI())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.AdvanceStream(context.Background(), v.ID, 1, nil, &stele.StreamHealth{LastError: "https answered 400: " + evil, LastErrorAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b := s.client(t)
	b.login("owner@acme.example", password)
	for _, p := range []string{"/admin/settings/streams", "/admin/settings/streams/" + v.ID} {
		resp, body := b.do("GET", p, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if got := unsafeMarkup(body); got != nil {
			t.Errorf("%s: markup from a stream: %q", p, got)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the hostile text is not shown as text", p)
		}
	}
}

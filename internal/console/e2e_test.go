package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/alert"
	"github.com/stele-audit/stele/internal/api"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/console"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/notify"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/stream"
	"github.com/stele-audit/stele/internal/users"
)

const password = "correct horse battery staple"

// site is Stele with its console on a real SQLite file behind a real listener.
type site struct {
	t      testing.TB
	srv    *httptest.Server
	db     *sqlite.DB
	ingest *ingest.Service
	con    *console.Server
	accts  map[string]*stele.Account
	key    string // acme's read+export API key
	close  func() // stops the server and closes the store, once
	logs   *logBuffer
	fwd    *stream.Forwarder // not running: a test runs it
}

// logBuffer keeps what the site logs, for tests that read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newSite(t testing.TB) *site {
	t.Helper()
	return openSite(t, filepath.Join(t.TempDir(), "stele.db"), nil)
}

// openSite serves the SQLite file at path. With from, the file is from's
// and has its accounts and key already: another node on the same store, or
// the same one restarted.
func openSite(t testing.TB, path string, from *site) *site {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	master, err := seal.NewMasterKey(1, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	c := datapath.Start(db, sqlitetest.KeysAt(t, path+".keys"), master, logger, ingest.WriterConfig{})
	keyring, ing, srch := c.Keyring, c.Ingest, c.Search
	streams, fwd := siteStreams(db, c, logger)
	apiSrv := &api.Server{Ingest: ing, Search: srch, Accounts: db, APIKeys: db, Logger: logger, Ready: db.Ping}
	notifier, err := notify.New(notify.Config{ConsoleURL: "http://127.0.0.1", URLPolicy: notify.URLPolicy{AllowLoopbackHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	rules := &alert.Service{Store: db, Sealer: keyring, Audit: &audit.Recorder{Sink: ing, Logger: logger},
		Policy: notify.URLPolicy{AllowLoopbackHTTP: true}, Notifier: notifier}
	con := &console.Server{Accounts: db, Users: db, Sessions: db, APIKeys: db, Counter: db,
		Search: srch, Ingest: ing, Logger: logger, Secrets: keyring, Retention: &retention.Settings{Accounts: db, Audit: &audit.Recorder{Sink: ing}},
		Throttle: db, Streams: streams, Alerts: rules}
	if err := con.Init(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", apiSrv.Handler())
	con.Routes(mux)
	s := &site{t: t, srv: httptest.NewServer(mux), db: db, ingest: ing, con: con, accts: map[string]*stele.Account{}, logs: logs, fwd: fwd}
	s.close = sync.OnceFunc(func() {
		s.srv.Close()
		c.Stop()
		db.Close()
	})
	t.Cleanup(s.close)
	if from != nil {
		s.accts, s.key = from.accts, from.key
		return s
	}
	for _, name := range []string{stele.SystemAccount, "acme", "globex"} {
		a := &stele.Account{Name: name, Type: "team"}
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		s.accts[name] = a
	}
	_, s.key, err = apikey.Issue(ctx, db, s.accts["acme"], []stele.Scope{stele.ScopeEventsRead, stele.ScopeEventsExport}, false, "e2e", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) user(account, email string, role stele.Role) {
	s.t.Helper()
	u, _, err := users.New(s.accts[account], email, "", role, password)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.db.CreateUser(context.Background(), u); err != nil {
		s.t.Fatal(err)
	}
}

// seed records n events in acme: logins by ada, role changes by bob, and
// findings from a source; and a few globex events that acme must never see.
func (s *site) seed(n int) {
	s.t.Helper()
	now := time.Now().UTC()
	var evs []stele.Event
	for i := range n {
		e := stele.Event{Account: "acme", Time: now.Add(-time.Duration(i+1) * time.Minute), Outcome: stele.OutcomeSuccess, IP: "203.0.113.7"}
		switch i % 3 {
		case 0:
			e.Action, e.Actor = "user.login", &stele.Ref{Type: "user", ID: "u_ada", Name: "Ada Lovelace", Email: "ada@acme.io"}
		case 1:
			e.Action, e.Actor = "user.role_changed", &stele.Ref{Type: "user", ID: "u_bob", Name: "Bob", Email: "bob@acme.io"}
			e.Target = &stele.Ref{Type: "user", ID: "u_eve", Name: "Eve"}
			e.Metadata = map[string]any{"role_before": "member", "role_after": "admin"}
		default:
			e.Action, e.Actor = "finding.generated", &stele.Ref{Type: "service", ID: "scanner"}
			e.Source = &stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"}
			e.Outcome = stele.OutcomeFailure
		}
		e.Description = fmt.Sprintf("acme event %d, =SUM(A1)", i)
		evs = append(evs, e)
	}
	for i := range 5 {
		evs = append(evs, stele.Event{Account: "globex", Action: "user.login", Time: now.Add(-time.Duration(i+1) * time.Minute),
			Actor: &stele.Ref{Type: "user", ID: "u_spy", Email: "spy@globex.io"}, Description: "GLOBEX-SECRET"})
	}
	if _, err := s.ingest.Record(context.Background(), evs...); err != nil {
		s.t.Fatal(err)
	}
}

// apiEvents lists acme's events matching q through the JSON API.
func (s *site) apiEvents(q string) []stele.Event {
	s.t.Helper()
	var all []stele.Event
	cursor := ""
	for {
		v := url.Values{"q": {q}, "limit": {"1000"}}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		req, _ := http.NewRequest("GET", s.srv.URL+"/v1/events?"+v.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+s.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		var page struct {
			Events     []stele.Event `json:"events"`
			NextCursor *string       `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			s.t.Fatalf("GET /v1/events %q: %d %v", q, resp.StatusCode, err)
		}
		all = append(all, page.Events...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
}

// browser starts headless Chromium, or skips when it is absent and
// STELE_REQUIRE_CHROMIUM is unset.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("STELE_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("STELE_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("STELE_REQUIRE_CHROMIUM is set but Chromium is not at %s: %v", path, err)
		}
		t.Skipf("Chromium not found at %s (apt-get install -y chromium); set STELE_REQUIRE_CHROMIUM=1 to fail instead", path)
	}
	// The profile is removed after Chromium has exited, not by t.TempDir,
	// whose cleanup could race Chromium's last writes.
	profile, err := os.MkdirTemp("", "stele-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.UserDataDir(profile), chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc(); os.RemoveAll(profile) })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STELE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	run(t, ctx, chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
		// Not a wait for #main: the login page has one too, and navigating
		// before the sign-in's response arrives cancels it (no session).
		waitForURL("a page past /login", func(loc string) bool { return !strings.Contains(loc, "/login") }),
		chromedp.WaitVisible("#main", chromedp.ByQuery),
	)
}

// submitAndWait clicks sel and waits until the page's URL contains want.
func submitAndWait(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	run(t, ctx, chromedp.Click(sel, chromedp.ByQuery),
		waitForURL(fmt.Sprintf("%q in the URL", want), func(loc string) bool { return strings.Contains(loc, want) }))
}

// waitForURL waits until the page's URL satisfies ok and it has loaded.
func waitForURL(what string, ok func(loc string) bool) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var loc, state string
			if err := chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate("document.readyState", &state)); err != nil {
				return err
			}
			if ok(loc) && state == "complete" {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s (at %s): %w", what, loc, ctx.Err())
			case <-time.After(20 * time.Millisecond): // polling the browser, not synchronising goroutines
			}
		}
	})
}

// texts returns the text of every element matching a CSS selector.
func texts(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	var out []string
	run(t, ctx, chromedp.Evaluate(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.textContent.trim())`, sel), &out))
	return out
}

func TestConsoleEndToEndInChromium(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	s.user("acme", "member@acme.example", stele.RoleMember)
	s.user("globex", "owner@globex.example", stele.RoleOwner)
	s.seed(120)
	base := s.srv.URL

	t.Run("SignIn", func(t *testing.T) {
		signIn(t, ctx, base, "owner@acme.example")
		run(t, ctx, chromedp.WaitVisible("#events", chromedp.ByQuery), chromedp.WaitVisible("svg.chart", chromedp.ByQuery))
		if rows := texts(t, ctx, "#events tbody tr"); len(rows) != console.PageSize {
			t.Fatalf("%d rows on the first page, want %d", len(rows), console.PageSize)
		}
		screenshot(t, ctx, dir, "audit-logs")
		// The same page on a phone: the sidebar becomes a top bar.
		run(t, ctx, chromedp.EmulateViewport(390, 844))
		screenshot(t, ctx, dir, "audit-logs-phone")
		run(t, ctx, chromedp.EmulateViewport(1440, 1000))
	})

	t.Run("FilterByUser", func(t *testing.T) {
		run(t, ctx,
			chromedp.SetValue("#actor", "ada@acme.io", chromedp.ByQuery),
		)
		submitAndWait(t, ctx, "#apply", "actor=ada%40acme.io")
		actors := texts(t, ctx, "#events tbody td.actor")
		if len(actors) != 40 || slices.ContainsFunc(actors, func(a string) bool { return a != "ada@acme.io" }) {
			t.Fatalf("filtered by ada: %d rows %q", len(actors), actors)
		}
		var loc string
		run(t, ctx, chromedp.Location(&loc))
		if !strings.Contains(loc, "actor=ada%40acme.io") {
			t.Fatalf("the filter is not in the URL: %s", loc)
		}
		screenshot(t, ctx, dir, "audit-logs-by-user")
	})

	t.Run("FilterByActivityType", func(t *testing.T) {
		run(t, ctx,
			chromedp.Navigate(base+"/admin/audit-logs"),
			chromedp.WaitVisible("#category", chromedp.ByQuery),
			chromedp.SetValue("#category", "user_management", chromedp.ByQuery),
		)
		submitAndWait(t, ctx, "#apply", "category=user_management")
		actions := texts(t, ctx, "#events tbody code.action")
		if len(actions) != 40 || slices.ContainsFunc(actions, func(a string) bool { return a != "user.role_changed" }) {
			t.Fatalf("filtered by user_management: %d rows %q", len(actions), actions)
		}
	})

	t.Run("Page", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs?range=all"), chromedp.WaitVisible("#older", chromedp.ByQuery))
		first := texts(t, ctx, "#events tbody a.row-link")
		submitAndWait(t, ctx, "#older", "cursor=")
		second := texts(t, ctx, "#events tbody a.row-link")
		var hrefs []string
		run(t, ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll("#events tbody a.row-link")).map(a => a.getAttribute("href"))`, &hrefs))
		want := s.apiEvents("")
		if len(second) != console.PageSize || len(first) != console.PageSize {
			t.Fatalf("pages of %d and %d rows", len(first), len(second))
		}
		for i, h := range hrefs {
			if h != "/admin/audit-logs/"+want[console.PageSize+i].ID {
				t.Fatalf("page 2 row %d is %s, the API says %s", i, h, want[console.PageSize+i].ID)
			}
		}
		screenshot(t, ctx, dir, "audit-logs-page-2")
	})

	t.Run("OpenDetail", func(t *testing.T) {
		submitAndWait(t, ctx, "#events tbody a.row-link", "/admin/audit-logs/evt_")
		run(t, ctx, chromedp.WaitVisible("#event-fields", chromedp.ByQuery))
		var body string
		run(t, ctx, chromedp.Text("#event-fields", &body, chromedp.ByQuery))
		if !strings.Contains(body, "evt_") || !strings.Contains(body, "acme") {
			t.Fatalf("detail: %q", body)
		}
		run(t, ctx, chromedp.WaitVisible("#integrity", chromedp.ByQuery))
		screenshot(t, ctx, dir, "event-detail")
	})

	t.Run("ExportCSVMatchesAPI", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs?range=all&category=authentication"), chromedp.WaitVisible("#export-csv", chromedp.ByQuery))
		var href string
		run(t, ctx, chromedp.AttributeValue("#export-csv", "href", &href, nil, chromedp.ByQuery))
		var body string
		run(t, ctx, chromedp.Evaluate(fmt.Sprintf(`fetch(%q).then(r => r.text())`, href), &body, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}))
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v", err)
		}
		want := s.apiEvents("category:authentication")
		if len(recs) != len(want)+1 {
			t.Fatalf("CSV has %d rows, the API %d events", len(recs)-1, len(want))
		}
		for i, e := range want {
			r := recs[i+1]
			if r[0] != e.ID || r[5] != e.Action || r[2] != e.Time.UTC().Format("2006-01-02T15:04:05.000000Z") {
				t.Fatalf("row %d %q, API event %+v", i, r[:6], e)
			}
			if strings.Contains(e.Description, "=SUM") && !strings.HasPrefix(r[21], "acme") {
				t.Fatalf("description cell %q", r[21])
			}
		}
		exports := s.apiEvents("action:audit_log.exported")
		if len(exports) == 0 || exports[0].Metadata["query"] == "" || exports[0].Actor.Email != "owner@acme.example" {
			t.Fatalf("the export was not recorded: %+v", exports)
		}
	})

	t.Run("ExportOCSFMatchesAPI", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs?range=all&category=authentication"), chromedp.WaitVisible("#export-ocsf", chromedp.ByQuery))
		var href string
		run(t, ctx, chromedp.AttributeValue("#export-ocsf", "href", &href, nil, chromedp.ByQuery))
		var body string
		run(t, ctx, chromedp.Evaluate(fmt.Sprintf(`fetch(%q).then(r => r.text())`, href), &body, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}))
		want := s.apiEvents("category:authentication")
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if len(lines) != len(want) {
			t.Fatalf("OCSF has %d lines, the API %d events", len(lines), len(want))
		}
		for i, e := range want {
			var o struct {
				ClassUID int `json:"class_uid"`
				Metadata struct {
					UID       string `json:"uid"`
					EventCode string `json:"event_code"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal([]byte(lines[i]), &o); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if o.Metadata.UID != e.ID || o.Metadata.EventCode != e.Action || (o.ClassUID != 3002 && o.ClassUID != 3001) {
				t.Fatalf("line %d %s, API event %+v", i, lines[i], e)
			}
		}
	})

	t.Run("SecondAccountNeverAppears", func(t *testing.T) {
		var html string
		for _, path := range []string{"/admin/audit-logs?range=all", "/admin/audit-logs?range=all&q=GLOBEX-SECRET", "/admin/audit-logs?range=all&actor=spy%40globex.io"} {
			run(t, ctx, chromedp.Navigate(base+path), chromedp.WaitVisible("#main", chromedp.ByQuery))
			for _, row := range texts(t, ctx, "#events tbody tr") {
				if strings.Contains(row, "GLOBEX") || strings.Contains(row, "spy@globex.io") {
					t.Fatalf("%s shows globex's event %q", path, row)
				}
			}
		}
		for _, e := range s.apiEvents("") {
			if e.Account != "acme" {
				t.Fatalf("acme's key read %s's event", e.Account)
			}
		}
		globexID := stele.EventID(s.accts["globex"].ID, 0)
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs/"+globexID), chromedp.WaitVisible("#main", chromedp.ByQuery), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
		if strings.Contains(html, "GLOBEX") || !strings.Contains(html, "Not found") {
			t.Fatalf("globex's event opened from acme")
		}
		screenshot(t, ctx, dir, "empty-state")
	})

	t.Run("Streams", func(t *testing.T) { streamsInChromium(t, ctx, s, dir) })
	t.Run("AlertRules", func(t *testing.T) { alertRulesInChromium(t, ctx, s, dir) })

	t.Run("SignOut", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs"), chromedp.WaitVisible("#sign-out", chromedp.ByQuery),
			chromedp.Click("#sign-out", chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByQuery))
		var loc string
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs"), chromedp.WaitVisible("#email", chromedp.ByQuery), chromedp.Location(&loc))
		if !strings.Contains(loc, "/login") {
			t.Fatalf("after sign-out the log is at %s", loc)
		}
		screenshot(t, ctx, dir, "login")
		if got := s.apiEvents("action:user.logout"); len(got) != 1 || got[0].IP == "" || got[0].UserAgent == "" {
			t.Fatalf("logout events: %+v", got)
		}
	})

	t.Run("MemberIsRefused", func(t *testing.T) {
		signIn(t, ctx, base, "member@acme.example")
		run(t, ctx, chromedp.Navigate(base+"/admin/audit-logs"), chromedp.WaitVisible("#forbidden", chromedp.ByQuery))
		var html string
		run(t, ctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery))
		if strings.Contains(html, "acme event") {
			t.Fatal("the member sees events")
		}
		screenshot(t, ctx, dir, "forbidden")
		denied := s.apiEvents("action:audit_log.denied")
		if len(denied) == 0 || denied[0].Actor.Email != "member@acme.example" || denied[0].Metadata["permission"] != "audit_logs.read" {
			t.Fatalf("the refusal was not recorded: %+v", denied)
		}
		resp, err := http.Get(base + "/admin/audit-logs/export?format=csv")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/login" {
			t.Fatalf("an export without a session ended at %s", resp.Request.URL)
		}
	})

	t.Run("MemberSeesNoAlerts", func(t *testing.T) {
		run(t, ctx, chromedp.Navigate(base+"/admin/settings"), chromedp.WaitVisible("#settings", chromedp.ByQuery))
		if tabs := texts(t, ctx, "#alerts-tab"); len(tabs) != 0 {
			t.Fatal("a member sees Settings → Alerts")
		}
		run(t, ctx, chromedp.Navigate(base+"/admin/settings/alerts"), chromedp.WaitVisible("#forbidden", chromedp.ByQuery))
	})
}

package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/console"
)

// browserless is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
type browserless struct {
	t *testing.T
	c *http.Client
	s *site
}

func (s *site) client(t *testing.T) *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{t: t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserless) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "console-test/1.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *browserless) login(email, pw string) *http.Response {
	b.t.Helper()
	resp, _ := b.do("POST", "/login", url.Values{"email": {email}, "password": {pw}})
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func (b *browserless) csrf(path string) string {
	b.t.Helper()
	_, body := b.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf token on %s", path)
	}
	return m[1]
}

func TestSignInSetsAHardenedSessionAndRecordsIt(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	resp := b.login("owner@acme.example", password)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/audit-logs" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := resp.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || len(c.Value) < 40 {
		t.Fatalf("cookie %+v", c)
	}
	resp, body := b.do("GET", "/admin/audit-logs", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Audit Logs") {
		t.Fatalf("audit logs: %d", resp.StatusCode)
	}
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		"X-Frame-Options":         "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
	} {
		if !strings.HasPrefix(h.Get(k), want) {
			t.Errorf("%s = %q", k, h.Get(k))
		}
	}
	if strings.Contains(body, "style=") || strings.Contains(body, "<script>") {
		t.Error("inline style or script in the page")
	}
	got := s.apiEvents("action:user.login")
	if len(got) != 1 || got[0].IP != "127.0.0.1" || got[0].UserAgent != "console-test/1.0" || got[0].Category != stele.CategoryAuthentication {
		t.Fatalf("login events %+v", got)
	}
}

func TestRepeatedFailuresLockTheEmailOutAndAreRecorded(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	for i := range 5 {
		if resp := b.login("owner@acme.example", "wrong password "+string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	if resp := b.login("owner@acme.example", password); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked: %d, want 429", resp.StatusCode)
	}
	if n := len(s.apiEvents("action:user.login_failed")); n != 6 {
		t.Fatalf("%d login_failed events, want 6", n)
	}
	locked := s.apiEvents("action:user.locked_out")
	if len(locked) != 1 || locked[0].Category != stele.CategoryAuthentication || locked[0].Actor.Email != "owner@acme.example" {
		t.Fatalf("locked_out events %+v", locked)
	}
	// Other emails are not locked by it.
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	if resp := b.login("auditor@acme.example", password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("other user: %d", resp.StatusCode)
	}
}

func TestStateChangesNeedTheFormTokenAndTheSameOrigin(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)
	form := url.Values{"email": {"x@acme.example"}, "role": {"member"}}
	if resp, _ := b.do("POST", "/admin/users", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without token: %d", resp.StatusCode)
	}
	form.Set("csrf", b.csrf("/admin/users"))
	if resp, _ := b.do("POST", "/admin/users", form, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %d", resp.StatusCode)
	}
	resp, body := b.do("POST", "/admin/users", form, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != 200 || !strings.Contains(body, "x@acme.example") {
		t.Fatalf("same origin with token: %d", resp.StatusCode)
	}
	created := s.apiEvents("action:user.created")
	if len(created) != 1 || created[0].Metadata["role_after"] != "member" || created[0].Category != stele.CategoryUserManagement {
		t.Fatalf("user.created %+v", created)
	}
}

func TestRoleChangeIsRecordedWithBeforeAndAfter(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	s.user("acme", "bob@acme.example", stele.RoleMember)
	bob, _ := s.db.UserByEmail(context.Background(), "bob@acme.example")
	b := s.client(t)
	b.login("owner@acme.example", password)
	resp, _ := b.do("POST", "/admin/users/"+bob.ID+"/role", url.Values{"role": {"auditor"}, "csrf": {b.csrf("/admin/users")}})
	if resp.StatusCode != 200 {
		t.Fatalf("change role: %d", resp.StatusCode)
	}
	got := s.apiEvents("action:user.role_changed")
	if len(got) != 1 || got[0].Metadata["role_before"] != "member" || got[0].Metadata["role_after"] != "auditor" || got[0].Target.ID != bob.ID {
		t.Fatalf("role_changed %+v", got)
	}
}

func TestAPIKeysAreShownOnceAndRevocationIsRecorded(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)
	_, body := b.do("POST", "/admin/api-keys", url.Values{"name": {"ci"}, "scope": {"events:write", "events:read"}, "csrf": {b.csrf("/admin/api-keys")}})
	m := regexp.MustCompile(`stele_(key_[a-z0-9]+)_[a-z0-9]+`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the new key is not shown")
	}
	if _, again := b.do("GET", "/admin/api-keys", nil); strings.Contains(again, m[0]) {
		t.Fatal("the key is shown a second time")
	}
	b.do("POST", "/admin/api-keys/"+m[1]+"/revoke", url.Values{"csrf": {b.csrf("/admin/api-keys")}})
	if got := s.apiEvents("action:api_key.revoked"); len(got) != 1 || got[0].Metadata["state_after"] != "revoked" {
		t.Fatalf("api_key.revoked %+v", got)
	}
}

func TestTOTPEnrolmentChallengeAndReplayRefusal(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	var mu sync.Mutex
	now := time.Now()
	s.con.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	step := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := s.client(t)
	b.login("owner@acme.example", password)
	_, page := b.do("GET", "/account", nil)
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(page)[1]
	code, _ := totp.GenerateCode(secret, s.con.Now())
	resp, _ := b.do("POST", "/account/mfa", url.Values{"secret": {secret}, "code": {code}, "csrf": {csrfField.FindStringSubmatch(page)[1]}})
	if resp.StatusCode != 200 {
		t.Fatalf("enrol: %d", resp.StatusCode)
	}
	stored, err := s.db.UserByEmail(t.Context(), "owner@acme.example")
	if err != nil || stored.TOTPSecret == secret || strings.Contains(stored.TOTPSecret, secret) || !strings.HasPrefix(stored.TOTPSecret, "sealed1.") {
		t.Fatalf("the TOTP seed is stored as %q (%v), not sealed", stored.TOTPSecret, err)
	}
	step(2 * time.Minute)

	c := s.client(t)
	if resp := c.login("owner@acme.example", password); resp.Header.Get("Location") != "/login/mfa" {
		t.Fatalf("no MFA step: %s", resp.Header.Get("Location"))
	}
	if resp, _ := c.do("GET", "/admin/audit-logs", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("half-signed-in session reached the log: %d", resp.StatusCode)
	}
	code, _ = totp.GenerateCode(secret, s.con.Now())
	if resp, _ := c.do("POST", "/login/mfa", url.Values{"code": {code}}); resp.Header.Get("Location") != "/admin/audit-logs" {
		t.Fatalf("valid code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	d := s.client(t)
	d.login("owner@acme.example", password)
	if resp, _ := d.do("POST", "/login/mfa", url.Values{"code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d, want 401", resp.StatusCode)
	}
	for action, n := range map[string]int{"user.mfa_enrolled": 1, "user.mfa_challenged": 2, "user.mfa_succeeded": 1, "user.mfa_failed": 1} {
		if got := len(s.apiEvents("action:" + action)); got != n {
			t.Errorf("%d %s events, want %d", got, action, n)
		}
	}
}

func TestSessionsEndIdleAfterPasswordChangeAndAtLogout(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	var mu sync.Mutex
	now := time.Now()
	s.con.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := s.client(t)
	b.login("owner@acme.example", password)
	mu.Lock()
	now = now.Add(console.IdleTimeout + time.Minute)
	mu.Unlock()
	if resp, _ := b.do("GET", "/admin/audit-logs", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle session still works: %d", resp.StatusCode)
	}
	if len(s.apiEvents("action:session.expired")) != 1 {
		t.Fatal("expiry not recorded")
	}

	b.login("owner@acme.example", password)
	other := s.client(t)
	other.login("owner@acme.example", password)
	resp, _ := b.do("POST", "/account/password", url.Values{"current": {password}, "new": {"a brand new passphrase"},
		"confirm": {"a brand new passphrase"}, "csrf": {b.csrf("/account")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", resp.StatusCode)
	}
	if resp, _ := other.do("GET", "/admin/audit-logs", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another session survived the password change: %d", resp.StatusCode)
	}
	if resp := b.login("owner@acme.example", "a brand new passphrase"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/logout", url.Values{"csrf": {b.csrf("/account")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/admin/audit-logs", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("the session outlived logout")
	}
}

func TestOperatorManagesAccountsButCannotReadTheirLogs(t *testing.T) {
	s := newSite(t)
	s.user(stele.SystemAccount, "op@stele.local", stele.RoleOwner)
	s.seed(3)
	b := s.client(t)
	b.login("op@stele.local", password)
	resp, body := b.do("POST", "/admin/accounts", url.Values{"name": {"initech"}, "type": {"team"}, "csrf": {b.csrf("/admin/accounts")}})
	if resp.StatusCode != 200 || !strings.Contains(body, "initech") {
		t.Fatalf("create account: %d", resp.StatusCode)
	}
	// Recorded in _system as the CLI records it: the type, the retention
	// and the quota it took, by the operator.
	created := s.events(stele.SystemAccount, "action:account.created")
	if len(created) != 1 || created[0].Target.ID != "initech" || created[0].Metadata["retention_days"] != json.Number("90") ||
		created[0].Metadata["ingest_events_per_second"] == nil || !strings.Contains(created[0].Description, "op@stele.local") {
		t.Fatalf("account.created %+v", created)
	}
	_, body = b.do("GET", "/admin/audit-logs?range=all", nil)
	if strings.Contains(body, "acme event") {
		t.Fatal("the operator reads acme's log")
	}
	if resp, _ := b.do("GET", "/admin/audit-logs/"+stele.EventID(s.accts["acme"].ID, 0), nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("operator opened acme's event: %d", resp.StatusCode)
	}
	s.user("acme", "member@acme.example", stele.RoleMember)
	m := s.client(t)
	m.login("member@acme.example", password)
	if resp, _ := m.do("GET", "/admin/accounts", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("member reached accounts: %d", resp.StatusCode)
	}
	if resp, _ := m.do("GET", "/admin/audit-logs/export?format=csv", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("member exported: %d", resp.StatusCode)
	}
}

// TestQueryBoxTakesTheLanguageAndSaysHowItWasRead: the filter box takes
// OR, parentheses and repeated qualifiers as the API does, and shows under
// itself how a query it had to interpret was read.
func TestQueryBoxTakesTheLanguageAndSaysHowItWasRead(t *testing.T) {
	s := newSite(t)
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	s.seed(6) // seqs 0 and 3 user.login by ada, 1 and 4 user.role_changed by bob, 2 and 5 finding.generated from aws-prod-123
	b := s.client(t)
	b.login("auditor@acme.example", password)
	for _, tc := range []struct {
		q      string
		events []int
		readAs string // "" when shown as typed
	}{
		{"action:user.login action:user.role_changed", []int{0, 1, 3, 4}, "action:user.login,user.role_changed"},
		{"action:user.login OR source:aws-prod-123", []int{0, 2, 3, 5}, ""},
		{"(actor:ada@acme.io OR source:aws-prod-123) -action:user.login", []int{2, 5}, ""},
		{"-(action:user.login OR actor:bob@acme.io)", []int{2, 5}, ""},
		{"actor:ada@acme.io OR actor:bob@acme.io AND outcome:success", []int{0, 1, 3, 4}, "actor:ada@acme.io OR (actor:bob@acme.io outcome:success)"},
		{"action:user.login or", nil, "action:user.login or"}, // shown: "or" was taken as a word
	} {
		resp, body := b.do("GET", "/admin/audit-logs?range=all&q="+url.QueryEscape(tc.q), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%q: %d", tc.q, resp.StatusCode)
		}
		for i := range 6 {
			link := `href="/admin/audit-logs/` + stele.EventID(s.accts["acme"].ID, int64(i)) + `"`
			if shown := strings.Contains(body, link); shown != slices.Contains(tc.events, i) {
				t.Errorf("%q: event %d shown %v, want the events %v", tc.q, i, shown, tc.events)
			}
		}
		read := strings.Contains(body, `id="q-read"`)
		if read != (tc.readAs != "") || tc.readAs != "" && !strings.Contains(body, "Read as: <code>"+html.EscapeString(tc.readAs)+"</code>") {
			t.Errorf("%q: read-as line %v, want %q", tc.q, read, tc.readAs)
		}
	}
	resp, body := b.do("GET", "/admin/audit-logs?range=all&q="+url.QueryEscape("(action:user.login OR x"), nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unbalanced parenthesis at byte 0") {
		t.Fatalf("unbalanced query: %d", resp.StatusCode)
	}
}

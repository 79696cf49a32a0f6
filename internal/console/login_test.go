package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// TestEveryFailedSignInIsRecorded: a sign-in with something that is not an
// email address an event can carry (markup, no @, too long) is still
// recorded, the attempt kept as a string in metadata; before, the event
// failed validation and the attempt left no trace.
func TestEveryFailedSignInIsRecorded(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	for _, tc := range []struct {
		email, password string
		status          int
		reason          string
	}{
		{`"><img src=x>@x.example`, "wrong", http.StatusUnauthorized, "unknown_user"},
		{"admin", "wrong", http.StatusUnauthorized, "unknown_user"},
		{"ops@", "wrong", http.StatusUnauthorized, "unknown_user"},
		{"a@b " + "c@d.example", "wrong", http.StatusUnauthorized, "unknown_user"},
		{strings.Repeat("x", 400) + "@x.example", "wrong", http.StatusBadRequest, "too_long"},
		{"nobody@acme.example", strings.Repeat("p", 2000), http.StatusBadRequest, "too_long"},
	} {
		resp, body := b.do("POST", "/login", url.Values{"email": {tc.email}, "password": {tc.password}})
		if resp.StatusCode != tc.status {
			t.Fatalf("%q: %d, want %d", tc.email, resp.StatusCode, tc.status)
		}
		if strings.Contains(body, "<img src=x>") {
			t.Fatalf("%q: the email is in the page unescaped", tc.email)
		}
		got := s.events(stele.SystemAccount, "action:user.login_failed")
		if len(got) == 0 {
			t.Fatalf("%q: no user.login_failed recorded", tc.email)
		}
		e := got[0] // newest first
		want := strings.ToLower(strings.TrimSpace(tc.email))
		if len(want) > 320 {
			want = want[:320]
		}
		attempted := meta(e, "attempted_email")
		if e.Outcome != stele.OutcomeFailure || meta(e, "reason") != tc.reason || (e.Actor.Email != want && attempted != want) {
			t.Fatalf("%q: recorded %+v actor %+v", tc.email, e.Metadata, e.Actor)
		}
		if e.IP != "127.0.0.1" || e.UserAgent != "console-test/1.0" {
			t.Fatalf("%q: ip %q user agent %q", tc.email, e.IP, e.UserAgent)
		}
		if strings.Contains(meta(e, "reason"), tc.password) || strings.Contains(e.Description, tc.password) {
			t.Fatalf("%q: the password is in the record", tc.email)
		}
	}
	if n := len(s.events(stele.SystemAccount, "action:user.login_failed")); n != 6 {
		t.Fatalf("%d failed sign-ins recorded, want 6", n)
	}
}

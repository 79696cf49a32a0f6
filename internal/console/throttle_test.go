package console_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
)

// Two nodes on one store share the sign-in throttle: a lockout made through
// one refuses sign-in through the other, and a restart keeps it.
func TestLockoutIsSharedByNodesAndSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stele.db")
	a := openSite(t, path, nil)
	a.user("acme", "owner@acme.example", stele.RoleOwner)
	b := openSite(t, path, a)
	// Failures spread over both nodes count together.
	for i := range 5 {
		node := a
		if i%2 == 1 {
			node = b
		}
		if resp := node.client(t).login("owner@acme.example", "wrong password "+string(rune('a'+i))); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	if resp := b.client(t).login("owner@acme.example", password); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password on the other node while locked: %d, want 429", resp.StatusCode)
	}
	if resp := a.client(t).login("OWNER@acme.example", password); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password on the first node while locked: %d, want 429", resp.StatusCode)
	}
	if n := len(a.apiEvents("action:user.login_failed")); n != 7 {
		t.Fatalf("%d login_failed events, want 7", n)
	}
	if n := len(a.apiEvents("action:user.locked_out")); n != 1 {
		t.Fatalf("%d locked_out events, want 1", n)
	}

	// Both nodes stop; a new one on the file still refuses the email.
	a.close()
	b.close()
	c := openSite(t, path, a)
	if resp := c.client(t).login("owner@acme.example", password); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password after a restart while locked: %d, want 429", resp.StatusCode)
	}
	c.user("acme", "auditor@acme.example", stele.RoleAuditor)
	if resp := c.client(t).login("auditor@acme.example", password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("other user after a restart: %d", resp.StatusCode)
	}
	if n := len(c.apiEvents("action:user.locked_out")); n != 1 {
		t.Fatalf("%d locked_out events after the restart, want 1", n)
	}
}

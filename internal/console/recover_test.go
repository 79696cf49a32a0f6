package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/integrity"
)

// TestAPanicEndsOnlyItsOwnRequest: a page that panics on an event answers
// 500 with the error page; the log says where, but holds neither the
// panic's value nor the query string; the console goes on serving. Before,
// net/http cut the connection and logged the value and every argument.
func TestAPanicEndsOnlyItsOwnRequest(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	s.seed(3)
	s.con.Integrity = func(ctx context.Context, a *stele.Account, e *stele.Event) (integrity.EventStatus, error) {
		var m map[string]int
		if e.Seq == 1 {
			m["secret-"+e.Description] = 1 // a runtime error
		}
		panic("secret " + e.Description) // any other value
	}
	b := s.client(t)
	b.login("owner@acme.example", password)
	for _, seq := range []int64{1, 2} {
		id := stele.EventID(s.accts["acme"].ID, seq)
		resp, body := b.do("GET", "/admin/audit-logs/"+id+"?back=/admin/audit-logs%3Fq%3Dsecret-query", nil)
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "Something went wrong") {
			t.Fatalf("event %d: %d\n%s", seq, resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("event %d: the error page lacks the security headers", seq)
		}
	}
	if resp, _ := b.do("GET", "/admin/audit-logs", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the panics: %d", resp.StatusCode)
	}
	logs := s.logs.String()
	for _, want := range []string{"panic in request", "assignment to entry in nil map", "panic=string", "/admin/audit-logs/", "recover_test.go"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	for _, never := range []string{"secret", "acme event", "=SUM"} {
		if strings.Contains(logs, never) {
			t.Errorf("the log holds %q:\n%s", never, logs)
		}
	}
}

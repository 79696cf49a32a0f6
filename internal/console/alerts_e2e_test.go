package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stele-audit/stele/internal/notify"
)

// alertRulesInChromium is Settings → Alerts as an owner uses it: a rule
// from a template, its webhook secret shown once, a test alert that a
// signature-checking receiver takes, the rule turned off, a bad query
// refused with the parser's words, and the rule deleted.
func alertRulesInChromium(t *testing.T, ctx context.Context, s *site, dir string) {
	base := s.srv.URL
	var (
		mu     sync.Mutex
		secret string
		tests  []notify.WebhookBody
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := notify.VerifyWebhook([]string{secret}, r.Header.Get(notify.SignatureHeader), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b notify.WebhookBody
		json.Unmarshal(body, &b)
		tests = append(tests, b)
	}))
	defer hook.Close()

	run(t, ctx, chromedp.Navigate(base+"/admin/settings"), chromedp.WaitVisible("#alerts-tab", chromedp.ByQuery))
	submitAndWait(t, ctx, "#alerts-tab", "/admin/settings/alerts")
	run(t, ctx, chromedp.WaitVisible("#templates", chromedp.ByQuery))
	screenshot(t, ctx, dir, "alerts-empty")
	submitAndWait(t, ctx, `#templates a[href$="template=failed-logins"]`, "template=failed-logins")
	var query, count string
	run(t, ctx, chromedp.Value("#rule-query", &query, chromedp.ByQuery), chromedp.Value("#rule-count", &count, chromedp.ByQuery))
	if query != "action:user.login_failed" || count != "5" {
		t.Fatalf("the template filled in query %q count %q", query, count)
	}
	run(t, ctx, chromedp.SendKeys(`.dest-webhook input[name="dest_url"]`, hook.URL+"/stele", chromedp.ByQuery),
		chromedp.Click("#rule-save", chromedp.ByQuery), chromedp.WaitVisible("#rule-notice", chromedp.ByQuery))
	shown := texts(t, ctx, ".webhook-secret")
	if len(shown) != 1 || !strings.HasPrefix(shown[0], "whsec_") {
		t.Fatalf("the generated secret is not shown once: %q", shown)
	}
	mu.Lock()
	secret = shown[0]
	mu.Unlock()
	screenshot(t, ctx, dir, "alert-rule-created")

	run(t, ctx, chromedp.Click("#rule-test", chromedp.ByQuery), chromedp.WaitVisible("#test-results", chromedp.ByQuery))
	if res := texts(t, ctx, "#test-results li"); len(res) != 1 || !strings.Contains(res[0], "delivered") {
		t.Fatalf("send test: %q", res)
	}
	mu.Lock()
	if len(tests) != 1 || !tests[0].Test || tests[0].Rule.Name != "Failed logins for one user" {
		t.Fatalf("the receiver got %+v", tests)
	}
	mu.Unlock()
	var html string
	run(t, ctx, chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, secret) {
		t.Fatal("the secret is shown again")
	}

	// A bad query is refused with the parser's message, the form kept.
	run(t, ctx, chromedp.SetValue("#rule-query", "colour:red", chromedp.ByQuery), chromedp.Click("#rule-save", chromedp.ByQuery),
		chromedp.WaitVisible("#rule-errors", chromedp.ByQuery))
	var invalid string
	run(t, ctx, chromedp.AttributeValue("#rule-query", "aria-invalid", &invalid, nil, chromedp.ByQuery))
	if errs := texts(t, ctx, "#rule-errors li"); len(errs) == 0 || !strings.Contains(errs[0], `unknown qualifier "colour:"`) || invalid != "true" {
		t.Fatalf("bad query: errors %q, aria-invalid %q", errs, invalid)
	}
	screenshot(t, ctx, dir, "alert-rule-refused")

	run(t, ctx, chromedp.Navigate(base+"/admin/settings/alerts"), chromedp.WaitVisible("#rules", chromedp.ByQuery),
		chromedp.Click(`#rules tbody tr button[type="submit"]`, chromedp.ByQuery), chromedp.WaitVisible("#alerts-notice", chromedp.ByQuery))
	if states := texts(t, ctx, "#rules tbody td.rule-state"); len(states) != 1 || states[0] != "off" {
		t.Fatalf("the rule's state shows %q, want off", states)
	}
	screenshot(t, ctx, dir, "alerts")
	for _, action := range []string{"alert_rule.created", "alert_rule.tested", "alert_rule.updated"} {
		got := s.apiEvents("action:" + action)
		if len(got) != 1 || got[0].Actor.Email != "owner@acme.example" {
			t.Fatalf("%s: %+v", action, got)
		}
	}
}

package console_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

// Settings → Alerts is for settings.manage: an admin, an auditor and a
// member see no link to it, are refused every route, and change nothing.
func TestAlertRulesAreForOwnersOnly(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	for _, role := range []stele.Role{stele.RoleAdmin, stele.RoleAuditor, stele.RoleMember} {
		s.user("acme", string(role)+"@acme.example", role)
	}
	owner := s.client(t)
	owner.login("owner@acme.example", password)
	form := url.Values{"name": {"Admins"}, "query": {"action:user.role_changed"}, "enabled": {"on"},
		"dest_type": {"email"}, "dest_url": {""}, "dest_secret": {""}, "dest_to": {"secops@example.com"}, "csrf": {owner.csrf("/admin/settings/alerts")}}
	resp, body := owner.do("POST", "/admin/settings/alerts", form)
	if resp.StatusCode != 200 || !strings.Contains(body, "was created") {
		t.Fatalf("owner creates a rule: %d", resp.StatusCode)
	}
	rules, _ := s.db.AlertRules(t.Context(), s.accts["acme"].ID)
	if len(rules) != 1 {
		t.Fatalf("%d rules after the owner's", len(rules))
	}
	id := rules[0].ID
	if _, page := owner.do("GET", "/admin/settings", nil); !strings.Contains(page, `id="alerts-tab"`) {
		t.Fatal("the owner's Settings has no Alerts tab")
	}
	for _, role := range []stele.Role{stele.RoleAdmin, stele.RoleAuditor, stele.RoleMember} {
		b := s.client(t)
		b.login(string(role)+"@acme.example", password)
		if _, page := b.do("GET", "/admin/settings", nil); strings.Contains(page, "/admin/settings/alerts") {
			t.Errorf("%s sees a link to Settings → Alerts", role)
		}
		token := b.csrf("/admin/settings")
		for _, req := range []struct {
			method, path string
			form         url.Values
		}{
			{"GET", "/admin/settings/alerts", nil},
			{"GET", "/admin/settings/alerts/new", nil},
			{"GET", "/admin/settings/alerts/" + id, nil},
			{"POST", "/admin/settings/alerts", url.Values{"name": {"x"}, "query": {"action:user.login"}, "dest_type": {"email"}, "dest_to": {"a@example.com"}, "csrf": {token}}},
			{"POST", "/admin/settings/alerts/" + id, url.Values{"name": {"x"}, "query": {"action:user.login"}, "csrf": {token}}},
			{"POST", "/admin/settings/alerts/" + id + "/enabled", url.Values{"csrf": {token}}},
			{"POST", "/admin/settings/alerts/" + id + "/test", url.Values{"csrf": {token}}},
			{"POST", "/admin/settings/alerts/" + id + "/delete", url.Values{"csrf": {token}}},
		} {
			if resp, _ := b.do(req.method, req.path, req.form); resp.StatusCode != 403 {
				t.Errorf("%s %s %s: %d, want 403", role, req.method, req.path, resp.StatusCode)
			}
		}
	}
	after, _ := s.db.AlertRule(t.Context(), s.accts["acme"].ID, id)
	if after == nil || !after.Enabled || after.Name != "Admins" {
		t.Fatalf("the rule after the refused attempts: %+v", after)
	}
	if n := len(s.apiEvents("action:alert_rule.*")); n != 1 {
		t.Fatalf("%d rule events; only the owner's creation", n)
	}
	if denied := s.apiEvents("action:audit_log.denied"); len(denied) < 24 {
		t.Fatalf("%d refusals recorded, want every one", len(denied))
	}
}

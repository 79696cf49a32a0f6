package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/query"
)

// events lists an account's events matching q through the search service
// (the API key of the site reads acme only).
func (s *site) events(account, q string) []stele.Event {
	s.t.Helper()
	pq, err := query.Parse(q, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	var out []stele.Event
	if _, err := s.con.Search.Each(context.Background(), s.accts[account], pq, func(e *stele.Event) error {
		out = append(out, *e)
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *site) account(name string) *stele.Account {
	s.t.Helper()
	a, err := s.db.AccountByName(context.Background(), name)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

func meta(e stele.Event, k string) string { return fmt.Sprint(e.Metadata[k]) }

func TestOwnerChangesRetentionAndLegalHoldAndEachChangeIsRecorded(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)

	resp, body := b.do("GET", "/admin/settings", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="retention-form"`) || !strings.Contains(body, `id="legal-hold-form"`) {
		t.Fatalf("settings for an owner: %d, forms shown: %v", resp.StatusCode, strings.Contains(body, "retention-form"))
	}

	// Own retention: 400 days (team's default is 90).
	resp, body = b.do("POST", "/admin/settings/retention", url.Values{"retention": {"custom"}, "days": {"400"}, "csrf": {b.csrf("/admin/settings")}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Retention is now 400 days") {
		t.Fatalf("set retention: %d\n%s", resp.StatusCode, body)
	}
	if a := s.account("acme"); a.RetentionDays == nil || *a.RetentionDays != 400 {
		t.Fatalf("acme retention override %v", a.RetentionDays)
	}
	// Back to the type's default.
	resp, _ = b.do("POST", "/admin/settings/retention", url.Values{"retention": {"default"}, "days": {"400"}, "csrf": {b.csrf("/admin/settings")}})
	if a := s.account("acme"); resp.StatusCode != 200 || a.RetentionDays != nil {
		t.Fatalf("reset retention: %d, override %v", resp.StatusCode, a.RetentionDays)
	}
	// Legal hold on, then off.
	resp, body = b.do("POST", "/admin/settings/legal-hold", url.Values{"legal_hold": {"on"}, "csrf": {b.csrf("/admin/settings")}})
	if !s.account("acme").LegalHold || resp.StatusCode != 200 || !strings.Contains(body, "Lift legal hold") {
		t.Fatalf("set legal hold: %d, hold %v", resp.StatusCode, s.account("acme").LegalHold)
	}
	b.do("POST", "/admin/settings/legal-hold", url.Values{"legal_hold": {"off"}, "csrf": {b.csrf("/admin/settings")}})
	if s.account("acme").LegalHold {
		t.Fatal("legal hold still on")
	}

	for _, acct := range []string{"acme", stele.SystemAccount} {
		changed := s.events(acct, "action:retention.changed")
		if len(changed) != 2 {
			t.Fatalf("%s: %d retention.changed events, want 2", acct, len(changed))
		}
		reset, set := changed[0], changed[1] // newest first
		if set.Category != stele.CategoryConfiguration || meta(set, "retention_days_before") != "90" || meta(set, "retention_days_after") != "400" ||
			meta(set, "retention_override_before") != "false" || meta(set, "retention_override_after") != "true" {
			t.Fatalf("%s: set event %+v", acct, set)
		}
		if meta(reset, "retention_days_before") != "400" || meta(reset, "retention_days_after") != "90" {
			t.Fatalf("%s: reset event %+v", acct, reset)
		}
		if set.Actor == nil || set.Actor.Email != "owner@acme.example" || set.Target.ID != "acme" || set.IP != "127.0.0.1" || set.UserAgent != "console-test/1.0" {
			t.Fatalf("%s: actor, target, ip or user agent of %+v", acct, set)
		}
		on, off := s.events(acct, "action:legal_hold.set"), s.events(acct, "action:legal_hold.lifted")
		if len(on) != 1 || len(off) != 1 || on[0].Category != stele.CategoryConfiguration || off[0].Category != stele.CategoryConfiguration {
			t.Fatalf("%s: legal hold events %+v %+v", acct, on, off)
		}
		if meta(on[0], "legal_hold_before") != "false" || meta(on[0], "legal_hold_after") != "true" ||
			meta(off[0], "legal_hold_before") != "true" || meta(off[0], "legal_hold_after") != "false" {
			t.Fatalf("%s: legal hold before/after %v %v", acct, on[0].Metadata, off[0].Metadata)
		}
	}
}

func TestRetentionOverrideEqualToTheDefaultIsStillRecorded(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)
	b.do("POST", "/admin/settings/retention", url.Values{"retention": {"custom"}, "days": {"90"}, "csrf": {b.csrf("/admin/settings")}})
	b.do("POST", "/admin/settings/retention", url.Values{"retention": {"default"}, "csrf": {b.csrf("/admin/settings")}})
	got := s.events("acme", "action:retention.changed")
	if len(got) != 2 || meta(got[0], "retention_override_before") != "true" || meta(got[0], "retention_override_after") != "false" {
		t.Fatalf("override-only changes: %+v", got)
	}
}

func TestMembersAndAuditorsSeeRetentionButCannotChangeIt(t *testing.T) {
	s := newSite(t)
	s.user("acme", "auditor@acme.example", stele.RoleAuditor)
	s.user("acme", "member@acme.example", stele.RoleMember)
	s.user("acme", "admin@acme.example", stele.RoleAdmin)
	for _, email := range []string{"auditor@acme.example", "member@acme.example", "admin@acme.example"} {
		b := s.client(t)
		b.login(email, password)
		resp, body := b.do("GET", "/admin/settings", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "90 days") || strings.Contains(body, `action="/admin/settings/retention"`) ||
			strings.Contains(body, `action="/admin/settings/legal-hold"`) {
			t.Fatalf("%s: settings page %d shows a form or no retention", email, resp.StatusCode)
		}
		csrf := b.csrf("/admin/settings")
		resp, body = b.do("POST", "/admin/settings/retention", url.Values{"retention": {"custom"}, "days": {"1"}, "csrf": {csrf}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "settings.manage") {
			t.Fatalf("%s: retention POST %d", email, resp.StatusCode)
		}
		resp, _ = b.do("POST", "/admin/settings/legal-hold", url.Values{"legal_hold": {"on"}, "csrf": {csrf}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: legal hold POST %d", email, resp.StatusCode)
		}
	}
	if a := s.account("acme"); a.RetentionDays != nil || a.LegalHold {
		t.Fatalf("a refused change changed acme: %+v", a)
	}
	denied := s.events("acme", "action:audit_log.denied")
	if len(denied) != 6 || meta(denied[0], "permission") != "settings.manage" || denied[0].Target.ID != "/admin/settings/legal-hold" {
		t.Fatalf("denied events: %d %+v", len(denied), denied)
	}
	if got := s.events("acme", "category:configuration"); len(got) != 0 {
		t.Fatalf("configuration events after refusals: %+v", got)
	}
}

func TestBadRetentionInputIsRefusedWithAMessageNamingTheField(t *testing.T) {
	s := newSite(t)
	s.user("acme", "owner@acme.example", stele.RoleOwner)
	b := s.client(t)
	b.login("owner@acme.example", password)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"retention": {"custom"}, "days": {"0"}}, "Retention (days): enter a whole number of days from 1 to 36500"},
		{url.Values{"retention": {"custom"}, "days": {"36501"}}, "Retention (days)"},
		{url.Values{"retention": {"custom"}, "days": {"ninety"}}, "Retention (days)"},
		{url.Values{"retention": {"custom"}, "days": {""}}, "Retention (days)"},
		{url.Values{"retention": {"forever"}}, "Retention: choose"},
		{url.Values{}, "Retention: choose"},
	} {
		c.form.Set("csrf", b.csrf("/admin/settings"))
		resp, body := b.do("POST", "/admin/settings/retention", c.form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Fatalf("%v: %d, want 400 with %q", c.form, resp.StatusCode, c.want)
		}
	}
	resp, body := b.do("POST", "/admin/settings/legal-hold", url.Values{"legal_hold": {"maybe"}, "csrf": {b.csrf("/admin/settings")}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Legal hold: must be on or off") {
		t.Fatalf("legal hold maybe: %d", resp.StatusCode)
	}
	if a := s.account("acme"); a.RetentionDays != nil || a.LegalHold {
		t.Fatalf("bad input changed acme: %+v", a)
	}
	if got := s.events("acme", "category:configuration"); len(got) != 0 {
		t.Fatalf("configuration events after bad input: %+v", got)
	}
}

package alert

import (
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/query"
)

func invalidDetails(t *testing.T, err error) map[string]string {
	t.Helper()
	e, ok := err.(*stele.Error)
	if !ok || e.Code != stele.EINVALID {
		t.Fatalf("error %v: want an invalid *stele.Error", err)
	}
	out := map[string]string{}
	for _, d := range e.Details {
		out[d.Field] = d.Rule
	}
	return out
}

func TestRuleRefusedWithFieldAndRule(t *testing.T) {
	s := newStack(t)
	_, perr := query.Parse("foo:bar", s.rules.now())
	_, err := s.rules.Create(t.Context(), s.acme, Input{Name: "", Query: "foo:bar", Cooldown: "soon",
		Threshold:    &ThresholdInput{Count: 0, Window: "forever", GroupBy: "target"},
		Destinations: []notifyDestination{{Type: "webhook", URL: "ftp://x"}, {Type: "email", To: []string{"not-an-address"}}}}, audit.CLI())
	got := invalidDetails(t, err)
	want := map[string]string{"name": "required", "query": "unknown_field", "cooldown": "format", "threshold.window": "format",
		"threshold.count": "range", "threshold.group_by": "one_of", "destinations[0].url": "https", "destinations[1].to[0]": "email"}
	for f, rule := range want {
		if got[f] != rule {
			t.Errorf("field %s: rule %q, want %q (all: %v)", f, got[f], rule, got)
		}
	}
	// The parser's own message reaches the caller.
	if pm := stele.ErrorMessage(perr); !strings.Contains(stele.ErrorMessage(err)+detailMessages(err), strings.TrimPrefix(pm, "query: ")) {
		t.Errorf("the error %q does not carry the parser's message %q", detailMessages(err), pm)
	}
	_, err = s.rules.Create(t.Context(), s.acme, Input{Name: "Range", Query: "action:user.login after:24h", Destinations: webhookTo("http://127.0.0.1:1/")}, audit.CLI())
	if got := invalidDetails(t, err); got["query"] != "no_time_range" {
		t.Fatalf("a query with after: got %v", got)
	}
	if rs, _ := s.rules.List(t.Context(), s.acme); len(rs) != 0 {
		t.Fatalf("refused rules were stored: %v", rs)
	}
}

func detailMessages(err error) string {
	var b strings.Builder
	if e, ok := err.(*stele.Error); ok {
		for _, d := range e.Details {
			b.WriteString(d.Message + "\n")
		}
	}
	return b.String()
}

func TestSecretsAreShownOnceAndKeptAcrossUpdates(t *testing.T) {
	s := newStack(t)
	slack := "https://hooks.slack.com/services/T000/B000/SECRETPATH"
	created, err := s.rules.Create(t.Context(), s.acme, Input{Name: "Admins", Query: "action:user.role_changed",
		Destinations: []notifyDestination{{Type: "webhook", URL: "http://127.0.0.1:9/hook?token=abc"}, {Type: "slack", URL: slack}}}, audit.CLI())
	if err != nil {
		t.Fatal(err)
	}
	secret := created.Destinations[0].Secret
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("a webhook created without a secret got %q; want a generated whsec_ secret, shown once", secret)
	}
	got, err := s.rules.Get(t.Context(), s.acme, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got.Destinations {
		if d.Secret != "" || strings.Contains(d.URL, "SECRETPATH") || strings.Contains(d.URL, "token=abc") {
			t.Fatalf("a read returned a secret: %+v", d)
		}
	}
	// The database alone does not hold them either: they are sealed.
	stored, _ := s.db.AlertRule(t.Context(), s.acme.ID, created.ID)
	if strings.Contains(stored.Destinations, "SECRETPATH") || strings.Contains(stored.Destinations, secret) {
		t.Fatal("the store holds a destination secret in clear")
	}
	// An update that sends back what a read showed keeps the secrets.
	in := Input{Name: "Admins!", Query: got.Query, Destinations: got.Destinations}
	if _, err := s.rules.Update(t.Context(), s.acme, created.ID, in, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	_, ds, err := s.rules.load(t.Context(), s.acme, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Secret != secret || ds[0].URL != "http://127.0.0.1:9/hook?token=abc" || ds[1].URL != slack {
		t.Fatalf("after an update with redacted destinations: %+v", ds)
	}
	// A new secret rotates: the old one still signs for a grace period.
	next := "whsec_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210"
	in.Destinations[0].Secret = next
	if _, err := s.rules.Update(t.Context(), s.acme, created.ID, in, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	opened, err := OpenDestinations(t.Context(), s.path.Keyring, s.acme.ID, mustRuleRow(t, s, created.ID).Destinations, s.rules.now())
	if err != nil {
		t.Fatal(err)
	}
	if opened[0].Secret != next || opened[0].PreviousSecret != secret {
		t.Fatalf("after a rotation: secret %q previous %q", opened[0].Secret, opened[0].PreviousSecret)
	}
	later, _ := OpenDestinations(t.Context(), s.path.Keyring, s.acme.ID, mustRuleRow(t, s, created.ID).Destinations, s.rules.now().Add(RotationGrace+1))
	if later[0].PreviousSecret != "" {
		t.Fatal("the previous secret outlived its grace period")
	}
}

func mustRuleRow(t *testing.T, s *stack, id string) *stele.AlertRule {
	t.Helper()
	r, err := s.db.AlertRule(t.Context(), s.acme.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRuleChangesAreRecordedWithBeforeAndAfter(t *testing.T) {
	s := newStack(t)
	r := s.rule(t, s.acme, Input{Name: "Admins", Query: "action:user.role_changed", Destinations: webhookTo("http://127.0.0.1:9/")})
	if _, err := s.rules.Update(t.Context(), s.acme, r.ID, Input{Name: "Admins", Query: "action:user.role_changed,user.permissions_changed",
		Cooldown: "15m", Destinations: webhookTo("http://127.0.0.1:9/")}, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	if err := s.rules.Delete(t.Context(), s.acme, r.ID, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rules.Get(t.Context(), s.beta, r.ID); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("beta reads acme's rule: %v", err)
	}
	page, err := s.path.Search.Search(t.Context(), s.acme, stele.Query{Terms: []stele.Term{{Field: stele.FieldAction, Values: []string{"alert_rule.*"}}}}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 3 {
		t.Fatalf("acme's log holds %d rule events, want created, updated, deleted", len(page.Events))
	}
	upd := page.Events[1]
	if upd.Action != "alert_rule.updated" || upd.Category != stele.CategoryConfiguration ||
		upd.Metadata["query_before"] != "action:user.role_changed" || upd.Metadata["query_after"] != "action:user.role_changed,user.permissions_changed" ||
		upd.Metadata["cooldown_before"] != "" || upd.Metadata["cooldown_after"] != "15m" || upd.Target.ID != r.ID {
		t.Fatalf("alert_rule.updated = %+v", upd)
	}
	for _, e := range page.Events {
		for k, v := range e.Metadata {
			if s, ok := v.(string); ok && strings.Contains(s, "whsec_") {
				t.Fatalf("%s records a secret in %s", e.Action, k)
			}
		}
	}
}

// An update may send the destinations back in another order, or without
// one of them: each keeps what the API never showed by its own URL.
func TestUpdateKeepsSecretsByDestinationNotPosition(t *testing.T) {
	s := newStack(t)
	slack := "https://hooks.slack.com/services/T000/B000/SECRETPATH"
	r, err := s.rules.Create(t.Context(), s.acme, Input{Name: "Admins", Query: "action:user.role_changed",
		Destinations: []notifyDestination{{Type: "webhook", URL: "http://127.0.0.1:9/a"}, {Type: "slack", URL: slack}, {Type: "webhook", URL: "http://127.0.0.1:9/b"}}}, audit.CLI())
	if err != nil {
		t.Fatal(err)
	}
	secretB := r.Destinations[2].Secret
	shown, _ := s.rules.Get(t.Context(), s.acme, r.ID)
	in := Input{Name: "Admins", Query: "action:user.role_changed", Destinations: []notifyDestination{shown.Destinations[2], shown.Destinations[1]}}
	if _, err := s.rules.Update(t.Context(), s.acme, r.ID, in, audit.CLI()); err != nil {
		t.Fatal(err)
	}
	_, ds, err := s.rules.load(t.Context(), s.acme, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].URL != "http://127.0.0.1:9/b" || ds[0].Secret != secretB || ds[1].URL != slack {
		t.Fatalf("after reordering and dropping one: %+v", ds)
	}
}

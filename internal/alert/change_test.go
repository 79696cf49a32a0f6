package alert

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

func TestRuleChangeAppliesTemplateThenWhatIsGiven(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(n int) *int { return &n }
	failed, _ := TemplateNamed("failed-logins")
	current := client.AlertRuleInput{Name: "old", Query: "action:a", Cooldown: "5m",
		Threshold:    &client.AlertThreshold{Count: 3, Window: "1h", GroupBy: "ip"},
		Destinations: []client.AlertDestination{{Type: "webhook", URL: "https://kept"}}}
	for _, tc := range []struct {
		name   string
		change RuleChange
		base   client.AlertRuleInput
		want   client.AlertRuleInput
	}{
		{"nothing keeps the rule", RuleChange{}, current, current},
		{"template", RuleChange{Template: "failed-logins"}, client.AlertRuleInput{},
			client.AlertRuleInput{Name: failed.Title, Query: failed.Query, Cooldown: failed.Cooldown,
				Threshold: &client.AlertThreshold{Count: failed.Threshold.Count, Window: failed.Threshold.Window, GroupBy: failed.Threshold.GroupBy}}},
		{"template then name", RuleChange{Template: "role-changed", Name: str("Admins")}, current,
			client.AlertRuleInput{Name: "Admins", Query: "action:user.role_changed,user.permissions_changed",
				Destinations: current.Destinations}},
		{"name and query", RuleChange{Name: str("n"), Query: str("q")}, client.AlertRuleInput{},
			client.AlertRuleInput{Name: "n", Query: "q"}},
		{"count alone starts a threshold", RuleChange{Count: num(5)}, client.AlertRuleInput{},
			client.AlertRuleInput{Threshold: &client.AlertThreshold{Count: 5}}},
		{"window keeps count and group", RuleChange{Window: str("10m")}, current,
			client.AlertRuleInput{Name: "old", Query: "action:a", Cooldown: "5m",
				Threshold:    &client.AlertThreshold{Count: 3, Window: "10m", GroupBy: "ip"},
				Destinations: current.Destinations}},
		{"empty group-by clears it", RuleChange{GroupBy: str("")}, current,
			client.AlertRuleInput{Name: "old", Query: "action:a", Cooldown: "5m",
				Threshold:    &client.AlertThreshold{Count: 3, Window: "1h"},
				Destinations: current.Destinations}},
		{"destinations replace, in order", RuleChange{Emails: []string{"a@x", "b@x"}, Slacks: []string{"https://s"}, Webhooks: []string{"https://w"}}, current,
			client.AlertRuleInput{Name: "old", Query: "action:a", Cooldown: "5m", Threshold: current.Threshold,
				Destinations: []client.AlertDestination{{Type: "webhook", URL: "https://w"}, {Type: "slack", URL: "https://s"}, {Type: "email", To: []string{"a@x", "b@x"}}}}},
		{"disable", RuleChange{Enabled: new(false), Cooldown: str("1h")}, client.AlertRuleInput{},
			client.AlertRuleInput{Cooldown: "1h", Enabled: new(false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.change.Apply(tc.base)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Apply = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

func TestRuleChangeDoesNotAlterTheRuleItStartsFrom(t *testing.T) {
	base := client.AlertRuleInput{Threshold: &client.AlertThreshold{Count: 3, Window: "1h"}}
	n := 9
	if _, err := (RuleChange{Count: &n}).Apply(base); err != nil {
		t.Fatal(err)
	}
	if base.Threshold.Count != 3 {
		t.Fatalf("the base's threshold became %+v", base.Threshold)
	}
}

func TestRuleChangeRefusesAnUnknownTemplateNamingThem(t *testing.T) {
	_, err := RuleChange{Template: "nope"}.Apply(client.AlertRuleInput{})
	var e *stele.Error
	if !errors.As(err, &e) || e.Code != stele.EINVALID || e.Details[0].Field != "template" || !strings.Contains(e.Message, Templates[0].Name) {
		t.Fatalf("Apply = %v; want EINVALID naming the templates", err)
	}
}

func TestDecodeRuleRefusesUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		ok         bool
	}{
		{"rule", `{"name":"n","query":"q","threshold":{"count":2,"window":"5m"},"destinations":[{"type":"email","to":["a@x"]}]}`, true},
		{"unknown field", `{"name":"n","qeury":"q"}`, false},
		{"not JSON", `name: n`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := client.AlertRuleInput{Cooldown: "kept"}
			err := DecodeRule(strings.NewReader(tc.json), &in)
			if tc.ok {
				if err != nil || in.Name != "n" || in.Threshold.Count != 2 || in.Cooldown != "kept" {
					t.Fatalf("DecodeRule = %+v, %v", in, err)
				}
				return
			}
			var e *stele.Error
			if !errors.As(err, &e) || e.Details[0].Field != "file" || !strings.HasPrefix(e.Message, "--file: not an alert rule's JSON") {
				t.Fatalf("DecodeRule = %v; want a refusal of --file", err)
			}
		})
	}
}

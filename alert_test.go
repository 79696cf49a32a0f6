package stele

import (
	"strings"
	"testing"
	"time"
)

func TestAlertRuleValidateNamesFieldAndRule(t *testing.T) {
	good := func() *AlertRule {
		return &AlertRule{Name: "Admins", Query: "action:user.role_changed", Destinations: "sealed",
			Threshold: &AlertThreshold{Count: 5, Window: 10 * time.Minute, GroupBy: GroupByActor}, Cooldown: time.Minute}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("a good rule: %v", err)
	}
	tests := []struct {
		name        string
		change      func(r *AlertRule)
		field, rule string
	}{
		{"no name", func(r *AlertRule) { r.Name = "  " }, "name", "required"},
		{"long name", func(r *AlertRule) { r.Name = strings.Repeat("n", MaxAlertRuleName+1) }, "name", "max_length"},
		{"two lines", func(r *AlertRule) { r.Name = "a\nb" }, "name", "text"},
		{"no query", func(r *AlertRule) { r.Query = "" }, "query", "required"},
		{"long query", func(r *AlertRule) { r.Query = strings.Repeat("q", MaxAlertQuery+1) }, "query", "max_length"},
		{"zero count", func(r *AlertRule) { r.Threshold.Count = 0 }, "threshold.count", "range"},
		{"tiny window", func(r *AlertRule) { r.Threshold.Window = time.Millisecond }, "threshold.window", "range"},
		{"huge window", func(r *AlertRule) { r.Threshold.Window = 8 * 24 * time.Hour }, "threshold.window", "range"},
		{"bad group", func(r *AlertRule) { r.Threshold.GroupBy = "target" }, "threshold.group_by", "one_of"},
		{"negative cooldown", func(r *AlertRule) { r.Cooldown = -time.Second }, "cooldown", "range"},
		{"no destinations", func(r *AlertRule) { r.Destinations = "" }, "destinations", "required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.change(r)
			err := r.Validate()
			e, ok := err.(*Error)
			if !ok || e.Code != EINVALID || len(e.Details) != 1 || e.Details[0].Field != tc.field || e.Details[0].Rule != tc.rule {
				t.Fatalf("Validate = %v, want one detail %s %s", err, tc.field, tc.rule)
			}
			if !strings.Contains(e.Message, tc.field) {
				t.Fatalf("message %q does not name %s", e.Message, tc.field)
			}
		})
	}
}

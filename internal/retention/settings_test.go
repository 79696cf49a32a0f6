package retention_test

import (
	"errors"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/retention"
)

// TestSettingsUpdateRefusesWhatTheCLIRefuses: the console's retention
// settings check an update with the account rules the CLI uses: a
// retention of 0 days, too many days or an unknown type is refused, naming
// the field and the rule, and the account is left as it was.
func TestSettingsUpdateRefusesWhatTheCLIRefuses(t *testing.T) {
	e := newEnv(t)
	s := &retention.Settings{Accounts: e.db, Audit: &audit.Recorder{Sink: e.svc}}
	n := func(v int) *int { return &v }
	gold := "gold"
	tests := []struct {
		name        string
		u           stele.AccountUpdate
		field, rule string
	}{
		{"no days", stele.AccountUpdate{RetentionDays: n(0)}, "retention_days", "range"},
		{"too many days", stele.AccountUpdate{RetentionDays: n(stele.MaxRetentionDays + 1)}, "retention_days", "range"},
		{"negative days", stele.AccountUpdate{RetentionDays: n(-1)}, "retention_days", "range"},
		{"unknown type", stele.AccountUpdate{Type: &gold}, "type", "enum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Update(t.Context(), "acme", tt.u, audit.CLI())
			var se *stele.Error
			if !errors.As(err, &se) || se.Code != stele.EINVALID || len(se.Details) != 1 ||
				se.Details[0].Field != tt.field || se.Details[0].Rule != tt.rule {
				t.Fatalf("Update = %v, want EINVALID naming %s %s", err, tt.field, tt.rule)
			}
			a, err := e.db.AccountByName(t.Context(), "acme")
			if err != nil || a.Type != "free" || a.RetentionDays != nil {
				t.Fatalf("after a refused update: %+v (%v)", a, err)
			}
		})
	}
}

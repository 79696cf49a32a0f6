package alert

import (
	"testing"

	"github.com/stele-audit/stele/internal/audit"
	"time"
)

// TestTemplatesAreValidRules saves every template as a rule: none may be
// refused.
func TestTemplatesAreValidRules(t *testing.T) {
	s := newStack(t)
	for _, tpl := range Templates {
		if _, err := s.rules.Create(t.Context(), s.acme, tpl.Input(webhookTo("http://127.0.0.1:1/")), audit.CLI()); err != nil {
			t.Errorf("template %s: %v", tpl.Name, err)
		}
		if _, ok := TemplateNamed(tpl.Name); !ok {
			t.Errorf("TemplateNamed(%q) finds nothing", tpl.Name)
		}
	}
	if _, err := ParseDuration("10m"); err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]time.Duration{"45s": 45 * time.Second, "2d": 48 * time.Hour, "1w": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if d, err := ParseDuration(in); err != nil || d != want || FormatDuration(d) != in {
			t.Errorf("ParseDuration(%q) = %v, %v; formats back as %q", in, d, err, FormatDuration(d))
		}
	}
}

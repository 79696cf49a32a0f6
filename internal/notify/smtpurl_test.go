package notify

import (
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func TestParseSMTPURL(t *testing.T) {
	c, err := ParseSMTPURL("smtp://alerts@mail.example.com:2525?from=Stele+%3Calerts@example.com%3E&tls=tls&timeout=10s", "pw")
	if err != nil {
		t.Fatal(err)
	}
	want := SMTPConfig{Host: "mail.example.com", Port: 2525, Username: "alerts", Password: "pw", From: "Stele <alerts@example.com>", TLS: "tls", Timeout: 10 * time.Second}
	if c.Host != want.Host || c.Port != want.Port || c.Username != want.Username || c.Password != want.Password || c.From != want.From || c.TLS != want.TLS || c.Timeout != want.Timeout {
		t.Fatalf("parsed %+v", c)
	}
	for raw, field := range map[string]string{
		"http://mail.example.com?from=a@example.com":            "smtp_url",
		"smtp://u:secret@mail.example.com?from=a@example.com":   "smtp_url",
		"smtp://mail.example.com":                               "smtp.from",
		"smtp://mail.example.com?from=a@example.com&tls=none":   "smtp.tls",
		"smtp://mail.example.com?from=a@example.com&colour=red": "smtp_url",
	} {
		_, err := ParseSMTPURL(raw, "")
		e, ok := err.(*stele.Error)
		if !ok || len(e.Details) == 0 || e.Details[0].Field != field {
			t.Errorf("%s: %v, want a detail on %s", raw, err, field)
		}
	}
}

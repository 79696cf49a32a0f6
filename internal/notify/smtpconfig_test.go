package notify

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
)

func TestSMTPConfigValidate(t *testing.T) {
	good := SMTPConfig{Host: "smtp.example.com", Username: "u", Password: "p", From: "Stele <alerts@example.com>"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	local := SMTPConfig{Host: "127.0.0.1", Port: 2525, From: "alerts@example.com", TLS: SMTPPlain}
	if err := local.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*SMTPConfig)
		field string
		rule  string
	}{
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "smtp.host", "required"},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.example.com:587" }, "smtp.host", "hostname"},
		{"port out of range", func(c *SMTPConfig) { c.Port = 70000 }, "smtp.port", "range"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "smtp.from", "required"},
		{"bad from", func(c *SMTPConfig) { c.From = "alerts" }, "smtp.from", "email"},
		{"unknown tls", func(c *SMTPConfig) { c.TLS = "maybe" }, "smtp.tls", "one_of"},
		{"clear to a remote host", func(c *SMTPConfig) { c.TLS, c.Username, c.Password = SMTPPlain, "", "" }, "smtp.tls", "loopback_only"},
		{"credentials in clear", func(c *SMTPConfig) { c.Host, c.TLS = "127.0.0.1", SMTPPlain }, "smtp.username", "not_allowed"},
		{"user without password", func(c *SMTPConfig) { c.Password = "" }, "smtp.password", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			var e *stele.Error
			if !errors.As(c.Validate(), &e) || e.Code != stele.EINVALID {
				t.Fatalf("got %v", c.Validate())
			}
			for _, d := range e.Details {
				if d.Field == tt.field && d.Rule == tt.rule {
					return
				}
			}
			t.Fatalf("details %+v lack %s/%s", e.Details, tt.field, tt.rule)
		})
	}
}

func TestSMTPPasswordStaysOutOfLogs(t *testing.T) {
	c := SMTPConfig{Host: "smtp.example.com", Username: "alerts", Password: "hunter2-PASSWORD", From: "alerts@example.com"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("smtp", "config", c)
	fmt.Fprintf(&buf, "%v %s %+v", c, c, c)
	if strings.Contains(buf.String(), "PASSWORD") {
		t.Errorf("the password leaked: %s", buf.String())
	}
}

func TestNewChecksItsConfiguration(t *testing.T) {
	_, err := New(Config{ConsoleURL: "stele.example.com", SMTP: SMTPConfig{Host: "smtp.example.com"}})
	var e *stele.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	fields := map[string]bool{}
	for _, d := range e.Details {
		fields[d.Field] = true
	}
	if !fields["console_url"] || !fields["smtp.from"] {
		t.Errorf("details %+v: want console_url and smtp.from", e.Details)
	}
}

func TestDeliverRefusesAnUnfitDeliveryID(t *testing.T) {
	n := newTestNotifier(t, newClock(fired), nil)
	for _, id := range []string{"", "dlv\r\nBcc: x", strings.Repeat("a", 65)} {
		err := n.Deliver(t.Context(), Delivery{ID: id, Alert: hostileAlert(), Destination: emailTo("ops@example.com")})
		if err == nil || IsRetryable(err) {
			t.Errorf("id %q: %v, want a permanent error", id, err)
		}
	}
}

//go:build linux

package notify

import (
	"context"
	"errors"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stele-audit/stele/internal/smtptest"
)

const (
	smtpUser     = "stele-alerts"
	smtpPassword = "correct.horse.battery"
)

// mailNotifier returns a Notifier sending through s.
func mailNotifier(t *testing.T, s *smtptest.Server, edit func(*SMTPConfig)) *Notifier {
	t.Helper()
	return newTestNotifier(t, newClock(fired), func(c *Config) {
		c.SMTP = SMTPConfig{Host: s.Host, Port: s.Port, Username: smtpUser, Password: smtpPassword,
			From: "Stele Alerts <alerts@stele.example.com>", RootCAs: s.RootCAs}
		if edit != nil {
			edit(&c.SMTP)
		}
	})
}

func TestEmailDeliversOverSTARTTLSWithAuth(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	n := mailNotifier(t, s, nil)
	a := hostileAlert()
	a.Test = true
	d := Delivery{ID: NewDeliveryID(), Alert: a, Destination: emailTo("ops@example.com", "sec@example.org")}
	if err := n.Deliver(context.Background(), d); err != nil {
		t.Fatalf("%v\n%s", err, s.Log())
	}
	msgs := s.Messages(t, 2)
	ids := map[string]bool{}
	for _, m := range msgs {
		rcpt := m.Header.Get("Envelope-to")
		if m.Header.Get("To") != "<"+rcpt+">" {
			t.Errorf("To %q for envelope %q: each recipient gets a message of its own", m.Header.Get("To"), rcpt)
		}
		// esmtpsa: the server saw STARTTLS and AUTH.
		if !strings.Contains(m.Header.Get("Received"), "esmtpsa") {
			t.Errorf("Received: %s", m.Header.Get("Received"))
		}
		if m.Header.Get("From") != `"Stele Alerts" <alerts@stele.example.com>` || m.Header.Get("Auto-Submitted") != "auto-generated" ||
			m.Header.Get("X-Stele-Delivery-Id") != d.ID {
			t.Errorf("headers: %v", m.Header)
		}
		id := m.Header.Get("Message-Id")
		if !strings.HasPrefix(id, "<"+d.ID+".") || !strings.HasSuffix(id, "@stele.example.com>") || ids[id] {
			t.Errorf("Message-ID %q: the delivery's, one per recipient", id)
		}
		ids[id] = true
		if !strings.HasPrefix(m.Subject, "[TEST] [Stele] Role changes  Bcc: victim@example.com: 4 matching events in 10m for actor ada@acme.io  X-Evil: 1") {
			t.Errorf("subject %q", m.Subject)
		}
		if !strings.Contains(m.Text, "This is a test alert") || !strings.Contains(m.HTML, "This is a test alert") {
			t.Error("the test flag does not show in the bodies")
		}
	}
}

// TestEmailEscapesEventData checks that hostile event data and rule names
// neither add mail headers nor markup.
func TestEmailEscapesEventData(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	n := mailNotifier(t, s, nil)
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	m := s.Messages(t, 1)[0]
	head, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
	if _, h, ok := strings.Cut(head, "\n"); ok {
		head = h
	}
	for _, injected := range []string{"Bcc", "X-Evil"} {
		if regexp.MustCompile(`(?im)^`+injected+`:`).MatchString(head) || m.Header.Get(injected) != "" {
			t.Errorf("the header %s was injected:\n%s", injected, head)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject %q spans lines", m.Subject)
	}
	for _, raw := range []string{"<script>", "<!channel>", "<http://evil.example", "<b>Bob</b>"} {
		if strings.Contains(m.HTML, raw) {
			t.Errorf("the HTML body holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;b&gt;Bob&lt;/b&gt;", `href="https://stele.example.com/admin/audit-logs/evt_0000000000000001"`} {
		if !strings.Contains(m.HTML, escaped) {
			t.Errorf("the HTML body lacks %q:\n%s", escaped, m.HTML)
		}
	}
	if !strings.Contains(m.Text, "line one line two <script>") || strings.Contains(m.Text, "line one\n") {
		t.Errorf("a description keeps to one line in the text body:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "https://stele.example.com/admin/audit-logs?q=") {
		t.Errorf("no link to the events:\n%s", m.Text)
	}
}

func TestEmailRefusesToSendInClear(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{NoTLS: true})
	n := mailNotifier(t, s, func(c *SMTPConfig) { c.Username, c.Password = "", "" })
	err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("ops@example.com")})
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(de.Reason, "STARTTLS") || !slices.Equal(de.Refused, []string{"ops@example.com"}) {
		t.Fatalf("to a server without STARTTLS: %v, want a permanent error naming STARTTLS", err)
	}
	if strings.Contains(s.Log(), "<=") {
		t.Fatalf("the server received a message:\n%s", s.Log())
	}
	// Configured for it, and only on loopback, mail goes in clear.
	n = mailNotifier(t, s, func(c *SMTPConfig) { c.Username, c.Password, c.TLS = "", "", SMTPPlain })
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("ops@example.com")}); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(t, 1)[0]; strings.Contains(m.Header.Get("Received"), "esmtps") {
		t.Errorf("Received: %s", m.Header.Get("Received"))
	}
}

// TestEmailRecipientsFailApart sends one delivery to a good recipient and
// to two the server refuses, one for good and one for now.
func TestEmailRecipientsFailApart(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	n := mailNotifier(t, s, nil)
	err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(),
		Destination: emailTo("refuse.me@example.com", "ops@example.com", "later.please@example.com")})
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a *DeliveryError", err)
	}
	if !de.Retryable || !slices.Equal(de.Pending, []string{"later.please@example.com"}) || !slices.Equal(de.Refused, []string{"refuse.me@example.com"}) || de.Status != 550 {
		t.Errorf("%v: retryable %v pending %v refused %v status %d", err, de.Retryable, de.Pending, de.Refused, de.Status)
	}
	if !strings.Contains(de.Reason, "550") || !strings.Contains(de.Reason, "451") {
		t.Errorf("reason %q lacks the server's replies", de.Reason)
	}
	msgs := s.Messages(t, 1)
	if len(msgs) != 1 || msgs[0].Header.Get("Envelope-to") != "ops@example.com" {
		t.Errorf("delivered: %d messages", len(msgs))
	}
	// Refused for good alone: permanent.
	err = n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("refuse.me@example.com")})
	if !errors.As(err, &de) || de.Retryable || de.Status != 550 {
		t.Errorf("a recipient refused for good: %v", err)
	}
}

func TestEmailFailureClasses(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	tests := []struct {
		name      string
		edit      func(*SMTPConfig)
		retryable bool
		status    int
		reason    string
	}{
		{"wrong password", func(c *SMTPConfig) { c.Password = "wrong.password" }, false, 535, "535"},
		{"untrusted certificate", func(c *SMTPConfig) { c.RootCAs = nil }, false, 0, "TLS"},
		{"closed port", func(c *SMTPConfig) { c.Port = portOf(t, closedPort(t)) }, true, 0, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mailNotifier(t, s, tt.edit)
			err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("ops@example.com")})
			var de *DeliveryError
			if !errors.As(err, &de) || de.Retryable != tt.retryable || de.Status != tt.status || !strings.Contains(de.Reason, tt.reason) {
				t.Fatalf("got %v (status %d), want retryable %v status %d reason with %q", err, statusOf(de), tt.retryable, tt.status, tt.reason)
			}
			if strings.Contains(err.Error(), smtpPassword) || strings.Contains(err.Error(), "wrong.password") {
				t.Errorf("the error text carries the password: %v", err)
			}
		})
	}
	n := newTestNotifier(t, newClock(fired), nil)
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: emailTo("ops@example.com")}); IsRetryable(err) || err == nil {
		t.Errorf("with no SMTP server configured: %v, want a permanent error", err)
	}
}

func statusOf(e *DeliveryError) int {
	if e == nil {
		return -1
	}
	return e.Status
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

//go:build linux

package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
)

// These tests drive the server with the standard library's SMTP client, so
// that the helper is checked apart from the code it helps test.

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(c *smtp.Client, from, to, body string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprint(w, body); err != nil {
		return err
	}
	return w.Close()
}

func code(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestServerTakesMailOverSTARTTLSWithAuth(t *testing.T) {
	s := Start(t, Options{Username: "alerts", Password: "s3cret.pw"})
	c := dial(t, s)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH is offered before STARTTLS")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: s.RootCAs}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "alerts", "s3cret.pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	body := "From: a@example.com\r\nTo: ops@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhello =C3=A9\r\n"
	if err := send(c, "a@example.com", "ops@example.com", body); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	msgs := s.Messages(t, 1)
	m := msgs[0]
	if m.Subject != "café" || strings.TrimSpace(m.Text) != "hello é" || m.Header.Get("Envelope-to") != "ops@example.com" {
		t.Errorf("subject %q, text %q, envelope-to %q", m.Subject, m.Text, m.Header.Get("Envelope-to"))
	}
	// esmtpsa: ESMTP, secured (TLS), authenticated.
	if !strings.Contains(m.Header.Get("Received"), "esmtpsa") {
		t.Errorf("Received: %s", m.Header.Get("Received"))
	}
}

func TestServerRefuses(t *testing.T) {
	s := Start(t, Options{Username: "alerts", Password: "s3cret.pw"})
	tlsConfig := &tls.Config{ServerName: "127.0.0.1", RootCAs: s.RootCAs}

	if err := send(dial(t, s), "a@example.com", "ops@example.com", "x"); code(err) != 550 {
		t.Errorf("mail in clear: %v, want 550", err)
	}

	c := dial(t, s)
	c.StartTLS(tlsConfig)
	if err := c.Auth(smtp.PlainAuth("", "alerts", "wrong", "127.0.0.1")); code(err) != 535 {
		t.Errorf("a wrong password: %v, want 535", err)
	}

	c = dial(t, s)
	c.StartTLS(tlsConfig)
	if err := send(c, "a@example.com", "ops@example.com", "x"); code(err) != 550 {
		t.Errorf("without AUTH: %v, want 550", err)
	}

	c = dial(t, s)
	c.StartTLS(tlsConfig)
	if err := c.Auth(smtp.PlainAuth("", "alerts", "s3cret.pw", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("refuse.me@example.com"); code(err) != 550 {
		t.Errorf("refuse.me: %v, want 550", err)
	}
	if err := c.Rcpt("later.please@example.com"); code(err) != 451 {
		t.Errorf("later.please: %v, want 451", err)
	}
}

func TestServerWithoutTLS(t *testing.T) {
	s := Start(t, Options{NoTLS: true})
	c := dial(t, s)
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS is offered")
	}
	if err := send(c, "a@example.com", "ops@example.com", "Subject: clear\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	if m := s.Messages(t, 1)[0]; m.Subject != "clear" || strings.Contains(m.Header.Get("Received"), "esmtps") {
		t.Errorf("subject %q, received %q", m.Subject, m.Header.Get("Received"))
	}
}

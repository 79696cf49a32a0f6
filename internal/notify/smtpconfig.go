package notify

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/stele-audit/stele"
)

// SMTP TLS policies.
const (
	// SMTPStartTLS requires STARTTLS: a server that does not offer it gets
	// no mail. The default.
	SMTPStartTLS = "starttls"
	// SMTPImplicitTLS connects with TLS from the first byte (port 465).
	SMTPImplicitTLS = "tls"
	// SMTPPlain sends in clear, and only to a loopback host: for tests and
	// a relay on Stele's own machine. It takes no credentials.
	SMTPPlain = "none"
)

// DefaultSMTPTimeout bounds each step of an SMTP session (dial, each
// command, the message).
const DefaultSMTPTimeout = 30 * time.Second

// SMTPConfig is the mail server every email destination goes through: it
// is Stele-wide configuration, not per rule.
type SMTPConfig struct {
	Host string
	// Port defaults to 587 with STARTTLS, 465 with implicit TLS, 25 in clear.
	Port int
	// Username and Password, when set, authenticate with the strongest
	// mechanism the server offers over TLS. Password is never logged.
	Username string
	Password string
	// From is the sender: an address, with a display name if wanted
	// ("Stele Alerts <alerts@example.com>").
	From string
	// TLS is SMTPStartTLS (when empty), SMTPImplicitTLS or SMTPPlain.
	TLS string
	// Timeout defaults to DefaultSMTPTimeout.
	Timeout time.Duration
	// RootCAs verify the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
}

// Validate checks c and returns an EINVALID *stele.Error naming each bad
// field (smtp.host, smtp.from, …) and its rule, or nil.
func (c SMTPConfig) Validate() error {
	var details []stele.FieldError
	add := func(field, rule, format string, args ...any) {
		details = append(details, stele.FieldError{Field: "smtp." + field, Rule: rule,
			Message: "smtp." + field + ": " + fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Host == "":
		add("host", "required", "the mail server's host name is required")
	case strings.ContainsAny(c.Host, " /:@\r\n") && !isLoopbackHost(c.Host):
		add("host", "hostname", "%q is not a host name or address (give the port apart)", clip(c.Host, 64))
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port", "range", "the port must be between 1 and 65535")
	}
	if c.From == "" {
		add("from", "required", "the sender address is required")
	} else if _, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		add("from", "email", "not an email address (like alerts@example.com or Stele <alerts@example.com>)")
	}
	switch c.TLS {
	case "", SMTPStartTLS, SMTPImplicitTLS:
	case SMTPPlain:
		if !isLoopbackHost(c.Host) {
			add("tls", "loopback_only", "mail is sent in clear only to a loopback host; use starttls or tls")
		}
		if c.Username != "" || c.Password != "" {
			add("username", "not_allowed", "credentials are never sent in clear; use starttls or tls")
		}
	default:
		add("tls", "one_of", "unknown TLS policy %q (starttls, tls or none)", clip(c.TLS, 32))
	}
	if (c.Username == "") != (c.Password == "") {
		add("password", "required", "a user name and a password go together")
	}
	if c.Timeout < 0 {
		add("timeout", "range", "the timeout must not be negative")
	}
	if len(details) == 0 {
		return nil
	}
	return &stele.Error{Code: stele.EINVALID, Message: "invalid SMTP configuration: " + details[0].Message, Details: details}
}

// LogValue leaves the password out.
func (c SMTPConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", c.Host), slog.Int("port", c.port()), slog.String("tls", c.policy()),
		slog.Bool("auth", c.Username != ""), slog.String("from", c.From))
}

// String is LogValue's text, for %v.
func (c SMTPConfig) String() string { return c.LogValue().String() }

func (c SMTPConfig) policy() string {
	if c.TLS == "" {
		return SMTPStartTLS
	}
	return c.TLS
}

func (c SMTPConfig) port() int {
	if c.Port != 0 {
		return c.Port
	}
	return map[string]int{SMTPStartTLS: 587, SMTPImplicitTLS: 465, SMTPPlain: 25}[c.policy()]
}

// client returns a go-mail client for one session.
func (c SMTPConfig) client() (*gomail.Client, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	opts := []gomail.Option{
		gomail.WithPort(c.port()),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch c.policy() {
	case SMTPImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case SMTPPlain:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	return gomail.NewClient(c.Host, opts...)
}

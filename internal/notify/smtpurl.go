package notify

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// ParseSMTPURL reads the mail server of email destinations from one URL,
// as the serve setting --smtp-url takes it:
//
//	smtp://[USER@]HOST[:PORT]?from=ADDRESS[&tls=starttls|tls|none][&timeout=30s]
//
// The password is never part of it (a URL on a command line is seen by
// every user of the machine): it is given apart, from the environment. A
// URL with a password is refused.
func ParseSMTPURL(raw, password string) (SMTPConfig, error) {
	bad := func(rule, format string, args ...any) (SMTPConfig, error) {
		msg := "smtp_url: " + fmt.Sprintf(format, args...)
		return SMTPConfig{}, &stele.Error{Code: stele.EINVALID, Message: msg,
			Details: []stele.FieldError{{Field: "smtp_url", Rule: rule, Message: msg}}}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "smtp" || u.Host == "" || u.Opaque != "" {
		return bad("url", "not an smtp://[USER@]HOST[:PORT]?from=ADDRESS URL")
	}
	if _, has := u.User.Password(); has {
		return bad("no_password", "the URL must not carry the password; give it as STELE_SMTP_PASSWORD")
	}
	c := SMTPConfig{Host: u.Hostname(), Username: u.User.Username(), Password: password}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return bad("port", "the port %q is not a number", clip(p, 16))
		}
		c.Port = n
	}
	q := u.Query()
	c.From, c.TLS = q.Get("from"), q.Get("tls")
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return bad("timeout", "the timeout %q is not a duration", clip(t, 16))
		}
		c.Timeout = d
	}
	for k := range q {
		if k != "from" && k != "tls" && k != "timeout" {
			return bad("unknown_parameter", "unknown parameter %q (from, tls, timeout)", clip(k, 32))
		}
	}
	if err := c.Validate(); err != nil {
		return SMTPConfig{}, err
	}
	return c, nil
}

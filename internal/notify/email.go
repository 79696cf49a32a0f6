package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	htmltemplate "html/template"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	texttemplate "text/template"

	gomail "github.com/wneessen/go-mail"
)

//go:embed templates/alert.txt templates/alert.html
var mailTemplateFiles embed.FS

// mailTemplates are the plain-text and HTML bodies of alert mail. The HTML
// one is html/template: every value is escaped for its context.
type mailTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func parseMailTemplates() (*mailTemplates, error) {
	text, err := texttemplate.ParseFS(mailTemplateFiles, "templates/alert.txt")
	if err != nil {
		return nil, err
	}
	html, err := htmltemplate.ParseFS(mailTemplateFiles, "templates/alert.html")
	if err != nil {
		return nil, err
	}
	return &mailTemplates{text: text, html: html}, nil
}

// mailView is what the templates show. Every string is on one line, so
// that event data cannot draw lines of its own in the plain-text body.
type mailView struct {
	Test                            bool
	Title, Summary                  string
	Account, Query, FiredAt, Window string
	Events                          []mailEvent
	More                            int
	SearchURL, RuleID, DeliveryID   string
}

type mailEvent struct {
	Time, Action, Outcome, Actor, Target, Source, IP, Description, URL string
}

const mailTime = "2006-01-02 15:04:05 MST"

func (n *Notifier) mailViewOf(d Delivery) mailView {
	a := d.Alert
	v := mailView{
		Test: a.Test, Title: "Stele alert: " + oneLine(a.Rule.Name, 200), Summary: oneLine(a.summary(), 400),
		Account: oneLine(a.Account, 100), Query: oneLine(a.Rule.Query, 1000), FiredAt: a.FiredAt.UTC().Format(mailTime),
		SearchURL: n.console.SearchURL(a), RuleID: oneLine(a.Rule.ID, 64), DeliveryID: d.ID, More: a.Omitted(),
	}
	if !a.WindowStart.IsZero() && !a.WindowEnd.IsZero() {
		v.Window = a.WindowStart.UTC().Format(mailTime) + " to " + a.WindowEnd.UTC().Format(mailTime)
	}
	for i, e := range a.Events {
		if i == MaxEvents {
			v.More += len(a.Events) - MaxEvents
			break
		}
		v.Events = append(v.Events, mailEvent{
			Time: e.Time.UTC().Format(mailTime), Action: oneLine(e.Action, 128), Outcome: oneLine(e.Outcome, 16),
			Actor: oneLine(refText(e.Actor), 300), Target: oneLine(refText(e.Target), 300), Source: oneLine(refText(e.Source), 300),
			IP: oneLine(e.IP, 64), Description: oneLine(e.Description, 1000), URL: n.console.EventURL(e.ID),
		})
	}
	return v
}

// mailSubject is the Subject: one line, so that no event data or rule
// name can end the header and start another.
func mailSubject(a *Alert) string {
	s := "[Stele] " + a.Rule.Name + ": " + a.summary()
	if a.Test {
		s = "[TEST] " + s
	}
	return oneLine(s, 200)
}

// mailMessages returns one message per recipient: a refused address then
// holds up no other, a retry goes only to those not yet reached, and no
// recipient sees the others' addresses.
func (n *Notifier) mailMessages(d Delivery) ([]*gomail.Msg, error) {
	v := n.mailViewOf(d)
	var text, html bytes.Buffer
	if err := n.mail.text.Execute(&text, v); err != nil {
		return nil, err
	}
	if err := n.mail.html.Execute(&html, v); err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(n.smtp.From)
	if err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	msgs := make([]*gomail.Msg, 0, len(d.Destination.To))
	for _, to := range d.Destination.To {
		m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
		m.FromMailAddress(from)
		if err := m.To(to); err != nil {
			return nil, err
		}
		m.Subject(mailSubject(d.Alert))
		// Stable across attempts, distinct per recipient.
		m.SetMessageIDWithValue(d.ID + "." + shortHash(strings.ToLower(to)) + "@" + domain)
		m.SetDateWithValue(n.now())
		m.SetGenHeader("Auto-Submitted", "auto-generated")
		m.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
		m.SetGenHeader("X-Stele-Delivery-Id", d.ID)
		m.SetBodyString(gomail.TypeTextPlain, text.String())
		m.AddAlternativeString(gomail.TypeTextHTML, html.String())
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// deliverEmail sends the alert to each recipient in one SMTP session.
func (n *Notifier) deliverEmail(ctx context.Context, d Delivery) error {
	to := d.Destination.To
	fail := func(retryable bool, status int, reason string, err error) *DeliveryError {
		e := &DeliveryError{Type: TypeEmail, Retryable: retryable, Status: status, Reason: reason, err: err}
		if retryable {
			e.Pending = to
		} else {
			e.Refused = to
		}
		return e
	}
	if n.smtp.Host == "" {
		return fail(false, 0, "no SMTP server is configured", nil)
	}
	msgs, err := n.mailMessages(d)
	if err != nil {
		return fail(false, 0, "the message could not be built", err)
	}
	client, err := n.smtp.client()
	if err != nil {
		return fail(false, 0, "the SMTP configuration is not usable", err)
	}
	// Dial, STARTTLS and AUTH: a failure here concerns every recipient.
	if err := client.DialWithContext(ctx); err != nil {
		retryable, code := smtpClass(err)
		return fail(retryable, code, smtpReason(err), err)
	}
	sendErr := client.Send(msgs...)
	// The server has taken (or refused) each message; an error on QUIT
	// changes nothing of that.
	_ = client.Close()
	if sendErr == nil {
		return nil
	}
	e := &DeliveryError{Type: TypeEmail, err: sendErr}
	var reasons []string
	for i, m := range msgs {
		if !m.HasSendError() {
			continue
		}
		retryable, code := smtpClass(m.SendError())
		if retryable {
			e.Pending = append(e.Pending, to[i])
		} else {
			e.Refused = append(e.Refused, to[i])
		}
		if e.Status == 0 {
			e.Status = code
		}
		reasons = append(reasons, to[i]+": "+smtpReason(m.SendError()))
	}
	if len(reasons) == 0 { // Send failed before any message: the connection
		retryable, code := smtpClass(sendErr)
		return fail(retryable, code, smtpReason(sendErr), sendErr)
	}
	e.Retryable = len(e.Pending) > 0
	e.Reason = clip(strings.Join(reasons, "; "), 1000)
	return e
}

// smtpClass says whether an SMTP failure may pass, and its reply code:
// 4xx replies and broken connections may; 5xx replies, certificate
// failures and go-mail's own refusals (no STARTTLS offered, no usable
// AUTH mechanism) need someone to change something first.
func smtpClass(err error) (retryable bool, code int) {
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch c := se.ErrorCode(); {
		case c >= 400 && c < 500:
			return true, c
		case c >= 500:
			return false, c
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return false, 0
		}
		// No reply code: the connection failed during the transaction.
		return true, 0
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500, te.Code
	}
	if isCertificateError(err) {
		return false, 0
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true, 0
	}
	return false, 0
}

// smtpReason is an SMTP failure's text: the server's reply or the cause.
// It holds no credentials: go-mail logs nothing and AUTH replies carry
// none.
func smtpReason(err error) string {
	if isCertificateError(err) {
		return "TLS: " + clip(err.Error(), 300)
	}
	return clip(err.Error(), 300)
}

// summary says what happened in one line of raw (unescaped) text:
// "4 matching events in 10m for actor ada@acme.io".
func (a *Alert) summary() string {
	s := plural(a.Count, "1 matching event", strconv.Itoa(a.Count)+" matching events")
	if th := a.Rule.Threshold; th != nil && th.Window > 0 {
		s += " in " + formatDuration(th.Window)
	}
	if a.Group != nil {
		s += " for " + a.Group.By + " " + a.Group.Value
	}
	return s
}

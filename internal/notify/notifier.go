package notify

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// Config is what the Notifier needs of Stele's configuration. The SMTP
// server is Stele-wide, not per rule.
type Config struct {
	// ConsoleURL is the public base URL of the web console
	// (https://stele.example.com); alerts link to their events under it.
	ConsoleURL string
	// SMTP is the mail server for email destinations; with no Host,
	// email deliveries fail permanently.
	SMTP SMTPConfig
	// URLPolicy says which webhook and Slack URLs and addresses are
	// acceptable beyond public https ones.
	URLPolicy URLPolicy
	// HTTPTimeout bounds one webhook or Slack attempt, from dialling to
	// the end of the answer (DefaultHTTPTimeout when zero).
	HTTPTimeout time.Duration
	// RootCAs verify webhook and Slack certificates; nil means the
	// system's roots.
	RootCAs *x509.CertPool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// DefaultHTTPTimeout bounds one HTTP delivery attempt: a slow receiver
// costs its own delivery a retry, never the others a wait.
const DefaultHTTPTimeout = 10 * time.Second

// Notifier delivers alerts. It is safe for concurrent use, and deliveries
// share nothing that one slow or failing destination could hold up: each
// has its own timeout, connections and SMTP session.
type Notifier struct {
	console Console
	smtp    SMTPConfig
	policy  URLPolicy
	timeout time.Duration
	http    *http.Client
	now     func() time.Time
	mail    *mailTemplates
}

// New checks cfg and returns a Notifier.
func New(cfg Config) (*Notifier, error) {
	var details []stele.FieldError
	u, err := url.Parse(cfg.ConsoleURL)
	if cfg.ConsoleURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		details = append(details, stele.FieldError{Field: "console_url", Rule: "url",
			Message: "console_url: the console's public base URL is required (like https://stele.example.com)"})
	}
	if cfg.SMTP.Host != "" {
		var e *stele.Error
		if errors.As(cfg.SMTP.Validate(), &e) {
			details = append(details, e.Details...)
		}
	}
	if len(details) > 0 {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "invalid alert delivery configuration: " + details[0].Message, Details: details}
	}
	tmpl, err := parseMailTemplates()
	if err != nil {
		return nil, fmt.Errorf("notify: parse mail templates: %w", err)
	}
	n := &Notifier{
		console: Console{base: strings.TrimRight(cfg.ConsoleURL, "/")},
		smtp:    cfg.SMTP,
		policy:  cfg.URLPolicy,
		timeout: cfg.HTTPTimeout,
		now:     cfg.Now,
		mail:    tmpl,
	}
	if n.timeout <= 0 {
		n.timeout = DefaultHTTPTimeout
	}
	if n.now == nil {
		n.now = time.Now
	}
	n.http = newHTTPClient(cfg.RootCAs, cfg.URLPolicy, n.timeout)
	return n, nil
}

// Delivery is one alert for one destination. Its ID stays the same across
// the attempts of the delivery, so that receivers can drop repeats.
type Delivery struct {
	ID          string
	Alert       *Alert
	Destination Destination
}

// deliveryIDPattern keeps a delivery id fit for a header and a Message-ID.
var deliveryIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// NewDeliveryID returns a new delivery id: "dlv_" and 128 random bits.
func NewDeliveryID() string { return "dlv_" + strings.ToLower(rand.Text()) }

// Deliver makes one attempt to deliver d. It returns nil when the
// destination accepted the alert and otherwise a *DeliveryError saying
// whether to try again ([Backoff.Next] decides when).
func (n *Notifier) Deliver(ctx context.Context, d Delivery) error {
	if d.Alert == nil || !deliveryIDPattern.MatchString(d.ID) {
		return &DeliveryError{Type: d.Destination.Type, Reason: "a delivery needs an alert and an id of 1 to 64 letters, digits, _ . -"}
	}
	if err := d.Destination.Validate(n.policy); err != nil {
		return &DeliveryError{Type: d.Destination.Type, Reason: stele.ErrorMessage(err), err: err}
	}
	switch d.Destination.Type {
	case TypeWebhook:
		return n.deliverWebhook(ctx, d)
	case TypeSlack:
		return n.deliverSlack(ctx, d)
	default: // TypeEmail; Validate admits no other
		return n.deliverEmail(ctx, d)
	}
}

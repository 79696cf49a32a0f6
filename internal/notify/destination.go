package notify

import (
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"

	"github.com/stele-audit/stele"
)

// Destination types, as an alert rule's JSON names them.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeEmail   = "email"
)

// Limits on an alert rule's destinations.
const (
	MaxDestinations = 10
	MaxRecipients   = 20
	MaxURLLength    = 2048
	MaxAddressLen   = 254 // RFC 5321's limit on a forward path, less the brackets
)

// Destination is one place an alert rule sends its alerts, in the JSON
// shape of DESIGN.md: {"type": "webhook", "url", "secret"},
// {"type": "slack", "url"} or {"type": "email", "to": […]}.
//
// Secret, PreviousSecret and a Slack URL (whose path is its credential) are
// secrets: they are shown once, never logged ([Destination.LogValue] leaves
// them out) and never returned after creation ([Destination.Redacted]).
type Destination struct {
	Type   string   `json:"type"`
	URL    string   `json:"url,omitempty"`
	Secret string   `json:"secret,omitempty"`
	To     []string `json:"to,omitempty"`

	// PreviousSecret is the webhook's secret before a rotation, kept by
	// the rule's store for a grace period: while it is set, deliveries
	// carry a signature under each secret, so a receiver can move to the
	// new secret when it likes. It is never part of the API's JSON.
	PreviousSecret string `json:"-"`
}

// URLPolicy says which destination URLs and addresses are acceptable
// beyond public https ones.
type URLPolicy struct {
	// AllowLoopbackHTTP accepts http:// URLs whose host is a loopback
	// address or "localhost": for tests, and for a receiver on Stele's
	// own machine. It implies AllowPrivateNetworks for loopback.
	AllowLoopbackHTTP bool
	// AllowPrivateNetworks lets deliveries connect to loopback, private,
	// link-local and other non-public addresses. Off, a tenant cannot
	// aim Stele at its own network or a cloud metadata service.
	AllowPrivateNetworks bool
}

// ValidateDestinations checks an alert rule's destinations and returns an
// EINVALID *stele.Error listing every problem, each naming the field
// (destinations[i].url) and the rule it broke, or nil.
func ValidateDestinations(ds []Destination, p URLPolicy) error {
	var details []stele.FieldError
	switch {
	case len(ds) == 0:
		details = append(details, stele.FieldError{Field: "destinations", Rule: "required",
			Message: "an alert rule needs at least one destination"})
	case len(ds) > MaxDestinations:
		details = append(details, stele.FieldError{Field: "destinations", Rule: "max_items",
			Message: fmt.Sprintf("an alert rule has at most %d destinations, not %d", MaxDestinations, len(ds))})
	default:
		for i, d := range ds {
			details = append(details, d.check(fmt.Sprintf("destinations[%d]", i), p)...)
		}
	}
	if len(details) == 0 {
		return nil
	}
	return &stele.Error{Code: stele.EINVALID, Message: "invalid alert destinations: " + details[0].Message, Details: details}
}

// Validate checks one destination; field names start with "destination".
func (d Destination) Validate(p URLPolicy) error {
	details := d.check("destination", p)
	if len(details) == 0 {
		return nil
	}
	return &stele.Error{Code: stele.EINVALID, Message: "invalid alert destination: " + details[0].Message, Details: details}
}

func (d Destination) check(prefix string, p URLPolicy) []stele.FieldError {
	var out []stele.FieldError
	add := func(field, rule, format string, args ...any) {
		out = append(out, stele.FieldError{Field: prefix + field, Rule: rule, Message: prefix + field + ": " + fmt.Sprintf(format, args...)})
	}
	notAllowed := func(field string, set bool) {
		if set {
			add(field, "not_allowed", "a %s destination takes no %s", d.Type, strings.TrimPrefix(field, "."))
		}
	}
	switch d.Type {
	case TypeWebhook:
		checkURL(d.URL, p, func(rule, format string, args ...any) { add(".url", rule, format, args...) })
		if err := CheckSecret(d.Secret); err != nil {
			add(".secret", err.Rule, "%s", err.Message)
		}
		notAllowed(".to", d.To != nil)
	case TypeSlack:
		checkURL(d.URL, p, func(rule, format string, args ...any) { add(".url", rule, format, args...) })
		notAllowed(".secret", d.Secret != "")
		notAllowed(".to", d.To != nil)
	case TypeEmail:
		checkRecipients(d.To, func(field, rule, format string, args ...any) { add(".to"+field, rule, format, args...) })
		notAllowed(".url", d.URL != "")
		notAllowed(".secret", d.Secret != "")
	case "":
		add(".type", "required", "the type is required (webhook, slack or email)")
	default:
		add(".type", "one_of", "unknown type %q (webhook, slack or email)", clip(d.Type, 32))
	}
	return out
}

// checkURL reports through bad the first rule a webhook or Slack URL breaks.
func checkURL(raw string, p URLPolicy, bad func(rule, format string, args ...any)) {
	if raw == "" {
		bad("required", "the URL is required")
		return
	}
	if len(raw) > MaxURLLength {
		bad("max_length", "the URL is %d bytes long; the limit is %d", len(raw), MaxURLLength)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		bad("url", "not an absolute URL (like https://example.com/hooks/stele)")
		return
	}
	switch {
	case u.User != nil:
		bad("no_credentials", "the URL must not carry a user name or password; a webhook is authenticated by its signature")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		bad("no_fragment", "the URL must not have a #fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		if !p.AllowLoopbackHTTP {
			bad("https", "the URL must use https")
		}
	default:
		bad("https", "the URL must use https")
	}
}

// isLoopbackHost reports whether host is "localhost" or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func checkRecipients(to []string, bad func(field, rule, format string, args ...any)) {
	if len(to) == 0 {
		bad("", "required", "at least one recipient is required")
		return
	}
	if len(to) > MaxRecipients {
		bad("", "max_items", "at most %d recipients, not %d", MaxRecipients, len(to))
		return
	}
	seen := make(map[string]bool, len(to))
	for i, a := range to {
		field := fmt.Sprintf("[%d]", i)
		if err := checkAddress(a); err != "" {
			bad(field, "email", "%s", err)
			continue
		}
		k := strings.ToLower(a)
		if seen[k] {
			bad(field, "unique", "%s is listed twice", a)
		}
		seen[k] = true
	}
}

// checkAddress returns why a is not a bare email address (local@domain),
// or "".
func checkAddress(a string) string {
	if a == "" {
		return "the address is empty"
	}
	if len(a) > MaxAddressLen {
		return fmt.Sprintf("the address is %d bytes long; the limit is %d", len(a), MaxAddressLen)
	}
	parsed, err := mail.ParseAddress(a)
	if err != nil || parsed.Name != "" || parsed.Address != a {
		return "not an email address (like ops@example.com, without a display name)"
	}
	_, domain, _ := strings.Cut(a, "@")
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return "the address needs a domain name (like ops@example.com)"
	}
	return ""
}

// Redacted returns d as an API may show it after creation: without its
// secrets, and with a Slack URL cut to its host (its path is the
// credential). A webhook URL keeps its path but not its query.
func (d Destination) Redacted() Destination {
	r := Destination{Type: d.Type, To: d.To}
	switch d.Type {
	case TypeSlack:
		r.URL = safeURL(d.URL) + "/…"
	case TypeWebhook:
		if u, err := url.Parse(d.URL); err == nil {
			u.User = nil
			if u.RawQuery != "" {
				u.RawQuery = "…"
			}
			u.Fragment = ""
			r.URL = u.String()
		}
	}
	return r
}

// LogValue keeps a destination's secrets, its URL's path and query and its
// recipients out of logs: the type, the host and a count are enough to
// tell destinations apart.
func (d Destination) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("type", d.Type)}
	if d.URL != "" {
		attrs = append(attrs, slog.String("host", safeURL(d.URL)))
	}
	if d.Type == TypeEmail {
		attrs = append(attrs, slog.Int("recipients", len(d.To)))
	}
	return slog.GroupValue(attrs...)
}

// String is LogValue's text, for %v.
func (d Destination) String() string { return d.LogValue().String() }

// safeURL returns only the scheme and host of raw.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// clip cuts s to at most n bytes without splitting a rune.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

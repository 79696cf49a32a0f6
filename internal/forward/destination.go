package forward

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
)

// Destination types and formats, as a stream's "destination" names them
// (DESIGN.md).
const (
	TypeSyslog = "syslog"
	TypeHTTPS  = "https"

	FormatCEF       = "cef"
	FormatJSON      = "json"
	FormatNDJSON    = "ndjson"
	FormatSplunkHEC = "splunk_hec"
	FormatOCSF      = "ocsf"
)

// Formats lists the formats each destination type takes.
var Formats = map[string][]string{
	TypeSyslog: {FormatCEF, FormatJSON},
	TypeHTTPS:  {FormatNDJSON, FormatSplunkHEC, FormatOCSF},
}

// Limits on a destination's fields.
const (
	maxURLLen         = 2048
	maxHeaders        = 32
	maxHeaderValueLen = 8 << 10
)

// reservedHeaders are set by the HTTPS sender itself or by net/http: a
// destination that set them would break the request's framing or its body.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Proxy-Authorization": true, "Proxy-Connection": true,
}

// Destination is where a stream sends its events: the "destination" of
// /v1/streams. Headers may hold secrets (an Authorization token): they are
// never logged nor put in an error.
type Destination struct {
	Type    string            `json:"type"`
	Address string            `json:"address,omitempty"`
	TLS     bool              `json:"tls,omitempty"`
	Format  string            `json:"format"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// Validate checks d and returns an EINVALID *stele.Error with one
// FieldError per broken rule, fields named as the API's JSON names them
// (destination.address …), or nil.
func (d *Destination) Validate() error {
	var c check
	switch d.Type {
	case TypeSyslog:
		c.address(d.Address)
		c.format(d.Type, d.Format)
		if d.URL != "" {
			c.fail("destination.url", "not_allowed", "url is for https destinations; a syslog destination has an address")
		}
		if len(d.Headers) > 0 {
			c.fail("destination.headers", "not_allowed", "headers are for https destinations")
		}
	case TypeHTTPS:
		c.url(d.URL)
		c.format(d.Type, d.Format)
		c.headers(d.Headers)
		if d.Address != "" {
			c.fail("destination.address", "not_allowed", "address is for syslog destinations; an https destination has a url")
		}
		if d.TLS {
			c.fail("destination.tls", "not_allowed", "tls is for syslog destinations; an https destination always uses TLS")
		}
	case "":
		c.fail("destination.type", "required", "type is required: syslog or https")
	default:
		c.fail("destination.type", "enum", "type must be one of syslog, https")
	}
	if len(c.details) == 0 {
		return nil
	}
	return &stele.Error{Code: stele.EINVALID, Message: "invalid stream destination", Details: c.details}
}

// check collects the field errors of one destination.
type check struct{ details []stele.FieldError }

func (c *check) fail(field, rule, format string, args ...any) {
	c.details = append(c.details, stele.FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (c *check) format(typ, format string) {
	if format == "" {
		c.fail("destination.format", "required", "format is required: one of %s", strings.Join(Formats[typ], ", "))
		return
	}
	if !slices.Contains(Formats[typ], format) {
		c.fail("destination.format", "enum", "format of a %s destination must be one of %s", typ, strings.Join(Formats[typ], ", "))
	}
}

func (c *check) address(addr string) {
	if addr == "" {
		c.fail("destination.address", "required", "address is required, as host:port")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validHost(host) {
		c.fail("destination.address", "host_port", "address must be host:port, with a DNS name or an IP address as host")
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '0' {
		c.fail("destination.address", "port", "address's port must be a number from 1 to 65535")
	}
}

// validHost reports whether h is an IP address or a DNS name (letters,
// digits, '-', '_' and dots, at most 253 bytes).
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 || h[0] == '.' || h[0] == '-' || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

func (c *check) url(raw string) {
	if raw == "" {
		c.fail("destination.url", "required", "url is required, as https://host/path")
		return
	}
	if len(raw) > maxURLLen {
		c.fail("destination.url", "max_length", "url is at most %d bytes", maxURLLen)
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || !validHost(u.Hostname()) {
		c.fail("destination.url", "url", "url must be an absolute https:// URL with a host")
		return
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		c.fail("destination.url", "https", "url must use https:// (http:// only for a loopback host)")
		return
	default:
		c.fail("destination.url", "https", "url must use https://")
		return
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			c.fail("destination.url", "port", "url's port must be a number from 1 to 65535")
		}
	}
	if u.User != nil {
		c.fail("destination.url", "no_userinfo", "url must not carry credentials; put them in a header (Authorization)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		c.fail("destination.url", "no_fragment", "url must not have a #fragment")
	}
}

// isLoopback reports whether host names this machine: localhost or a
// loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (c *check) headers(h map[string]string) {
	if len(h) > maxHeaders {
		c.fail("destination.headers", "max_items", "at most %d headers", maxHeaders)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		field := "destination.headers." + name
		if !validHeaderName(name) {
			// The name itself is unfit to echo: say where, not what.
			c.fail("destination.headers", "header_name", "header names are HTTP tokens (letters, digits and !#$%%&'*+-.^_`|~)")
			continue
		}
		if reservedHeaders[textproto.CanonicalMIMEHeaderKey(name)] {
			c.fail(field, "reserved", "header %s is set by Stele and may not be configured", textproto.CanonicalMIMEHeaderKey(name))
			continue
		}
		v := h[name]
		if len(v) > maxHeaderValueLen {
			c.fail(field, "max_length", "a header value is at most %d bytes", maxHeaderValueLen)
		} else if !validHeaderValue(v) {
			c.fail(field, "header_value", "a header value has no control characters (line breaks, NUL)")
		}
	}
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control character but tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

package forward

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/export"
)

// Syslog message sizes. DefaultMaxMessageSize is rsyslog's default
// maxMessageSize, which a receiver left as installed accepts whole (a longer
// message it cuts, and reads the rest as a second message);
// MinMessageSize is what RFC 5424 says every receiver should take, and
// always leaves room for an event's identity.
const (
	DefaultMaxMessageSize = 8096
	MinMessageSize        = 2048
)

// ExamplePEN is the private enterprise number RFC 5612 reserves for
// documentation: the default of the structured data's SD-ID, stele@32473.
const ExamplePEN = "32473"

// bom starts every MSG: RFC 5424 §6.4 asks for it before a UTF-8 MSG.
const bom = "\uFEFF"

// maxSDValue bounds each structured-data value before escaping.
const maxSDValue = 128

// Syslog formats an event as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME stele - ACTION [stele@PEN id=… seq=… account=… action=… category=… outcome=…] BOM MSG
//
// where MSG is the event as CEF or as JSON. A message longer than MaxSize
// is made to fit by cutting the event's free-text fields, never the
// framing or the syntax; it then carries truncated="fields" (or
// truncated="message", MSG left out, in the last resort) in its structured
// data. A message never holds a control character, so receivers that
// escape them on receipt (rsyslog does) keep it as it was sent.
type Syslog struct {
	Hostname     string // HOSTNAME: 1 to 255 printable ASCII characters, or "-"
	EnterpriseID string // the PEN of the SD-ID stele@PEN: digits and dots
	Facility     int    // 0 to 23; 13, log audit, by default
	Message      string // FormatCEF or FormatJSON
	CEF          CEF    // the CEF header's Device Version
	MaxSize      int    // the longest SYSLOG-MSG, octet count excluded
}

// NewSyslog returns a Syslog formatter writing message as MSG, with the
// defaults filled in: the machine's host name, ExamplePEN, facility log
// audit, DefaultMaxMessageSize.
func NewSyslog(message string) *Syslog {
	host, _ := os.Hostname()
	return &Syslog{Hostname: syslogHostname(host), EnterpriseID: ExamplePEN, Facility: facilityLogAudit,
		Message: message, CEF: CEF{Version: version()}, MaxSize: DefaultMaxMessageSize}
}

// check reports the first field of s that would make its messages invalid.
func (s *Syslog) check() error {
	switch {
	case s.Hostname == "" || len(s.Hostname) > 255 || !printUSASCII(s.Hostname):
		return fmt.Errorf("syslog hostname %q must be 1 to 255 printable ASCII characters", s.Hostname)
	case s.EnterpriseID == "" || len(s.EnterpriseID) > 26 || strings.Trim(s.EnterpriseID, "0123456789.") != "" ||
		strings.HasPrefix(s.EnterpriseID, ".") || strings.HasSuffix(s.EnterpriseID, ".") || strings.Contains(s.EnterpriseID, ".."):
		return fmt.Errorf("syslog enterprise id %q must be a private enterprise number (digits, dot-separated)", s.EnterpriseID)
	case s.Facility < 0 || s.Facility > 23:
		return fmt.Errorf("syslog facility %d must be from 0 to 23", s.Facility)
	case s.Message != FormatCEF && s.Message != FormatJSON:
		return fmt.Errorf("syslog message format %q must be cef or json", s.Message)
	case s.MaxSize < MinMessageSize:
		return fmt.Errorf("syslog message size %d must be at least %d", s.MaxSize, MinMessageSize)
	}
	return nil
}

// Append appends e's message to dst, without framing.
func (s *Syslog) Append(dst []byte, e *stele.Event) []byte {
	start := len(dst)
	msg, err := s.appendWhole(dst, e, e, "")
	if err == nil && len(msg)-start <= s.MaxSize {
		return msg
	}
	for _, lvl := range clipLevels {
		msg, err = s.appendWhole(msg[:start], e, clip(e, lvl), "fields")
		if err == nil && len(msg)-start <= s.MaxSize {
			return msg
		}
	}
	// The identity alone did not fit (or a time is beyond what JSON
	// writes): the structured data still names the event, for the
	// receiver to fetch it from Stele.
	return s.appendHeader(msg[:start], e, "message")
}

// appendWhole appends the header of e and the MSG of body, a copy of e
// clipped to fit or e itself.
func (s *Syslog) appendWhole(dst []byte, e, body *stele.Event, truncated string) ([]byte, error) {
	dst = s.appendHeader(dst, e, truncated)
	dst = append(dst, ' ')
	dst = append(dst, bom...)
	if s.Message == FormatCEF {
		return s.CEF.Append(dst, body)
	}
	return export.AppendEventJSON(dst, body)
}

// appendHeader appends everything before MSG: PRI, VERSION, TIMESTAMP,
// HOSTNAME, APP-NAME, PROCID, MSGID and STRUCTURED-DATA.
func (s *Syslog) appendHeader(dst []byte, e *stele.Event, truncated string) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(s.Facility*8+severityOf(e)), 10)
	dst = append(dst, ">1 "...)
	if t := e.Time.UTC(); e.Time.IsZero() || t.Year() < 0 || t.Year() > 9999 {
		dst = append(dst, '-')
	} else {
		// TIME-SECFRAC has at most six digits: microseconds, Stele's unit.
		dst = t.Truncate(stele.TimeUnit).AppendFormat(dst, "2006-01-02T15:04:05.999999Z07:00")
	}
	dst = append(dst, ' ')
	dst = append(dst, s.Hostname...)
	dst = append(dst, " stele - "...)
	dst = appendMsgID(dst, e.Action)
	dst = append(dst, " [stele@"...)
	dst = append(dst, s.EnterpriseID...)
	dst = appendSDParam(dst, "id", e.ID)
	dst = appendSDParam(dst, "seq", strconv.FormatInt(e.Seq, 10))
	dst = appendSDParam(dst, "account", e.Account)
	dst = appendSDParam(dst, "action", e.Action)
	dst = appendSDParam(dst, "category", e.Category)
	dst = appendSDParam(dst, "outcome", e.Outcome)
	if truncated != "" {
		dst = appendSDParam(dst, "truncated", truncated)
	}
	return append(dst, ']')
}

// appendMsgID appends the action as MSGID: at most 32 printable ASCII
// characters, others as '_'; "-" when empty.
func appendMsgID(dst []byte, action string) []byte {
	if action == "" {
		return append(dst, '-')
	}
	for i := 0; i < len(action) && i < 32; i++ {
		if c := action[i]; c > ' ' && c < 0x7f {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return dst
}

// appendSDParam appends ` name="value"`, the value cut to maxSDValue bytes,
// '"', '\' and ']' escaped (RFC 5424 §6.3.3), control characters and
// invalid UTF-8 as U+FFFD.
func appendSDParam(dst []byte, name, v string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '"')
	v = cut(v, maxSDValue)
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '"' || c == '\\' || c == ']':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, "\uFFFD"...)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, v[i:i+size]...)
			}
			i += size
			continue
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// syslogHostname makes a host name fit HOSTNAME: printable ASCII, at most
// 255 bytes, "-" when there is none.
func syslogHostname(h string) string {
	if h != "" && len(h) <= 255 && printUSASCII(h) {
		return h
	}
	b := []byte(h)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b[:min(len(b), 255)])
}

func printUSASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

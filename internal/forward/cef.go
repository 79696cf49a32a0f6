package forward

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"runtime/debug"
	"strconv"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// maxCEFName bounds the header's Name, as ArcSight's parsers do.
const maxCEFName = 512

// CEF formats an event as an ArcSight Common Event Format record:
//
//	CEF:0|Stele|Stele|Version|action|description|severity|extension
//
// with the extension keys of docs/STREAMS.md. Header fields escape '\' and
// '|'; extension values escape '\', '=' and line breaks (\n, \r), as the
// CEF specification says. Other control characters and invalid UTF-8
// become U+FFFD, so that a record is one line whatever the event holds.
type CEF struct {
	// Version is the header's Device Version: Stele's version.
	Version string
}

// Append appends e's CEF record to dst. It fails only for metadata that
// encoding/json refuses (a json.Number that is no number).
func (c CEF) Append(dst []byte, e *stele.Event) ([]byte, error) {
	start := len(dst)
	dst = append(dst, "CEF:0|Stele|Stele|"...)
	dst = appendCEFHeader(dst, c.Version, 64)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, e.Action, maxClippedAction)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, firstOf(e.Description, e.Action), maxCEFName)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, int64(cefSeverity(severityOf(e))), 10)
	dst = append(dst, '|')

	x := extension{dst: dst}
	x.num("rt", e.Time.UnixMilli())
	x.str("externalId", e.ID)
	x.label("cn1", "seq")
	x.num("cn1", e.Seq)
	x.labelled("cs1", "account", e.Account)
	x.str("act", e.Action)
	x.str("cat", e.Category)
	x.str("outcome", e.Outcome)
	if a := e.Actor; a != nil {
		x.str("suid", a.ID)
		x.str("suser", firstOf(a.Email, a.Name))
		if a.Email != "" {
			x.labelled("flexString1", "actorName", a.Name)
		}
		x.labelled("cs5", "actorType", a.Type)
	}
	if t := e.Target; t != nil {
		x.str("duid", t.ID)
		x.str("duser", firstOf(t.Name, t.Email))
		x.labelled("flexString2", "targetType", t.Type)
	}
	if s := e.Source; s != nil {
		x.labelled("cs2", "source", s.ID)
		x.labelled("cs3", "sourceName", s.Name)
	}
	if _, err := netip.ParseAddr(e.IP); err == nil {
		x.str("src", e.IP)
	}
	x.str("requestClientApplication", e.UserAgent)
	x.labelled("cs4", "requestId", e.RequestID)
	if !e.ReceivedAt.IsZero() {
		x.label("deviceCustomDate1", "receivedAt")
		x.num("deviceCustomDate1", e.ReceivedAt.UnixMilli())
	}
	x.str("msg", e.Description)
	if len(e.Metadata) > 0 {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(e.Metadata); err != nil {
			return dst[:start], err
		}
		x.labelled("cs6", "metadata", string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	}
	return x.dst, nil
}

// extension appends "key=value" pairs separated by spaces, leaving out
// empty values.
type extension struct {
	dst []byte
	n   int
}

func (x *extension) key(k string) {
	if x.n > 0 {
		x.dst = append(x.dst, ' ')
	}
	x.n++
	x.dst = append(append(x.dst, k...), '=')
}

func (x *extension) str(k, v string) {
	if v != "" {
		x.key(k)
		x.dst = appendCEFValue(x.dst, v)
	}
}

func (x *extension) num(k string, v int64) {
	x.key(k)
	x.dst = strconv.AppendInt(x.dst, v, 10)
}

func (x *extension) label(k, label string) { x.str(k+"Label", label) }

// labelled appends a custom field and its label, when v is not empty.
func (x *extension) labelled(k, label, v string) {
	if v != "" {
		x.label(k, label)
		x.str(k, v)
	}
}

// appendCEFHeader appends s as a header field of at most max bytes (before
// escaping): '\' and '|' escaped, line breaks as spaces.
func appendCEFHeader(dst []byte, s string, max int) []byte {
	s = cut(s, max)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' || c == '|':
			dst = append(dst, '\\', c)
		case c == '\n' || c == '\r':
			dst = append(dst, ' ')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, "\uFFFD"...)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

// appendCEFValue appends s as an extension value: '\' and '=' escaped,
// line breaks as \n and \r.
func appendCEFValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' || c == '=':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, "\uFFFD"...)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// version is the running binary's module version, for CEF's Device
// Version.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// appendMetadataJSON appends m as encoding/json writes it (keys sorted; <, >
// and & escaped when escapeHTML is set), without its reflection and
// allocations. Metadata values are strings, json.Numbers, bools and nulls
// (record validates them on the way in); anything else is left to
// encoding/json.
func appendMetadataJSON(dst []byte, m map[string]any, escapeHTML bool) ([]byte, error) {
	var small [16]string
	keys := small[:0]
	for k, v := range m {
		switch v.(type) {
		case string, json.Number, bool, nil:
		default:
			return appendMarshalled(dst, m, escapeHTML)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k, escapeHTML)
		dst = append(dst, ':')
		switch v := m[k].(type) {
		case string:
			dst = appendJSONString(dst, v, escapeHTML)
		case json.Number:
			if v == "" {
				v = "0" // as encoding/json writes it
			}
			if !json.Valid([]byte(v)) || strings.ContainsAny(string(v), "{}[]\",: \t\r\ntfn") {
				return dst, fmt.Errorf("json: invalid number literal %q", string(v))
			}
			dst = append(dst, v...)
		case bool:
			if v {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
		case nil:
			dst = append(dst, "null"...)
		}
	}
	return append(dst, '}'), nil
}

// appendMarshalled appends v as encoding/json writes it.
func appendMarshalled(dst []byte, v any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// writes it: quote, backslash and control characters escaped (\b \f \n \r
// \t by name, the rest as \u00XX), invalid UTF-8 as \ufffd, U+2028 and
// U+2029 escaped, and <, > and & escaped when escapeHTML is set.
func appendJSONString(dst []byte, s string, escapeHTML bool) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

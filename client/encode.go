package client

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// appendEvent appends the JSON of an event as a producer sends it (what
// inputOf and encoding/json would write, fields in another order perhaps)
// without reflection: the recorder encodes every event it sends. A
// metadata value of a kind it does not know is left to encoding/json;
// the error is encoding/json's.
func appendEvent(b []byte, e *stele.Event) ([]byte, error) {
	b = append(b, `{"action":`...)
	b = appendString(b, e.Action)
	b = appendField(b, "account", e.Account)
	if !e.Time.IsZero() {
		b = append(b, `,"time":"`...)
		b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendField(b, "category", e.Category)
	b = appendField(b, "outcome", e.Outcome)
	b = appendRef(b, "actor", e.Actor)
	b = appendRef(b, "target", e.Target)
	b = appendRef(b, "source", e.Source)
	b = appendField(b, "ip", e.IP)
	b = appendField(b, "user_agent", e.UserAgent)
	b = appendField(b, "request_id", e.RequestID)
	b = appendField(b, "description", e.Description)
	if len(e.Metadata) > 0 {
		b = append(b, `,"metadata":{`...)
		first := true
		for k, v := range e.Metadata {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, v); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	b = appendField(b, "idempotency_key", e.IdempotencyKey)
	return append(b, '}'), nil
}

// appendField appends ,"name":"v" when v is not empty (omitempty).
func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendRef(b []byte, name string, r *stele.Ref) []byte {
	if r == nil {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	n := len(b)
	b = appendField(b, "type", r.Type)
	b = appendField(b, "id", r.ID)
	b = appendField(b, "name", r.Name)
	b = appendField(b, "email", r.Email)
	if len(b) > n {
		copy(b[n:], b[n+1:]) // the first field's comma
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case nil:
		return append(b, "null"...), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) && v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.AppendInt(b, int64(v), 10), nil
		}
	}
	// json.Number (checked there), floats, other kinds: as encoding/json writes them.
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it: quotes, backslashes, control characters, <, > and &, U+2028
// and U+2029; invalid UTF-8 becomes U+FFFD. It and appendValue mirror
// internal/export/metadata.go deliberately (the client imports nothing
// internal); internal/api/client_mirror_test.go holds the events both write
// equal, and encode_test.go this file to encoding/json.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

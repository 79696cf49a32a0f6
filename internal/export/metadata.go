package export

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// appendMetadataJSON appends m as json.Marshal writes it (keys sorted, HTML
// characters escaped), without its reflection and allocations. Metadata
// values are strings, json.Numbers, bools and nulls (record validates them
// on the way in); anything else is left to json.Marshal.
func appendMetadataJSON(dst []byte, m map[string]any) ([]byte, error) {
	var small [16]string
	keys := small[:0]
	for k, v := range m {
		switch v.(type) {
		case string, json.Number, bool, nil:
		default:
			b, err := json.Marshal(m)
			return append(dst, b...), err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		switch v := m[k].(type) {
		case string:
			dst = appendJSONString(dst, v)
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

// appendJSONString appends s as a JSON string as encoding/json writes it;
// strings of plain ASCII (the common case) are copied as they are.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

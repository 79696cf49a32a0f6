package client

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/stele-audit/stele"
)

// decodeReceipts reads the answer to POST /v1/events: {"events": [receipt,
// …]}. Every producer reads one per request, up to a thousand receipts
// long, so the answer as the API writes it is read in one pass without
// reflection, its strings cut from one copy of the body; anything else (an
// escape, a field this code does not know) goes through encoding/json,
// which gives the same result, or the error.
func decodeReceipts(body []byte) ([]stele.Receipt, error) {
	if rs, ok := scanReceipts(string(body)); ok {
		return rs, nil
	}
	var answer struct {
		Events []stele.Receipt `json:"events"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, err
	}
	return answer.Events, nil
}

// receiptScanner reads the plainest form of a receipts answer. Any byte it
// is not sure of makes it give up (ok false), never guess.
type receiptScanner struct {
	s  string
	i  int
	ok bool
}

func scanReceipts(s string) ([]stele.Receipt, bool) {
	r := &receiptScanner{s: s, ok: true}
	r.expect('{')
	if r.str() != "events" {
		return nil, false
	}
	r.expect(':')
	r.expect('[')
	out := make([]stele.Receipt, 0, strings.Count(s, `"seq"`))
	if r.peek() == ']' {
		r.i++
	} else {
		for r.ok {
			out = append(out, r.receipt())
			if r.peek() == ',' {
				r.i++
				continue
			}
			r.expect(']')
			break
		}
	}
	r.expect('}')
	r.space()
	return out, r.ok && r.i == len(r.s)
}

func (r *receiptScanner) receipt() stele.Receipt {
	var out stele.Receipt
	var seen [5]bool // a repeated key is left to encoding/json, which keeps the last
	r.expect('{')
	for r.ok && r.peek() != '}' {
		if seen != [5]bool{} {
			r.expect(',')
		}
		key := r.str()
		r.expect(':')
		field := -1
		switch key {
		case "id":
			field, out.ID = 0, r.str()
		case "seq":
			field, out.Seq = 1, r.int()
		case "account":
			field, out.Account = 2, r.str()
		case "leaf_hash":
			field, out.LeafHash = 3, r.str()
		case "replayed":
			field, out.Replayed = 4, r.bool()
		}
		if field < 0 || seen[field] {
			r.ok = false
			break
		}
		seen[field] = true
	}
	r.expect('}')
	return out
}

func (r *receiptScanner) space() {
	for r.i < len(r.s) && (r.s[r.i] == ' ' || r.s[r.i] == '\n' || r.s[r.i] == '\t' || r.s[r.i] == '\r') {
		r.i++
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (r *receiptScanner) peek() byte {
	r.space()
	if r.i < len(r.s) {
		return r.s[r.i]
	}
	return 0
}

func (r *receiptScanner) expect(c byte) {
	if r.peek() != c {
		r.ok = false
		return
	}
	r.i++
}

// str reads a string of printable ASCII without escapes.
func (r *receiptScanner) str() string {
	r.expect('"')
	start := r.i
	for r.ok && r.i < len(r.s) {
		switch c := r.s[r.i]; {
		case c == '"':
			r.i++
			return r.s[start : r.i-1]
		case c < ' ' || c > '~' || c == '\\':
			r.ok = false
		}
		r.i++
	}
	r.ok = false
	return ""
}

// int reads an integer as JSON writes one: no plus sign, no leading zero,
// no fraction or exponent.
func (r *receiptScanner) int() int64 {
	r.space()
	start := r.i
	if r.i < len(r.s) && r.s[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9' {
		r.i++
	}
	if r.i == digits || r.s[digits] == '0' && r.i-digits > 1 {
		r.ok = false
		return 0
	}
	n, err := strconv.ParseInt(r.s[start:r.i], 10, 64)
	if err != nil {
		r.ok = false
	}
	return n
}

func (r *receiptScanner) bool() bool {
	r.space()
	switch {
	case len(r.s)-r.i >= 4 && r.s[r.i:r.i+4] == "true":
		r.i += 4
		return true
	case len(r.s)-r.i >= 5 && r.s[r.i:r.i+5] == "false":
		r.i += 5
		return false
	}
	r.ok = false
	return false
}

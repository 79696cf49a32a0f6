package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// Limits on fields DESIGN.md leaves open.
const (
	maxTypeLen    = 64
	maxEmailLen   = stele.MaxEmailLen
	maxMetaKeyLen = 128
	maxUserAgent  = 1024
	maxIdemKeyLen = 256
	maxRequestID  = 256
	// maxNumberLen bounds a metadata number's text: room for every float64
	// written out in full, not for thousands of digits a reader rounds away.
	maxNumberLen = 64
)

// MaxSafeInteger is the largest magnitude of a metadata number,
// 2^53−1: every JSON reader, JavaScript's included, holds the integers up to
// it exactly, and every reader that converts to an integer type fits them.
const MaxSafeInteger = 1<<53 - 1

// checker collects the field errors of one event.
type checker struct {
	index   int
	details []stele.FieldError
}

func (c *checker) fail(field, rule, format string, args ...any) {
	c.details = append(c.details, stele.FieldError{Index: c.index, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) maxLen(field, v string, n int) {
	if len(v) > n {
		c.fail(field, "max_length", "%s is at most %d bytes, got %d", field, n, len(v))
	}
}

// Validate checks one input against the event rules and returns the
// normalised event: times in UTC at microsecond resolution (time defaults to
// now), category filled in from the catalog, outcome defaulting to unknown,
// IP in canonical form, empty parties dropped.
func Validate(in *Input, index int, now time.Time) (stele.Event, []stele.FieldError) {
	c := checker{index: index}
	e := stele.Event{
		Account: in.Account, Action: in.Action, Category: in.Category, Outcome: in.Outcome,
		UserAgent: in.UserAgent, RequestID: in.RequestID, Description: in.Description,
		IdempotencyKey: in.IdempotencyKey,
	}
	c.checkTime(in.Time, now, &e)
	c.checkAction(&e)
	if e.Outcome == "" {
		e.Outcome = stele.OutcomeUnknown
	} else if !isOutcome(e.Outcome) {
		c.fail("outcome", "enum", "outcome must be one of %s", strings.Join(stele.Outcomes, ", "))
	}
	e.Actor = c.checkRef("actor", in.Actor)
	if in.Target != nil {
		e.Target = c.checkRef("target", &stele.Ref{Type: in.Target.Type, ID: in.Target.ID, Name: in.Target.Name})
	}
	if in.Source != nil {
		e.Source = c.checkRef("source", &stele.Ref{Type: in.Source.Type, ID: in.Source.ID, Name: in.Source.Name})
	}
	if in.IP != "" {
		if a, err := netip.ParseAddr(in.IP); err != nil || a.Zone() != "" {
			c.fail("ip", "ip", "ip must be an IPv4 or IPv6 address")
		} else {
			e.IP = a.Unmap().String()
		}
	}
	c.maxLen("user_agent", e.UserAgent, maxUserAgent)
	c.maxLen("request_id", e.RequestID, maxRequestID)
	c.maxLen("description", e.Description, stele.MaxTextLen)
	c.maxLen("idempotency_key", e.IdempotencyKey, maxIdemKeyLen)
	e.Metadata = c.checkMetadata(in)
	return e, c.details
}

func (c *checker) checkTime(s string, now time.Time, e *stele.Event) {
	if s == "" {
		e.Time = now.UTC().Truncate(stele.TimeUnit)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		c.fail("time", "format", "time must be RFC 3339, like 2026-11-24T10:00:00.123Z")
		return
	}
	if t.After(now.Add(stele.MaxFutureSkew)) {
		c.fail("time", "future", "time is at most %s in the future", stele.MaxFutureSkew)
		return
	}
	if t.Year() < 1970 {
		c.fail("time", "range", "time must be after 1970")
		return
	}
	e.Time = t.UTC().Truncate(stele.TimeUnit)
}

func (c *checker) checkAction(e *stele.Event) {
	// The built-in actions match the pattern (TestCatalogActionsMatchThePattern),
	// so most events skip the regular expression.
	builtin, ok := stele.Catalog[e.Action]
	switch {
	case e.Action == "":
		c.fail("action", "required", "action is required")
		return
	case len(e.Action) > stele.MaxActionLen:
		c.fail("action", "max_length", "action is at most %d bytes", stele.MaxActionLen)
		return
	case !ok && !stele.ActionPattern.MatchString(e.Action):
		c.fail("action", "pattern", "action must look like resource.verb (%s)", stele.ActionPattern)
		return
	}
	switch {
	case e.Category == "" && ok:
		e.Category = builtin
	case e.Category == "":
		c.fail("category", "required", "category is required for an action outside the built-in catalog")
	case !stele.IsCategory(e.Category):
		c.fail("category", "enum", "category must be one of %s", strings.Join(stele.Categories, ", "))
	case ok && e.Category != builtin:
		c.fail("category", "catalog", "action %s belongs to category %s", e.Action, builtin)
	}
}

func (c *checker) checkRef(field string, r *stele.Ref) *stele.Ref {
	if r.IsZero() {
		return nil
	}
	c.maxLen(field+".type", r.Type, maxTypeLen)
	c.maxLen(field+".id", r.ID, stele.MaxIDLen)
	c.maxLen(field+".name", r.Name, stele.MaxTextLen)
	if r.Email != "" {
		switch {
		case len(r.Email) > maxEmailLen:
			c.fail(field+".email", "max_length", "%s.email is at most %d bytes", field, maxEmailLen)
		case !stele.IsEmail(r.Email):
			c.fail(field+".email", "email", "%s.email must be an email address", field)
		}
	}
	out := *r
	return &out
}

func (c *checker) checkMetadata(in *Input) map[string]any {
	m := in.meta
	if m == nil {
		raw := bytes.TrimSpace(in.Metadata)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			return nil
		}
		if raw[0] != '{' {
			c.fail("metadata", "type", "metadata must be an object")
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			c.fail("metadata", "type", "metadata must be an object of scalar values")
			return nil
		}
	}
	if len(m) > stele.MaxMetadataKeys {
		c.fail("metadata", "max_keys", "metadata has at most %d keys, got %d", stele.MaxMetadataKeys, len(m))
		return nil
	}
	first := len(c.details)
	for k, v := range m {
		if k == "" || len(k) > maxMetaKeyLen {
			c.fail("metadata", "key", "metadata keys are 1 to %d bytes", maxMetaKeyLen)
			continue
		}
		switch v := v.(type) {
		case string:
			if len(v) > stele.MaxMetadataValue {
				c.maxLen("metadata."+k, v, stele.MaxMetadataValue)
			}
		case json.Number:
			c.checkNumber("metadata."+k, v)
		case bool, nil:
		default:
			c.fail("metadata."+k, "scalar", "metadata values must be strings, numbers, booleans or null")
		}
	}
	// In the keys' order, not the map's: the same body gets the same answer.
	slices.SortStableFunc(c.details[first:], func(a, b stele.FieldError) int { return strings.Compare(a.Field, b.Field) })
	if len(m) == 0 {
		return nil
	}
	return m
}

func isOutcome(s string) bool {
	for _, o := range stele.Outcomes {
		if o == s {
			return true
		}
	}
	return false
}

// checkNumber refuses a metadata number that a reader would not hold as it
// was sent: one beyond ±MaxSafeInteger (1e19 once became math.MinInt64 in
// the console), one beyond a float's range (1e400 reads as infinity), or
// one so small that it reads as zero (0.1e-400). The number is kept as its
// exact text; these checks only decide whether it is kept.
func (c *checker) checkNumber(field string, n json.Number) {
	s := string(n)
	if len(s) > maxNumberLen {
		c.fail(field, "max_length", "%s is a number of at most %d characters; send longer ones as strings", field, maxNumberLen)
		return
	}
	if !isJSONNumber(s) { // only Go callers of Record can get here
		c.fail(field, "type", "%s must be a JSON number", field)
		return
	}
	f, err := strconv.ParseFloat(s, 64) // in JSON's grammar, only a range error
	switch {
	case err != nil || math.Abs(f) > MaxSafeInteger:
		c.fail(field, "range", "%s must be a number from -%d to %d (±(2^53−1), exact in every JSON reader); send larger numbers as strings",
			field, MaxSafeInteger, MaxSafeInteger)
	case f == 0 && strings.ContainsAny(mantissa(s), "123456789"):
		c.fail(field, "range", "%s is too small to hold: it would read as 0; send 0, or the value as a string", field)
	}
}

// mantissa is a number's text before its exponent.
func mantissa(s string) string {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		return s[:i]
	}
	return s
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	if s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') {
		return false
	}
	sc := scan{b: []byte(s)}
	_, ok := sc.number()
	return ok && sc.i == len(s)
}

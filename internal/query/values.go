package query

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// check validates (and normalises) one value of a clear or blind field.
func check(f stele.Field, v string) (string, error) {
	switch f {
	case stele.FieldAction:
		if stele.ActionPattern.MatchString(v) || prefixPattern.MatchString(v) {
			return v, nil
		}
		return "", fail("pattern", "action %q is not an action (like user.login) or a prefix (like user.*)", v)
	case stele.FieldCategory:
		if stele.IsCategory(v) {
			return v, nil
		}
		return "", fail("enum", "category %q is not a category (%s)", v, strings.Join(stele.Categories, ", "))
	case stele.FieldOutcome:
		for _, o := range stele.Outcomes {
			if o == v {
				return v, nil
			}
		}
		return "", fail("enum", "outcome %q is not an outcome (%s)", v, strings.Join(stele.Outcomes, ", "))
	case stele.FieldIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", fail("format", "ip %q is not an IPv4 or IPv6 address", v)
		}
		// As ingest stores it: IPv4-mapped IPv6 addresses as IPv4.
		return a.Unmap().String(), nil
	default: // actor, target, source
		if n := utf8.RuneCountInString(v); n > MaxValueLength {
			return "", fail("max_length", "%s value is %d characters long; the limit is %d", f, n, MaxValueLength)
		}
		return v, nil
	}
}

// timeBound applies after: or before:.
func (p *parser) timeBound(name string, values []string, negate bool) error {
	if negate {
		return fail("syntax", "%s: cannot be negated; use %s: instead", name, map[string]string{qualAfter: qualBefore, qualBefore: qualAfter}[name])
	}
	if len(values) != 1 {
		return fail("syntax", "%s: takes one time, not a list", name)
	}
	t, err := parseTime(name, values[0], p.now)
	if err != nil {
		return err
	}
	ago := ""
	if relativePattern.MatchString(values[0]) {
		ago = values[0]
	}
	if name == qualAfter {
		if p.q.After.IsZero() || t.After(p.q.After) {
			p.q.After, p.q.AfterAgo = t, ago
		}
	} else if p.q.Before.IsZero() || t.Before(p.q.Before) {
		p.q.Before, p.q.BeforeAgo = t, ago
	}
	return nil
}

// Layouts after: and before: accept, besides relative durations. Times
// without an offset are UTC.
var layouts = []string{time.RFC3339Nano, "2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05"}

var units = map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}

// parseTime parses the value of after: or before: into a UTC time truncated
// to microseconds.
func parseTime(name, v string, now time.Time) (time.Time, error) {
	var t time.Time
	if m := relativePattern.FindStringSubmatch(v); m != nil {
		unit := units[m[2]]
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(maxDuration/unit) {
			return time.Time{}, fail("range", "%s: duration %q is too long", name, v)
		}
		t = now.Add(-time.Duration(n) * unit)
	} else {
		ok := false
		for _, l := range layouts {
			var err error
			if t, err = time.Parse(l, v); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return time.Time{}, fail("format", "%s: %q is not a time (like 2026-11-01, 2026-11-01T10:00, 2026-11-01T10:00:00Z, or 24h, 7d, 30m, 2w ago)", name, v)
		}
	}
	t = t.UTC().Truncate(time.Microsecond)
	if !t.After(minTime) || t.After(maxTime) {
		return time.Time{}, fail("range", "%s: %s is out of range (after 1970, before 10000)", name, t.Format(time.RFC3339Nano))
	}
	return t, nil
}

const maxDuration = time.Duration(1<<63 - 1)

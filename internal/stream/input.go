package stream

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// DestinationChange is what an operator says about a stream's destination
// (stele streams create and update); a field left empty says nothing.
type DestinationChange struct {
	Syslog string // HOST:PORT: send syslog (RFC 5424) there
	HTTPS  string // a URL: send batches over HTTPS there
	TLS    *bool  // with syslog: over TLS; nil keeps what it was
	Format string
}

// Apply is the destination the change makes of cur, the stream's current
// one on an update (its headers aside) or nil on a create. A change of
// type drops the format, which belongs to the type.
func (c DestinationChange) Apply(cur *stele.StreamDestination) (*stele.StreamDestination, error) {
	if c.Syslog != "" && c.HTTPS != "" {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "--syslog and --https exclude each other",
			Details: []stele.FieldError{{Field: "destination", Rule: "exclusive"}}}
	}
	d := &stele.StreamDestination{}
	if cur != nil {
		d = &stele.StreamDestination{Type: cur.Type, Address: cur.Address, TLS: cur.TLS, Format: cur.Format, URL: cur.URL}
	}
	switch {
	case c.Syslog != "":
		*d = stele.StreamDestination{Type: "syslog", Address: c.Syslog, TLS: c.TLS != nil && *c.TLS, Format: d.Format}
		if cur != nil && cur.Type != "syslog" {
			d.Format = ""
		}
	case c.HTTPS != "":
		*d = stele.StreamDestination{Type: "https", URL: c.HTTPS, Format: d.Format}
		if cur != nil && cur.Type != "https" {
			d.Format = ""
		}
	case cur == nil:
		return nil, &stele.Error{Code: stele.EINVALID, Message: "a stream needs --syslog HOST:PORT or --https URL",
			Details: []stele.FieldError{{Field: "destination", Rule: "required"}}}
	}
	if c.TLS != nil {
		d.TLS = *c.TLS
	}
	if c.Format != "" {
		d.Format = c.Format
	}
	return d, nil
}

// HeaderLines reads a file of headers, one 'Name: value' a line; blank
// lines and lines starting with # are left out.
func HeaderLines(r io.Reader) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines, sc.Err()
}

// ParseHeaders reads header lines, each 'Name: value', into a map.
func ParseHeaders(lines []string) (map[string]string, error) {
	out := map[string]string{}
	for i, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(name) == "" {
			// The line may hold a token: say which, not what.
			return nil, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("header %d is not 'Name: value'", i+1),
				Details: []stele.FieldError{{Field: "header", Rule: "format"}}}
		}
		out[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return out, nil
}

// ParseReplayTime reads an end of a replay's window, given as field, as
// RFC 3339, a date (UTC), or a duration before now: 30m, 24h, 7d, 2w.
func ParseReplayTime(field, text string, now time.Time) (time.Time, error) {
	text = strings.TrimSpace(text)
	if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", text); err == nil {
		return t, nil
	}
	if n := len(text); n >= 2 {
		if k, err := strconv.Atoi(text[:n-1]); err == nil && k >= 0 {
			unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[text[n-1]]
			if unit != 0 {
				return now.Add(-time.Duration(k) * unit), nil
			}
		}
	}
	return time.Time{}, &stele.Error{Code: stele.EINVALID, Message: fmt.Sprintf("--%s is RFC 3339 (2026-11-24T10:00:00Z), a date (2026-11-24) or a duration before now (24h, 7d)", field),
		Details: []stele.FieldError{{Field: field, Rule: "format"}}}
}

package stream

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func TestDestinationChangeKeepsWhatItDoesNotSay(t *testing.T) {
	on, off := true, false
	syslog := &stele.StreamDestination{Type: "syslog", Address: "logs:514", TLS: true, Format: "cef"}
	https := &stele.StreamDestination{Type: "https", URL: "https://siem/in", Format: "ndjson"}
	for _, tc := range []struct {
		name   string
		change DestinationChange
		cur    *stele.StreamDestination
		want   *stele.StreamDestination
		rule   string // the refusal's rule, "" when allowed
	}{
		{"create syslog", DestinationChange{Syslog: "h:514", Format: "json"}, nil,
			&stele.StreamDestination{Type: "syslog", Address: "h:514", Format: "json"}, ""},
		{"create syslog over TLS", DestinationChange{Syslog: "h:6514", TLS: &on, Format: "cef"}, nil,
			&stele.StreamDestination{Type: "syslog", Address: "h:6514", TLS: true, Format: "cef"}, ""},
		{"create https", DestinationChange{HTTPS: "https://x/y", Format: "ocsf"}, nil,
			&stele.StreamDestination{Type: "https", URL: "https://x/y", Format: "ocsf"}, ""},
		{"create with neither", DestinationChange{Format: "cef"}, nil, nil, "required"},
		{"both", DestinationChange{Syslog: "h:514", HTTPS: "https://x"}, nil, nil, "exclusive"},
		{"update keeps all", DestinationChange{}, syslog, syslog, ""},
		{"update format only", DestinationChange{Format: "json"}, syslog,
			&stele.StreamDestination{Type: "syslog", Address: "logs:514", TLS: true, Format: "json"}, ""},
		{"update TLS off", DestinationChange{TLS: &off}, syslog,
			&stele.StreamDestination{Type: "syslog", Address: "logs:514", Format: "cef"}, ""},
		{"new syslog address drops TLS unless given", DestinationChange{Syslog: "other:514"}, syslog,
			&stele.StreamDestination{Type: "syslog", Address: "other:514", Format: "cef"}, ""},
		{"type change drops the format", DestinationChange{Syslog: "h:514"}, https,
			&stele.StreamDestination{Type: "syslog", Address: "h:514"}, ""},
		{"type change with a format", DestinationChange{HTTPS: "https://n", Format: "splunk_hec"}, syslog,
			&stele.StreamDestination{Type: "https", URL: "https://n", Format: "splunk_hec"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.change.Apply(tc.cur)
			if tc.rule != "" {
				var e *stele.Error
				if !errors.As(err, &e) || e.Code != stele.EINVALID || e.Details[0].Rule != tc.rule {
					t.Fatalf("Apply = %+v, %v; want EINVALID %s", got, err, tc.rule)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Apply = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseHeadersNamesTheBadLineNotItsValue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  map[string]string
		bad   string // the message of a refusal
	}{
		{"none", nil, map[string]string{}, ""},
		{"trimmed", []string{" Authorization :  Bearer t0k "}, map[string]string{"Authorization": "Bearer t0k"}, ""},
		{"colon in value", []string{"X-A: a:b"}, map[string]string{"X-A": "a:b"}, ""},
		{"empty value", []string{"X-Empty:"}, map[string]string{"X-Empty": ""}, ""},
		{"no colon", []string{"X-A: 1", "Bearer secret"}, nil, "header 2 is not 'Name: value'"},
		{"no name", []string{" : secret"}, nil, "header 1 is not 'Name: value'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeaders(tc.lines)
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("ParseHeaders = %v, %v; want %q without the value", got, err, tc.bad)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseHeaders = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestHeaderLinesSkipsBlanksAndComments(t *testing.T) {
	got, err := HeaderLines(strings.NewReader("# the SIEM's token\n\n  Authorization: Bearer x  \nX-B: 2\n"))
	want := []string{"Authorization: Bearer x", "X-B: 2"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("HeaderLines = %q, %v; want %q", got, err, want)
	}
}

func TestParseReplayTimeTakesTimesDatesAndDurationsBeforeNow(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		text string
		want time.Time
		ok   bool
	}{
		{"2026-11-24T10:00:00Z", time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), true},
		{"2026-11-24T10:00:00.5+01:00", time.Date(2026, 11, 24, 9, 0, 0, 5e8, time.UTC), true},
		{" 2026-11-01 ", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), true},
		{"30m", now.Add(-30 * time.Minute), true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"2w", now.Add(-14 * 24 * time.Hour), true},
		{"0h", now, true},
		{"-1h", time.Time{}, false},
		{"5s", time.Time{}, false},
		{"h", time.Time{}, false},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, err := ParseReplayTime("after", tc.text, now)
		if !tc.ok {
			if err == nil || !strings.Contains(err.Error(), "--after is RFC 3339") {
				t.Errorf("%q: ParseReplayTime = %v, %v; want a refusal naming --after", tc.text, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: ParseReplayTime = %v, %v; want %v", tc.text, got, err, tc.want)
		}
	}
}

package forward_test

import (
	"flag"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/goldentest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtures are events of every shape the formats must carry: an ordinary
// change, a failed login, and fields full of what breaks framing and
// escaping (newlines, ] " \ = |, NUL, invalid UTF-8).
func fixtures() []*stele.Event {
	first := goldentest.RoleChange()
	t0 := first.Time
	return []*stele.Event{
		first,
		{ID: "evt_0000000000000002", Seq: 2, Account: "acme", Time: t0.Add(time.Second), ReceivedAt: t0.Add(time.Second),
			Action: "user.login_failed", Category: "authentication", Outcome: "failure",
			Actor: &stele.Ref{ID: "u_9", Email: "mallory@evil.example"}, IP: "2001:db8::7",
			Description: "Wrong password"},
		{ID: "evt_0000000000000003", Seq: 3, Account: "acme", Time: t0.Add(2 * time.Second), ReceivedAt: t0.Add(2 * time.Second),
			Action: "finding.generated", Category: "source_activity", Outcome: "unknown",
			Actor:       &stele.Ref{Type: "service", ID: "svc\"]=|\\", Name: "line1\nline2\r\x00end"},
			Target:      &stele.Ref{ID: "t|1", Name: "a=b c=d"},
			Source:      &stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"},
			IP:          "not an ip",
			Description: "pipe | backslash \\ equals = bracket ] quote \" bad \xff\xfe utf8 tab\t del\x7f",
			Metadata:    map[string]any{"k=]\"": "v\n|\\", "null": nil}},
	}
}

// huge is an event at every limit ingest allows, and more: it does not fit
// a syslog message.
func huge() *stele.Event {
	e := fixtures()[0]
	e.Description = strings.Repeat("déjà vu ", stele.MaxTextLen/9)
	e.Actor.Name = strings.Repeat("n", stele.MaxTextLen)
	e.UserAgent = strings.Repeat("u", 1024)
	e.Metadata = map[string]any{}
	for i := range stele.MaxMetadataKeys {
		e.Metadata[strings.Repeat(string(rune('a'+i%26)), 100)+string(rune('A'+i/26))] = strings.Repeat("v\n", stele.MaxMetadataValue/2)
	}
	return e
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldentest.Check(t, name, got, *update)
}

// utf8Like replaces each invalid byte of s with U+FFFD, as encoding/json
// and the formats do.
func utf8Like(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

package notify

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzVerifyWebhook feeds the receiver's check any header and body: it
// must not panic, and it may accept only a header that carries the MAC of
// that body under the secret at a time within the tolerance.
func FuzzVerifyWebhook(f *testing.F) {
	body := []byte(`{"type":"alert.fired"}`)
	f.Add(Sign([]string{goodSecret}, fired, body), body)
	f.Add("t=1795000000,v1=00,v1=zz,t=1", []byte("x"))
	f.Add("", []byte{})
	f.Add(",,,=,t=,v1=", []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook([]string{goodSecret}, header, body, fired, DefaultTolerance)
		if err != nil {
			return
		}
		ts, _, ok := parseSignature(header)
		if !ok {
			t.Fatalf("accepted a header it cannot parse: %q", header)
		}
		sec, _ := strconv.ParseInt(ts, 10, 64)
		want := Sign([]string{goodSecret}, time.Unix(sec, 0), body)
		if !strings.Contains(header, want[strings.Index(want, "v1="):]) {
			t.Fatalf("accepted %q without the body's MAC", header)
		}
	})
}

// FuzzSlackSafe checks the escaping of event data for Slack's mrkdwn: no
// raw <, > or & and no line break come out, only whole entities, within
// the byte limit, in valid UTF-8.
func FuzzSlackSafe(f *testing.F) {
	f.Add("<!channel> <http://evil|click> & done", 40)
	f.Add("&amp;&lt;\r\n\u2028é", 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 4 || n > 4096 {
			return
		}
		out := slackSafe(s, n)
		if len(out) > n || !utf8.ValidString(out) && utf8.ValidString(s) {
			t.Fatalf("slackSafe(%q, %d) = %q: %d bytes", s, n, out, len(out))
		}
		rest := strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(out)
		if strings.ContainsAny(rest, "<>&\r\n\u2028\u2029") {
			t.Fatalf("slackSafe(%q, %d) = %q", s, n, out)
		}
	})
}

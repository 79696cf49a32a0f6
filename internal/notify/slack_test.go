package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// slackReceiver accepts what Slack's incoming webhooks accept, checked as
// strictly as this test knows how, and keeps the messages.
type slackReceiver struct {
	mu       sync.Mutex
	messages []slackMessage
	problems []string
}

func (s *slackReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m slackMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	problem := func(what string, v ...any) {
		s.problems = append(s.problems, what+" "+fmt.Sprint(v...))
	}
	switch {
	case err != nil:
		problem("not JSON of the shape expected", err)
	case r.Header.Get("Content-Type") != "application/json":
		problem("content type", r.Header.Get("Content-Type"))
	case m.Text == "" || len(m.Blocks) == 0 || len(m.Blocks) > 50:
		problem("text and 1 to 50 blocks are required", len(m.Blocks))
	case m.UnfurlLinks || m.UnfurlMedia:
		problem("unfurling must be off")
	}
	for _, b := range m.Blocks {
		texts := b.Fields
		switch b.Type {
		case "section":
			if b.Text != nil {
				if len(b.Text.Text) > 3000 {
					problem("section text over 3000 characters", len(b.Text.Text))
				}
				texts = append(texts, *b.Text)
			}
			if len(b.Fields) > 10 {
				problem("more than 10 fields")
			}
			for _, f := range b.Fields {
				if len(f.Text) > 2000 {
					problem("field over 2000 characters", len(f.Text))
				}
			}
		case "context":
			texts = b.Elements
		default:
			problem("unknown block type", b.Type)
		}
		for _, t := range texts {
			if t.Type != "mrkdwn" || t.Text == "" {
				problem("text objects are non-empty mrkdwn", t.Type)
			}
		}
	}
	if len(s.problems) > 0 {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.messages = append(s.messages, m)
	io.WriteString(w, "ok")
}

// texts returns every mrkdwn string of m, the fallback text first.
func (m slackMessage) texts() []string {
	out := []string{m.Text}
	for _, b := range m.Blocks {
		if b.Text != nil {
			out = append(out, b.Text.Text)
		}
		for _, f := range append(b.Fields, b.Elements...) {
			out = append(out, f.Text)
		}
	}
	return out
}

var slackAngle = regexp.MustCompile(`<[^<>]*>`)

func TestSlackEscapesEventData(t *testing.T) {
	rcv := &slackReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, newClock(fired), nil)
	a := hostileAlert()
	if err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: a, Destination: Destination{Type: TypeSlack, URL: srv.URL + "/services/T/B/X"}}); err != nil {
		t.Fatalf("%v (receiver: %v)", err, rcv.problems)
	}
	if len(rcv.messages) != 1 {
		t.Fatalf("%d messages", len(rcv.messages))
	}
	all := strings.Join(rcv.messages[0].texts(), "\n---\n")
	// Every <…> is a link Stele made into its own console.
	for _, m := range slackAngle.FindAllString(all, -1) {
		if !strings.HasPrefix(m, "<"+consoleBase+"/admin/audit-logs") {
			t.Errorf("a link or mention not of Stele's making: %s", m)
		}
	}
	if strings.Count(all, "<") != len(slackAngle.FindAllString(all, -1)) {
		t.Errorf("a stray < reached Slack:\n%s", all)
	}
	for _, want := range []string{"&lt;!channel&gt;", "&lt;http://evil.example|click&gt;", "&lt;script&gt;", "&amp;", "Role changes  Bcc: victim@example.com"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "\nBcc") || strings.Contains(all, "\nX-Evil") || strings.Contains(all, "\nline two") {
		t.Errorf("event data started a line of its own:\n%s", all)
	}
	if !strings.Contains(all, "3 more; open all 4 in Stele") {
		t.Errorf("the link to the rest is missing:\n%s", all)
	}
}

func TestSlackMessageStaysWithinLimits(t *testing.T) {
	rcv := &slackReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := newTestNotifier(t, newClock(fired), nil)
	a := hostileAlert()
	heavy := strings.Repeat("&<>", 2000)
	a.Rule.Name, a.Rule.Query, a.Account = heavy, heavy, heavy
	a.Group.Value = heavy
	for len(a.Events) < MaxEvents {
		e := a.Events[0]
		e.Description, e.Action = heavy, heavy
		a.Events = append(a.Events, e)
	}
	a.Count = 1000
	err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: a, Destination: Destination{Type: TypeSlack, URL: srv.URL}})
	if err != nil {
		t.Fatalf("%v: %v", err, rcv.problems)
	}
}

func TestSlackFailuresKeepTheURLSecret(t *testing.T) {
	for code, retryable := range map[int]bool{404: false, 403: false, 429: true, 500: true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "channel_not_found", code) }))
		n := newTestNotifier(t, newClock(fired), nil)
		err := n.Deliver(context.Background(), Delivery{ID: NewDeliveryID(), Alert: hostileAlert(), Destination: Destination{Type: TypeSlack, URL: srv.URL + "/services/T0/B0/TOKEN"}})
		srv.Close()
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retryable != retryable || de.Status != code || de.Type != TypeSlack {
			t.Errorf("HTTP %d: %v, want retryable %v", code, err, retryable)
		}
		if strings.Contains(err.Error(), "TOKEN") {
			t.Errorf("HTTP %d: the error carries the URL: %v", code, err)
		}
	}
}

func TestSlackSafeCutsBetweenEntities(t *testing.T) {
	in := strings.Repeat("a&<é>\n", 40)
	for n := 4; n < 300; n++ {
		out := slackSafe(in, n)
		if len(out) > n {
			t.Fatalf("n=%d: %d bytes", n, len(out))
		}
		rest := strings.NewReplacer("&amp;", "", "&lt;", "", "&gt;", "").Replace(strings.TrimSuffix(out, "…"))
		if strings.ContainsAny(rest, "&<>\n") {
			t.Fatalf("n=%d: a cut entity or a raw character in %q", n, out)
		}
	}
}

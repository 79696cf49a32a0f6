package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// slackEvents is how many triggering events a Slack message lists; the
// link to the console finds them all.
const slackEvents = 5

// slackMessage is an incoming webhook's JSON: text (the notification and
// the fallback) and Block Kit blocks. Unfurling is off so that Slack does
// not fetch a URL that an event's text carries.
type slackMessage struct {
	Text        string       `json:"text"`
	Blocks      []slackBlock `json:"blocks"`
	UnfurlLinks bool         `json:"unfurl_links"`
	UnfurlMedia bool         `json:"unfurl_media"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // always mrkdwn: every string is escaped for it
	Text string `json:"text"`
}

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

// slackEscaper escapes what Slack's mrkdwn reads as control sequences:
// <…> makes links, mentions (<@U…>, <!channel>) and dates, and & starts
// an entity. Escaped, event data shows as written and does nothing. The
// formatting characters (* _ ~ `) cannot link or notify and are left be.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackSafe returns s on one line, escaped for mrkdwn, in at most n bytes
// (Slack limits a text's length after escaping), cut marked with "…".
func slackSafe(s string, n int) string {
	line := oneLine(s, len(s))
	if esc := slackEscaper.Replace(line); len(esc) <= n {
		return esc
	}
	var b strings.Builder
	for _, r := range line {
		piece := slackEscaper.Replace(string(r))
		if b.Len()+len(piece) > n-len("…") {
			break
		}
		b.WriteString(piece)
	}
	b.WriteString("…")
	return b.String()
}

// slackLink returns a link Stele makes: the URL (Stele's own, with every
// character of event data in it percent-encoded) and a label escaped.
func slackLink(url, label string) string {
	return "<" + slackEscaper.Replace(url) + "|" + label + ">"
}

// oneLine replaces control characters (newlines among them) with spaces
// and cuts s to at most n runes, marking a cut with "…".
func oneLine(s string, n int) string {
	var b strings.Builder
	runes := 0
	for _, r := range s {
		if runes == n {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		b.WriteRune(r)
		runes++
	}
	return b.String()
}

// slackMessageOf builds the message of a.
func (n *Notifier) slackMessageOf(a *Alert) slackMessage {
	title := "Stele alert: " + slackSafe(a.Rule.Name, 300)
	if a.Test {
		title = "[TEST] " + title
	}
	summary := slackSafe(a.summary(), 700)
	msg := slackMessage{Text: fmt.Sprintf("%s: %s (account %s)", title, summary, slackSafe(a.Account, 150))}
	msg.Blocks = append(msg.Blocks,
		slackBlock{Type: "section", Text: ptr(mrkdwn("*" + title + "*\n" + summary))},
		slackBlock{Type: "section", Fields: []slackText{
			mrkdwn("*Account*\n" + slackSafe(a.Account, 150)),
			mrkdwn("*Fired at*\n" + a.FiredAt.UTC().Format("2006-01-02 15:04:05 MST")),
			mrkdwn("*Query*\n" + slackSafe(a.Rule.Query, 1000)),
		}},
	)
	for i, e := range a.Events {
		if i == slackEvents {
			break
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: ptr(mrkdwn(n.slackEvent(e)))})
	}
	link := "Open the event in Stele"
	if a.Count != 1 {
		link = fmt.Sprintf("Open the %d events in Stele", a.Count)
	}
	if more := a.Count - min(len(a.Events), slackEvents); more > 0 && len(a.Events) > 0 {
		link = fmt.Sprintf("%d more; open all %d in Stele", more, a.Count)
	}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{
		mrkdwn(slackLink(n.console.SearchURL(a), link)),
	}})
	return msg
}

// slackEvent is one event's line: when (linking to it), what, who, to what,
// where from, and its description.
func (n *Notifier) slackEvent(e Event) string {
	var b strings.Builder
	b.WriteString(slackLink(n.console.EventURL(e.ID), e.Time.UTC().Format("2006-01-02 15:04:05")))
	b.WriteString(" *" + slackSafe(e.Action, 150) + "*")
	if e.Outcome != "" {
		b.WriteString(" (" + slackSafe(e.Outcome, 16) + ")")
	}
	if s := refText(e.Actor); s != "" {
		b.WriteString(" by " + slackSafe(s, 300))
	}
	if s := refText(e.Target); s != "" {
		b.WriteString(" on " + slackSafe(s, 300))
	}
	if s := refText(e.Source); s != "" {
		b.WriteString(" in " + slackSafe(s, 300))
	}
	if e.IP != "" {
		b.WriteString(" from " + slackSafe(e.IP, 64))
	}
	if e.Description != "" {
		b.WriteString("\n" + slackSafe(e.Description, 1000))
	}
	return b.String()
}

func (n *Notifier) deliverSlack(ctx context.Context, d Delivery) error {
	body, err := json.Marshal(n.slackMessageOf(d.Alert))
	if err != nil {
		return &DeliveryError{Type: TypeSlack, Reason: "the message could not be encoded", err: err}
	}
	return n.post(ctx, TypeSlack, d.Destination.URL, body, nil)
}

func ptr[T any](v T) *T { return &v }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

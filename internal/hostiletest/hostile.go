// Package hostiletest holds events as a hostile producer, or a store written
// before today's validation, makes them: numbers out of every range,
// numbers spelled as text, markup and script URLs in every string. Tests of
// the read side (the console, the exports, the API, the server as a whole)
// store them and read them back.
package hostiletest

import (
	"encoding/json"
	"time"

	"github.com/stele-audit/stele"
)

// Markup is a string that would run code if a page wrote it unescaped, in
// text or in an attribute.
const Markup = `<script>alert(1)</script><img src=x onerror=alert(2)>" onmouseover="alert(3)`

// Poisoned is the event of issue 15 that killed the server for every
// tenant: a latency minute of 1e19 requests.
const Poisoned = `{"action":"system.api_latency","metadata":{"requests":1e19,"errors":0,"p50_ms":1,"p95_ms":2,"p99_ms":3}}`

// OldStoreEvents are events of account as a store written before metadata
// numbers were checked holds them, in the last hour before now: three
// latency minutes (the poisoned one; one of numbers out of range or
// spelled as text; one at a float's limits) and a login whose every string
// holds markup. Today's ingest refuses the first three; store them with
// ingest.Service.AppendUnchecked.
func OldStoreEvents(account string, now time.Time) []stele.Event {
	return []stele.Event{
		{Account: account, Action: "system.api_latency", Time: now.Add(-10 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("1e19"), "errors": json.Number("0"),
				"p50_ms": json.Number("1"), "p95_ms": json.Number("2"), "p99_ms": json.Number("3")}},
		{Account: account, Action: "system.api_latency", Time: now.Add(-20 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("-1e308"), "errors": "Infinity",
				"p50_ms": "NaN", "p95_ms": json.Number("0.1e-400"), "p99_ms": json.Number("1e400")}},
		{Account: account, Action: "system.api_latency", Time: now.Add(-30 * time.Minute), Outcome: stele.OutcomeSuccess,
			Metadata: map[string]any{"requests": json.Number("1.7976931348623157e308"), "errors": json.Number("1.7976931348623157e308"),
				"p50_ms": json.Number("9223372036854775808"), "p95_ms": json.Number("1e308"), "p99_ms": "1e999"}},
		{Account: account, Action: "user.login", Time: now.Add(-40 * time.Minute), Outcome: stele.OutcomeFailure,
			Actor:       &stele.Ref{Type: "user", ID: Markup, Name: Markup, Email: "x@" + Markup},
			Target:      &stele.Ref{Type: Markup, ID: "javascript:alert(4)", Name: Markup},
			Source:      &stele.Ref{Type: "aws", ID: Markup, Name: Markup},
			UserAgent:   Markup,
			RequestID:   Markup,
			Description: Markup + ` =HYPERLINK("http://evil.example")`,
			Metadata: map[string]any{"huge": json.Number("1e19"), "int": json.Number("12345678901234567890"),
				"neg": json.Number("-1e308"), "inf": json.Number("1e400"), "tiny": json.Number("0.1e-400"),
				"nan": "NaN", "null": nil, "yes": true, "html": Markup, "link": "javascript:alert(5)",
				"formula": "=1+1", Markup: "key of markup"}},
	}
}

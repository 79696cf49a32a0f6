package forward

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/stele-audit/stele"
)

// clipLevel says how far an event is cut down so that its message fits a
// size limit: every free-text string to text bytes, metadata keys to
// metaKey bytes, or, bare, the event's identity alone (id, seq, account,
// times, action, category, outcome).
type clipLevel struct {
	text, metaKey int
	bare          bool
}

// clipLevels are tried in order after the whole event did not fit, each
// cutting more: the first that fits is kept. Events as people write them
// fit whole; the levels are for the largest events ingest accepts and for
// hostile input.
var clipLevels = []clipLevel{
	{text: 2048, metaKey: 128}, {text: 1024, metaKey: 128}, {text: 512, metaKey: 128}, {text: 256, metaKey: 128},
	{text: 128, metaKey: 64}, {text: 64, metaKey: 32}, {bare: true},
}

// Bounds on the identity fields once an event is clipped. A valid event's
// fields are within them (ids are 20 bytes, actions at most 128).
const (
	maxClippedID       = 64
	maxClippedAccount  = 128
	maxClippedAction   = stele.MaxActionLen
	maxClippedCategory = 32
	maxClippedOutcome  = 16
)

// ellipsis marks a string that was cut.
const ellipsis = "…"

// clip returns a copy of e cut down to lvl. Metadata numbers that are not
// valid JSON numbers become strings, so that every encoder takes the copy.
func clip(e *stele.Event, lvl clipLevel) *stele.Event {
	c := &stele.Event{
		ID: cut(e.ID, maxClippedID), Seq: e.Seq, Account: cut(e.Account, maxClippedAccount),
		Time: e.Time, ReceivedAt: e.ReceivedAt,
		Action: cut(e.Action, maxClippedAction), Category: cut(e.Category, maxClippedCategory), Outcome: cut(e.Outcome, maxClippedOutcome),
	}
	if lvl.bare {
		return c
	}
	n := lvl.text
	c.Actor, c.Target, c.Source = clipRef(e.Actor, n), clipRef(e.Target, n), clipRef(e.Source, n)
	c.IP, c.UserAgent, c.RequestID = cut(e.IP, n), cut(e.UserAgent, n), cut(e.RequestID, n)
	c.Description, c.IdempotencyKey = cut(e.Description, n), cut(e.IdempotencyKey, n)
	if len(e.Metadata) > 0 {
		c.Metadata = make(map[string]any, len(e.Metadata))
		for k, v := range e.Metadata {
			k = cut(k, lvl.metaKey)
			if _, dup := c.Metadata[k]; dup {
				continue // two long keys cut to one: the copy is marked truncated anyway
			}
			switch v := v.(type) {
			case string:
				c.Metadata[k] = cut(v, n)
			case json.Number:
				if len(v) <= n && json.Valid([]byte(v)) && v != "" {
					c.Metadata[k] = v
				} else {
					c.Metadata[k] = cut(string(v), n)
				}
			case bool, nil:
				c.Metadata[k] = v
			default:
				c.Metadata[k] = cut(fmt.Sprint(v), n)
			}
		}
	}
	return c
}

func clipRef(r *stele.Ref, n int) *stele.Ref {
	if r == nil {
		return nil
	}
	return &stele.Ref{Type: cut(r.Type, n), ID: cut(r.ID, n), Name: cut(r.Name, n), Email: cut(r.Email, n)}
}

// cut returns s if it has at most n bytes, else its longest prefix that
// ends on a rune boundary and, with an ellipsis, has at most n bytes.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n-len(ellipsis), 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}

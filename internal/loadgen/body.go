package loadgen

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/stele-audit/stele"
)

// input is an event as a producer sends it: exactly the fields the ingest
// decoder accepts. Fields Stele assigns (id, seq, received_at) are left out,
// since the server rejects them as unknown.
type input struct {
	Account     string         `json:"account,omitempty"`
	Time        string         `json:"time,omitempty"`
	Action      string         `json:"action"`
	Category    string         `json:"category,omitempty"`
	Outcome     string         `json:"outcome,omitempty"`
	Actor       *stele.Ref     `json:"actor,omitempty"`
	Target      *ref           `json:"target,omitempty"`
	Source      *ref           `json:"source,omitempty"`
	IP          string         `json:"ip,omitempty"`
	UserAgent   string         `json:"user_agent,omitempty"`
	RequestID   string         `json:"request_id,omitempty"`
	Description string         `json:"description,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// ref is a target or source, which carry no email.
type ref struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

func refOf(r *stele.Ref) *ref {
	if r == nil {
		return nil
	}
	return &ref{Type: r.Type, ID: r.ID, Name: r.Name}
}

// inputOf turns a generated event into what a producer would send. account
// is left empty to write to the key's own account.
func inputOf(e *stele.Event, account string) input {
	return input{
		Account: account, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Action: e.Action, Category: e.Category, Outcome: e.Outcome,
		Actor: e.Actor, Target: refOf(e.Target), Source: refOf(e.Source),
		IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
		Description: e.Description, Metadata: e.Metadata,
	}
}

// timeLayout is a fixed-width RFC 3339 time in UTC to the microsecond (what
// Stele keeps), so that a body's times can be rewritten in place.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// body is an encoded request whose events' times are set at each send, as a
// producer reporting what just happened would set them: the events arrive in
// time order, as they do in production. (Replaying the times a body was built
// with would make every send a backfill into the same few seconds.)
type body struct {
	b     []byte
	times []int // offsets of each event's time value in b, in event order
}

// stamp sets the events' times to now, a microsecond apart and in order, the
// last one at now.
func (b *body) stamp(now time.Time) {
	now = now.UTC()
	n := len(b.times)
	var buf [64]byte // AppendFormat uses spare capacity as scratch: not b.b's
	for i, off := range b.times {
		copy(b.b[off:off+len(timeLayout)], now.Add(-time.Duration(n-1-i)*time.Microsecond).AppendFormat(buf[:0], timeLayout))
	}
}

// timeKey precedes each event's time value: input's fields are encoded in
// order and time comes before the one map (metadata), and a quote inside a
// string is escaped, so the first match after an event's start is its time.
var timeKey = []byte(`"time":"`)

// encodeBody returns a request body: the event itself when there is one, else
// {"events": [...]}. Each event's time is replaced by a placeholder of the
// width stamp writes.
func encodeBody(events []input) (*body, error) {
	placeholder := time.Time{}.Format(timeLayout)
	out := &body{times: make([]int, 0, len(events))}
	if len(events) > 1 {
		out.b = append(out.b, `{"events":[`...)
	}
	for i := range events {
		e := events[i]
		e.Time = placeholder
		enc, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.b = append(out.b, ',')
		}
		out.times = append(out.times, len(out.b)+bytes.Index(enc, timeKey)+len(timeKey))
		out.b = append(out.b, enc...)
	}
	if len(events) > 1 {
		out.b = append(out.b, "]}"...)
	}
	return out, nil
}

// EventsBody returns the body of a POST /v1/events request that carries
// events as a producer sends them, each with its own time, into the key's
// account.
func EventsBody(events []stele.Event) ([]byte, error) {
	in := make([]input, len(events))
	for i := range events {
		in[i] = inputOf(&events[i], "")
	}
	return json.Marshal(map[string][]input{"events": in})
}

package loadgen

import (
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

// encodeBody returns a request body: the event itself when there is one, else
// {"events": [...]}.
func encodeBody(events []input) ([]byte, error) {
	if len(events) == 1 {
		return json.Marshal(events[0])
	}
	return json.Marshal(struct {
		Events []input `json:"events"`
	}{events})
}

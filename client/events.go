package client

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stele-audit/stele"
)

// input is an event as a producer sends it: the fields the API accepts.
// ID, Seq and ReceivedAt are Stele's to assign, and the API refuses them.
type input struct {
	Account        string         `json:"account,omitempty"`
	Time           string         `json:"time,omitempty"`
	Action         string         `json:"action"`
	Category       string         `json:"category,omitempty"`
	Outcome        string         `json:"outcome,omitempty"`
	Actor          *stele.Ref     `json:"actor,omitempty"`
	Target         *stele.Ref     `json:"target,omitempty"`
	Source         *stele.Ref     `json:"source,omitempty"`
	IP             string         `json:"ip,omitempty"`
	UserAgent      string         `json:"user_agent,omitempty"`
	RequestID      string         `json:"request_id,omitempty"`
	Description    string         `json:"description,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
}

func inputOf(e *stele.Event) input {
	in := input{
		Account: e.Account, Action: e.Action, Category: e.Category, Outcome: e.Outcome,
		Actor: e.Actor, Target: e.Target, Source: e.Source, IP: e.IP, UserAgent: e.UserAgent,
		RequestID: e.RequestID, Description: e.Description, Metadata: e.Metadata, IdempotencyKey: e.IdempotencyKey,
	}
	if !e.Time.IsZero() {
		in.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	return in
}

// Send stores events, all of them or none, and returns their receipts in
// the same order. One event is sent on its own, several as one batch, which
// the server takes up to stele.MaxBatchEvents events and stele.MaxBodyBytes
// of JSON. Of each event only what a producer sets is sent: ID, Seq and
// ReceivedAt are Stele's, and a zero Time leaves the server to take the
// time it received the event. Account matters only to an operator key,
// which may write for any account; other keys write to their own.
func (c *Client) Send(ctx context.Context, events ...stele.Event) ([]stele.Receipt, error) {
	var v any
	switch len(events) {
	case 0:
		return nil, &stele.Error{Code: stele.EINVALID, Message: "no events to send", Details: []stele.FieldError{{Field: "events", Rule: "required"}}}
	case 1:
		v = inputOf(&events[0])
	default:
		batch := make([]input, len(events))
		for i := range events {
			batch[i] = inputOf(&events[i])
		}
		v = map[string][]input{"events": batch}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode events: %w", err)
	}
	return c.SendRaw(ctx, body)
}

// SendRaw stores the events of a request body as the API takes it: one
// event's JSON, or {"events": [...]}. It is for callers that hold events
// as JSON already (JSON Lines from a file, a load generator's prepared
// bodies); the server validates them as it does any producer's.
func (c *Client) SendRaw(ctx context.Context, body []byte) ([]stele.Receipt, error) {
	const path = "/v1/events"
	resp, err := c.send(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	b, err := readAnswer(resp)
	resp.Body.Close() // read to its end
	if err == nil {
		var receipts []stele.Receipt
		if receipts, err = decodeReceipts(b); err == nil {
			return receipts, nil
		}
	}
	return nil, fmt.Errorf("POST %s: reading the answer: %w", path, err)
}

// Page is one page of a search, newest event first.
type Page struct {
	Events []stele.Event
	// NextCursor asks for the next page; it is "" on the last one.
	NextCursor string
	// Query is how the server read the query, in its canonical form
	// (OR and parentheses made explicit, repeated qualifiers joined);
	// "" from a server that does not say.
	Query string
}

// Events returns a page of the events that match q, in the query language
// of the API ("" matches every event). limit is the page size, at most
// 1000 (0 for the server's default); cursor is "" for the first page and a
// page's NextCursor for the page after it.
func (c *Client) Events(ctx context.Context, q string, limit int, cursor string) (*Page, error) {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if limit != 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	path := "/v1/events"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var answer struct {
		Events     []stele.Event `json:"events"`
		NextCursor *string       `json:"next_cursor"`
		Query      string        `json:"query"`
	}
	if err := c.getJSON(ctx, path, &answer); err != nil {
		return nil, err
	}
	p := &Page{Events: answer.Events, Query: answer.Query}
	if answer.NextCursor != nil {
		p.NextCursor = *answer.NextCursor
	}
	return p, nil
}

// All returns every event that matches q, newest first, fetching pages of
// limit events (0 for the server's default) as the loop needs them. An
// error ends the sequence: it is yielded with a zero event.
func (c *Client) All(ctx context.Context, q string, limit int) iter.Seq2[stele.Event, error] {
	return func(yield func(stele.Event, error) bool) {
		cursor := ""
		for {
			p, err := c.Events(ctx, q, limit, cursor)
			if err != nil {
				yield(stele.Event{}, err)
				return
			}
			for _, e := range p.Events {
				if !yield(e, nil) {
					return
				}
			}
			if p.NextCursor == "" || p.NextCursor == cursor {
				return
			}
			cursor = p.NextCursor
		}
	}
}

// Query returns every event that matches q ("" for all), newest first,
// following the cursor from page to page as the loop asks for more. An
// error ends the sequence: it is yielded with a zero event.
//
//	for e, err := range c.Query(ctx, "action:user.login outcome:failure") { … }
func (c *Client) Query(ctx context.Context, q string) iter.Seq2[stele.Event, error] {
	return c.All(ctx, q, 0)
}

// Event returns the event with the id.
func (c *Client) Event(ctx context.Context, id string) (*stele.Event, error) {
	if id == "" {
		return nil, errNoID
	}
	var e stele.Event
	if err := c.getJSON(ctx, "/v1/events/"+url.PathEscape(id), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

var errNoID = &stele.Error{Code: stele.EINVALID, Message: "an event id is required", Details: []stele.FieldError{{Field: "id", Rule: "required"}}}

// EventProof is an event with the proof that it is in its account's log.
type EventProof struct {
	Event stele.Event
	// Proof leads from the event's leaf to the root of the tree Checkpoint
	// signs.
	Proof InclusionProof
	// Checkpoint is the signed note of the checkpoint (C2SP format): the
	// latest one, or one signed for the occasion if the event is newer.
	Checkpoint string
}

// EventWithProof returns the event with the id, its inclusion proof and the
// signed checkpoint the proof leads to.
func (c *Client) EventWithProof(ctx context.Context, id string) (*EventProof, error) {
	if id == "" {
		return nil, errNoID
	}
	var answer struct {
		Event      stele.Event   `json:"event"`
		Proof      inclusionJSON `json:"proof"`
		Checkpoint string        `json:"checkpoint"`
	}
	path := "/v1/events/" + url.PathEscape(id) + "?proof=true"
	if err := c.getJSON(ctx, path, &answer); err != nil {
		return nil, err
	}
	proof, err := answer.Proof.decode()
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", endpoint(path), err)
	}
	return &EventProof{Event: answer.Event, Proof: *proof, Checkpoint: answer.Checkpoint}, nil
}

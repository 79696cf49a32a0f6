package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stele-audit/stele"
)

// Input is an event as a producer sends it. Fields Stele assigns (id, seq,
// received_at) are not part of it, so sending them is an unknown-field error.
type Input struct {
	Account        string          `json:"account"`
	Time           string          `json:"time"`
	Action         string          `json:"action"`
	Category       string          `json:"category"`
	Outcome        string          `json:"outcome"`
	Actor          *stele.Ref      `json:"actor"`
	Target         *InputRef       `json:"target"`
	Source         *InputRef       `json:"source"`
	IP             string          `json:"ip"`
	UserAgent      string          `json:"user_agent"`
	RequestID      string          `json:"request_id"`
	Description    string          `json:"description"`
	Metadata       json.RawMessage `json:"metadata"`
	IdempotencyKey string          `json:"idempotency_key"`

	// meta is Metadata already decoded, when the fast decoder read it.
	meta map[string]any
}

// InputRef is a target or source: like an actor, without an email.
type InputRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (in *Input) isZero() bool {
	return in.Account == "" && in.Time == "" && in.Action == "" && in.Category == "" && in.Outcome == "" &&
		in.Actor == nil && in.Target == nil && in.Source == nil && in.IP == "" && in.UserAgent == "" &&
		in.RequestID == "" && in.Description == "" && in.Metadata == nil && in.IdempotencyKey == ""
}

type envelope struct {
	Events []json.RawMessage `json:"events"`
	Input
}

// Decode parses a request body holding one event or {"events": [...]}. It
// reports every undecodable event by index, in one *stele.Error.
//
// An event is at most stele.MaxEventBytes of JSON text as sent: its bytes
// from the opening brace to the closing one, whatever they decode to
// (for a single event, the body without the whitespace around it).
//
// A well-formed body is decoded in one pass. Any problem sends the body
// through the slower path that decodes event by event, to name each bad
// event by its index.
func Decode(body []byte) ([]Input, error) {
	if in, ok := decodeFast(body); ok {
		return in, nil
	}
	return decodeEach(body)
}

// tooLarge is the field error of event index, of size bytes.
func tooLarge(index, size int) stele.FieldError {
	return stele.FieldError{Index: index, Field: "", Rule: "max_size",
		Message: fmt.Sprintf("the event is %d bytes of JSON; an event is at most %d bytes", size, stele.MaxEventBytes)}
}

// trimSpace trims the whitespace JSON allows around a value.
func trimSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// decodeEach decodes the envelope, then each event on its own.
func decodeEach(body []byte) ([]Input, error) {
	top, nested := repeatedNames(body)
	var env envelope
	if err := strictUnmarshal(body, &env); err != nil {
		return nil, invalid(byIndex(append(append(top, nested...), decodeDetail(-1, err)))...)
	}
	if env.Events == nil {
		details := append(top, nested...)
		if n := len(trimSpace(body)); n > stele.MaxEventBytes {
			details = append(details, tooLarge(0, n))
		}
		if details != nil {
			return nil, invalid(details...)
		}
		return []Input{env.Input}, nil
	}
	if top != nil {
		// The envelope itself is ambiguous ("events" twice): which
		// events an index would name is not clear.
		return nil, invalid(top...)
	}
	if !env.Input.isZero() {
		return nil, invalid(stele.FieldError{Index: 0, Field: "events", Rule: "exclusive", Message: "a batch holds only \"events\""})
	}
	if len(env.Events) == 0 {
		return nil, invalid(stele.FieldError{Index: 0, Field: "events", Rule: "min_items", Message: "a batch needs at least one event"})
	}
	if len(env.Events) > stele.MaxBatchEvents {
		return nil, invalid(stele.FieldError{Index: stele.MaxBatchEvents, Field: "events", Rule: "max_items",
			Message: fmt.Sprintf("a batch holds at most %d events", stele.MaxBatchEvents)})
	}
	out := make([]Input, len(env.Events))
	details := nested
	for i, raw := range env.Events {
		if len(raw) > stele.MaxEventBytes { // the event's text, as json.RawMessage keeps it
			details = append(details, tooLarge(i, len(raw)))
			continue
		}
		if err := strictUnmarshal(raw, &out[i]); err != nil {
			details = append(details, decodeDetail(i, err))
		}
	}
	if details != nil {
		return nil, invalid(byIndex(details)...)
	}
	return out, nil
}

// byIndex orders details by event, keeping the order within an event.
func byIndex(details []stele.FieldError) []stele.FieldError {
	slices.SortStableFunc(details, func(a, b stele.FieldError) int { return a.Index - b.Index })
	return details
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// decodeDetail turns a JSON error into a field error. index -1 means the
// body as a whole (a single event, index 0).
func decodeDetail(index int, err error) stele.FieldError {
	if index < 0 {
		index = 0
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := strings.TrimPrefix(typeErr.Field, "Input.")
		return stele.FieldError{Index: index, Field: field, Rule: "type",
			Message: fmt.Sprintf("%s must be %s, not %s", field, jsonType(typeErr.Type.Kind().String()), typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return stele.FieldError{Index: index, Field: "", Rule: "json", Message: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return stele.FieldError{Index: index, Field: field, Rule: "unknown_field", Message: fmt.Sprintf("unknown field %q", field)}
	default:
		return stele.FieldError{Index: index, Field: "", Rule: "json", Message: err.Error()}
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "struct", "map", "ptr":
		return "an object"
	case "slice":
		return "an array"
	default:
		return kind
	}
}

func invalid(details ...stele.FieldError) *stele.Error {
	msg := "invalid event"
	if len(details) > 1 {
		msg = fmt.Sprintf("%d problems in the request", len(details))
	}
	if len(details) > 0 && details[0].Message != "" && len(details) == 1 {
		msg = details[0].Message
	}
	return &stele.Error{Code: stele.EINVALID, Message: msg, Details: details}
}

package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/stele-audit/stele"
)

// Stele's own events often carry what someone else typed: the email of a
// sign-in, a client's user agent, a query. A record of what happened must
// not be lost because such a field breaks a rule, so Record salvages it:
// what failed moves, as text, into the event's metadata under
// "invalid.FIELD" (a metadata value of its own is turned into text in
// place), the field is left empty, and the metadata key "salvaged" lists
// what was moved and by which rule. Producers' events get no such
// treatment: they hear what is wrong and can send it again.

// salvagedKey is the metadata key listing a salvaged event's fields.
const salvagedKey = "salvaged"

// checkOwn validates an event built in Go, as a producer's would be.
func checkOwn(e *stele.Event, index int, now time.Time) (stele.Event, []stele.FieldError) {
	in, err := inputOf(e)
	if err != nil {
		return stele.Event{}, []stele.FieldError{{Index: index, Field: "metadata", Rule: "type", Message: err.Error()}}
	}
	return Validate(&in, index, now)
}

// checkSalvaging validates one of Stele's own events, salvaging it when a
// field breaks a rule. Details remain only when what fails cannot move
// (account, action, category, outcome, time, too many metadata keys).
func checkSalvaging(e *stele.Event, index int, now time.Time) (v stele.Event, details []stele.FieldError, salvaged []string) {
	v, details = checkOwn(e, index, now)
	// Two rounds: text made of a metadata value may break a rule of its own
	// (a float that became a number out of range).
	for round := 0; details != nil && round < 2; round++ {
		fixed, fields, ok := salvage(*e, details)
		if !ok {
			return v, details, nil
		}
		e, salvaged = &fixed, append(salvaged, fields...)
		v, details = checkOwn(e, index, now)
	}
	if details != nil {
		return v, details, nil
	}
	return v, nil, salvaged
}

// salvage returns e with the fields of details made storable, and which
// they were; ok is false when one of them cannot be.
func salvage(e stele.Event, details []stele.FieldError) (stele.Event, []string, bool) {
	e.Actor, e.Target, e.Source = cloneRef(e.Actor), cloneRef(e.Target), cloneRef(e.Source)
	meta := make(map[string]any, len(e.Metadata)+len(details)+1)
	for k, v := range e.Metadata {
		meta[k] = v
	}
	var fields []string
	for _, d := range details {
		switch {
		case d.Field == "metadata" && d.Rule == "type":
			for k, v := range meta {
				meta[k] = scalarOf(v)
			}
		case strings.HasPrefix(d.Field, "metadata."):
			k := d.Field[len("metadata."):]
			v, ok := meta[k]
			if !ok {
				return e, nil, false
			}
			meta[k] = clip(textOf(v), stele.MaxMetadataValue)
		default:
			p := textField(&e, d.Field)
			if p == nil {
				return e, nil, false
			}
			meta["invalid."+d.Field] = clip(*p, stele.MaxMetadataValue)
			*p = ""
		}
		fields = append(fields, d.Field+" ("+d.Rule+")")
	}
	if prev, ok := meta[salvagedKey].(string); ok && prev != "" {
		fields = append([]string{prev}, fields...)
	}
	meta[salvagedKey] = clip(strings.Join(fields, ", "), stele.MaxMetadataValue)
	e.Metadata = meta
	if e.Actor.IsZero() {
		e.Actor = nil
	}
	if e.Target.IsZero() {
		e.Target = nil
	}
	if e.Source.IsZero() {
		e.Source = nil
	}
	return e, fields, true
}

// textField points at the string field of e that a detail names, or is nil
// when the field is not one that can move into metadata.
func textField(e *stele.Event, field string) *string {
	switch field {
	case "ip":
		return &e.IP
	case "user_agent":
		return &e.UserAgent
	case "request_id":
		return &e.RequestID
	case "description":
		return &e.Description
	case "idempotency_key":
		return &e.IdempotencyKey
	}
	party, part, ok := strings.Cut(field, ".")
	if !ok {
		return nil
	}
	var r *stele.Ref
	switch party {
	case "actor":
		r = e.Actor
	case "target":
		r = e.Target
	case "source":
		r = e.Source
	}
	if r == nil {
		return nil
	}
	switch part {
	case "type":
		return &r.Type
	case "id":
		return &r.ID
	case "name":
		return &r.Name
	case "email":
		return &r.Email
	}
	return nil
}

func cloneRef(r *stele.Ref) *stele.Ref {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// scalarOf is a metadata value as a JSON scalar: Go numbers as their JSON
// text when they are finite, anything else as text.
func scalarOf(v any) any {
	switch v := v.(type) {
	case string, bool, nil, json.Number:
		return v
	case float32, float64:
		f := reflect.ValueOf(v).Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return json.Number(fmt.Sprint(v))
	}
	return textOf(v)
}

// textOf is a metadata value as text: strings as they are, numbers as
// their JSON text, anything else as JSON (or as Go prints it).
func textOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// clip cuts s to at most n bytes of valid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // not in the middle of a character
		n--
	}
	return s[:n]
}

package ingest

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/record"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

// FuzzDecode feeds request bodies through decoding and validation: neither
// may panic, every failure is an EINVALID error with details, and every
// accepted event survives the payload encoding unchanged.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"action":"user.login","actor":{"id":"u_1","email":"ada@acme.io"},"ip":"203.0.113.7"}`,
		`{"events":[{"action":"user.login"},{"action":"finding.generated","source":{"type":"aws","id":"aws-1"}}]}`,
		`{"action":"deploy.started","category":"configuration","metadata":{"a":1,"b":"x","c":true,"d":null}}`,
		`{"action":"user.login","time":"2026-11-24T10:00:00.123Z","outcome":"failure"}`,
		`{"events":[]}`, `{"events":[{"seq":1}]}`, `[]`, `{"action":`, `{"metadata":[1]}`,
		`{"action":"user.role_changed","target":{"id":"u_2","name":"Bob"},"description":"\u00e9\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		inputs, err := Decode(body)
		if repeatsAName(body) {
			e, ok := err.(*stele.Error)
			if !ok || !slices.ContainsFunc(e.Details, func(d stele.FieldError) bool { return d.Rule == "duplicate_key" }) {
				t.Fatalf("a body that repeats a name: %v", err)
			}
		}
		if e, ok := err.(*stele.Error); ok && slices.ContainsFunc(e.Details, func(d stele.FieldError) bool { return d.Rule == "duplicate_key" }) &&
			!repeatsAFoldedName(body) {
			t.Fatalf("a body that repeats no name: %v", err)
		}
		if err != nil {
			if e, ok := err.(*stele.Error); !ok || e.Code != stele.EINVALID || len(e.Details) == 0 {
				t.Fatalf("Decode error %#v", err)
			}
			return
		}
		if n := largestEvent(body); n > stele.MaxEventBytes {
			t.Fatalf("an event of %d bytes was decoded", n)
		}
		for i := range inputs {
			e, d := Validate(&inputs[i], i, now)
			if d != nil {
				continue
			}
			payload := record.AppendPayload(nil, &e)
			if n := record.PayloadSize(&e); len(payload) > n {
				t.Fatalf("payload of %d bytes, PayloadSize %d", len(payload), n)
			}
			var back stele.Event
			if err := record.DecodePayload(payload, &back); err != nil {
				t.Fatalf("payload of a valid event does not decode: %v", err)
			}
			if got, want := record.AppendPayload(nil, &back), payload; string(got) != string(want) {
				t.Fatalf("payload round trip changed the event")
			}
		}
	})
}

// repeatsAName reports whether an object in the JSON text b gives a name
// twice, as encoding/json decodes names: it has more members than the map
// it decodes into has keys. It is the decoder's own check made another way.
func repeatsAName(b []byte) bool { return repeats(b, func(s string) string { return s }) }

// repeatsAFoldedName is repeatsAName with names compared as encoding/json
// matches them to fields: a repeat the decoder reports must be one of these.
func repeatsAFoldedName(b []byte) bool { return repeats(b, foldName) }

func repeats(b []byte, norm func(string) string) bool {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '{':
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return false
		}
		names := map[string]bool{}
		for k := range m {
			names[norm(k)] = true
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.Token() // {
		members := 0
		for ; dec.More(); members++ {
			var v json.RawMessage
			if _, err := dec.Token(); err != nil || dec.Decode(&v) != nil {
				return false
			}
		}
		if members > len(names) {
			return true
		}
		for _, v := range m {
			if repeats(v, norm) {
				return true
			}
		}
	case len(b) > 0 && b[0] == '[':
		var a []json.RawMessage
		if json.Unmarshal(b, &a) != nil {
			return false
		}
		return slices.ContainsFunc(a, func(v json.RawMessage) bool { return repeats(v, norm) })
	}
	return false
}

// largestEvent returns the size of the largest event of a decodable body,
// measured as Decode says it measures: the JSON text of each event.
func largestEvent(body []byte) int {
	var env struct{ Events []json.RawMessage }
	if json.Unmarshal(body, &env) == nil && env.Events != nil {
		n := 0
		for _, e := range env.Events {
			n = max(n, len(e))
		}
		return n
	}
	return len(bytes.Trim(body, " \t\r\n"))
}

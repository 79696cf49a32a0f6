package ingest

import (
	"encoding/json"
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
		if err != nil {
			if e, ok := err.(*stele.Error); !ok || e.Code != stele.EINVALID || len(e.Details) == 0 {
				t.Fatalf("Decode error %#v", err)
			}
			return
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

package record

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

func sampleEvent() *stele.Event {
	return &stele.Event{
		ID: "evt_x", Seq: 1234, Account: "acme",
		Time:       time.Date(2026, 11, 24, 10, 0, 0, 123000000, time.UTC),
		ReceivedAt: time.Date(2026, 11, 24, 10, 0, 0, 200000000, time.UTC),
		Action:     "user.role_changed", Category: "user_management", Outcome: "success",
		Actor:  &stele.Ref{Type: "user", ID: "u_123", Name: "Ada Lovelace", Email: "ada@acme.io"},
		Target: &stele.Ref{Type: "user", ID: "u_456", Name: "Bob"},
		Source: &stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"},
		IP:     "203.0.113.7", UserAgent: "Mozilla/5.0", RequestID: "req-1",
		Description:    "Ada changed Bob's role from viewer to admin",
		Metadata:       map[string]any{"role_before": "viewer", "role_after": "admin", "count": json.Number("3.50"), "mfa": true, "old": false, "none": nil},
		IdempotencyKey: "idem-1",
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ev   *stele.Event
	}{
		{"full", sampleEvent()},
		{"empty", &stele.Event{}},
		{"actor only", &stele.Event{Actor: &stele.Ref{Email: "a@b.c"}}},
		{"unicode", &stele.Event{Description: "Zoë changed 設定 ✓", Metadata: map[string]any{"ключ": "значение"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendPayload(nil, tt.ev)
			var got stele.Event
			if err := DecodePayload(b, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := stele.Event{Actor: tt.ev.Actor, Target: tt.ev.Target, Source: tt.ev.Source, IP: tt.ev.IP,
				UserAgent: tt.ev.UserAgent, RequestID: tt.ev.RequestID, Description: tt.ev.Description,
				Metadata: tt.ev.Metadata, IdempotencyKey: tt.ev.IdempotencyKey}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestCanonicalIsDeterministicAndCoversEveryField(t *testing.T) {
	base := AppendCanonical(nil, sampleEvent())
	for range 20 { // map iteration order varies between runs
		if !bytes.Equal(base, AppendCanonical(nil, sampleEvent())) {
			t.Fatal("canonical encoding differs between identical events")
		}
	}
	mutations := map[string]func(e *stele.Event){
		"account":     func(e *stele.Event) { e.Account = "acmf" },
		"seq":         func(e *stele.Event) { e.Seq++ },
		"received_at": func(e *stele.Event) { e.ReceivedAt = e.ReceivedAt.Add(time.Microsecond) },
		"time":        func(e *stele.Event) { e.Time = e.Time.Add(time.Microsecond) },
		"action":      func(e *stele.Event) { e.Action = "user.login" },
		"category":    func(e *stele.Event) { e.Category = "audit" },
		"outcome":     func(e *stele.Event) { e.Outcome = "failure" },
		"actor email": func(e *stele.Event) { e.Actor.Email = "eve@acme.io" },
		"target id":   func(e *stele.Event) { e.Target.ID = "u_457" },
		"source name": func(e *stele.Event) { e.Source.Name = "AWS" },
		"ip":          func(e *stele.Event) { e.IP = "203.0.113.8" },
		"description": func(e *stele.Event) { e.Description += "!" },
		"metadata":    func(e *stele.Event) { e.Metadata["role_after"] = "owner" },
		"number kind": func(e *stele.Event) { e.Metadata["count"] = "3.50" },
		"idempotency": func(e *stele.Event) { e.IdempotencyKey = "idem-2" },
		// Field boundaries are length-prefixed: moving bytes between fields changes the encoding.
		"boundary": func(e *stele.Event) { e.Actor.ID, e.Actor.Name = "u_123A", "da Lovelace" },
	}
	for name, mutate := range mutations {
		e := sampleEvent()
		mutate(e)
		if bytes.Equal(base, AppendCanonical(nil, e)) {
			t.Errorf("changing %s does not change the canonical encoding", name)
		}
	}
}

func TestDecodePayloadRejectsCorruptInput(t *testing.T) {
	good := AppendPayload(nil, sampleEvent())
	cases := map[string][]byte{
		"empty":       {},
		"bad version": append([]byte{9}, good[1:]...),
		"truncated":   good[:len(good)-3],
		"trailing":    append(append([]byte{}, good...), 0),
		"huge length": {payloadV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range cases {
		var e stele.Event
		if err := DecodePayload(b, &e); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzDecodePayload(f *testing.F) {
	f.Add(AppendPayload(nil, sampleEvent()))
	f.Add(AppendPayload(nil, &stele.Event{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e stele.Event
		if err := DecodePayload(b, &e); err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes, or two payloads
		// could mean one event.
		if again := AppendPayload(nil, &e); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}

func BenchmarkAppendPayload(b *testing.B) {
	e := sampleEvent()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = AppendPayload(buf[:0], e)
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	p := AppendPayload(nil, sampleEvent())
	for b.Loop() {
		var e stele.Event
		if err := DecodePayload(p, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodePayloadCopiesOnce pins the allocations of a decode: one string
// for every string of the payload, the three refs, and the metadata map
// with its boxed values, not one allocation per string.
func TestDecodePayloadCopiesOnce(t *testing.T) {
	ev := sampleEvent()
	b := AppendPayload(nil, ev)
	allocs := testing.AllocsPerRun(100, func() {
		var e stele.Event
		if err := DecodePayload(b, &e); err != nil {
			t.Fatal(err)
		}
	})
	// 1 string, 3 refs, the map and its buckets, 3 boxed values (two
	// strings and a json.Number; booleans and nil need none).
	if allocs > 10 {
		t.Fatalf("DecodePayload allocates %v times, want at most 10", allocs)
	}
	var e stele.Event
	if err := DecodePayload(b, &e); err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff // the event must not share the payload's bytes
	if e.Actor.Name != ev.Actor.Name || e.Description != ev.Description || e.Metadata["role_after"] != "admin" {
		t.Fatalf("decoded event changed with its payload: %#v", e)
	}
}

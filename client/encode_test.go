package client

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// sameAsEncodingJSON checks that appendEvent writes what encoding/json
// writes of the event's input, as JSON values.
func sameAsEncodingJSON(t *testing.T, e *stele.Event) {
	t.Helper()
	want, werr := json.Marshal(inputOf(e))
	got, gerr := appendEvent(nil, e)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("encoding/json: %v, appendEvent: %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("appendEvent wrote invalid JSON %q: %v", got, err)
	}
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("appendEvent wrote\n%s\nencoding/json\n%s", got, want)
	}
}

func TestAppendEventWritesWhatEncodingJSONWrites(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	for _, e := range []stele.Event{
		{Action: "user.login"},
		{Action: "user.login", Actor: &stele.Ref{}, Target: &stele.Ref{Name: "Bob"}},
		{Account: "acme", Time: at, Action: "user.role_changed", Category: "user_management", Outcome: "success",
			Actor:  &stele.Ref{Type: "user", ID: "u_1", Name: "Ada \"The\" Countess", Email: "ada@acme.io"},
			Target: &stele.Ref{Type: "user", ID: "u_2"}, Source: &stele.Ref{ID: "aws-1"},
			IP: "203.0.113.7", UserAgent: "Mozilla/5.0 <x> & y", RequestID: "req\n1", Description: "tab\there \\ back\x01\x1f",
			IdempotencyKey: "k.1",
			Metadata: map[string]any{"s": "\u2028\u2029é😀\xff\xfe", "n": 3, "i64": int64(-9), "f": 1.5, "whole": 2.0, "big": 1e21,
				"b": true, "nil": nil, "num": json.Number("1.50"), "u": uint64(math.MaxUint64), "i32": int32(7), "f32": float32(0.25),
				"<key>": "&"}},
	} {
		sameAsEncodingJSON(t, &e)
	}
	// What encoding/json refuses, appendEvent refuses.
	for _, v := range []any{math.NaN(), json.Number("1x"), make(chan int)} {
		if _, err := appendEvent(nil, &stele.Event{Action: "a.b", Metadata: map[string]any{"v": v}}); err == nil {
			t.Errorf("metadata %#v encoded", v)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("user.login", "Ada", "a\u2028b<>&\"\\", "\xff", int64(3), 2.5, true)
	f.Fuzz(func(t *testing.T, action, name, desc, meta string, n int64, x float64, flag bool) {
		e := &stele.Event{Action: action, Actor: &stele.Ref{Name: name}, Description: desc,
			Metadata: map[string]any{meta: desc, "n": n, "x": x, "flag": flag}}
		sameAsEncodingJSON(t, e)
		if want, _ := json.Marshal(desc); string(appendString(nil, desc)) != string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json writes %s", desc, appendString(nil, desc), want)
		}
	})
}

// TestAppendStringWritesEncodingJSONsBytes: a string is escaped byte for
// byte as encoding/json escapes it, not only to the same value.
func TestAppendStringWritesEncodingJSONsBytes(t *testing.T) {
	for _, s := range []string{"", "plain", "\b\f\n\r\t\x00\x1f\x7f", `"\`, "<a href>&", "\u2028\u2029", "é😀", "\xff\xfe", "a\xc3"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

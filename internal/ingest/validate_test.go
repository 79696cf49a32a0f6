package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestMetadataNumbersAreFiniteAndExact: a number is stored only if every
// reader holds it as sent — finite, within ±(2^53−1), not so small that it
// reads as zero — and each refusal names the key and the rule.
func TestMetadataNumbersAreFiniteAndExact(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		number string
		rule   string // "" when it is stored
	}{
		{"0", ""}, {"-0", ""}, {"1", ""}, {"-17", ""}, {"1.5", ""}, {"1e-7", ""}, {"2.5E+3", ""},
		{"9007199254740991", ""}, {"-9007199254740991", ""}, {"9.007199254740991e15", ""},
		{"0e999999", ""}, {"0.000e-500", ""}, {"5e-324", ""}, {"1e-320", ""},
		{"0.1234567890123456789", ""},
		{"1e19", "range"}, {"-1e308", "range"}, {"1e400", "range"}, {"-1e400", "range"},
		{"9007199254740992", "range"}, {"-9007199254740993", "range"}, {"1.5e300", "range"},
		{"0.1e-400", "range"}, {"2e-324", "range"}, {"-1e-400", "range"},
		{"1" + strings.Repeat("0", 70), "max_length"}, {"0." + strings.Repeat("1", 70), "max_length"},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			body := `{"action":"system.api_latency","metadata":{"requests":` + tt.number + `,"errors":0}}`
			inputs, err := Decode([]byte(body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			e, d := Validate(&inputs[0], 0, now)
			if tt.rule == "" {
				if d != nil {
					t.Fatalf("refused: %+v", d)
				}
				if got := e.Metadata["requests"]; got != jsonNumber(tt.number) {
					t.Fatalf("stored %#v, want the exact text %s", got, tt.number)
				}
				return
			}
			if len(d) != 1 || d[0].Field != "metadata.requests" || d[0].Rule != tt.rule || !strings.Contains(d[0].Message, "metadata.requests") {
				t.Fatalf("details = %+v, want one naming metadata.requests, rule %s", d, tt.rule)
			}
		})
	}
}

// TestThePoisonedLatencyEventIsRefused is the event of issue 15 that
// crashed the console of everyone: refused with a message that says what
// to send instead.
func TestThePoisonedLatencyEventIsRefused(t *testing.T) {
	body := `{"action":"system.api_latency","metadata":{"requests":1e19,"errors":0,"p50_ms":1,"p95_ms":2,"p99_ms":3}}`
	inputs, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	_, d := Validate(&inputs[0], 0, time.Now())
	if len(d) != 1 || d[0].Field != "metadata.requests" || d[0].Rule != "range" || !strings.Contains(d[0].Message, "string") {
		t.Fatalf("details %+v", d)
	}
}

// TestSelfAuditNumbersMeetTheSameRules: Stele's own events (Record) pass
// the same checks, whatever Go type their numbers have.
func TestSelfAuditNumbersMeetTheSameRules(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v  any
		ok bool
	}{
		{int64(1) << 53, false}, {int64(1)<<53 - 1, true}, {1e19, false}, {uint64(1) << 63, false}, {2.5, true},
		{jsonNumber("1e400"), false}, {jsonNumber("12"), true},
	} {
		e := stele.Event{Action: "user.login", Metadata: map[string]any{"n": tc.v}}
		in, err := inputOf(&e)
		if err != nil {
			t.Fatalf("%v: %v", tc.v, err)
		}
		_, d := Validate(&in, 0, now)
		if (d == nil) != tc.ok {
			t.Errorf("%#v: details %+v, want ok %v", tc.v, d, tc.ok)
		}
	}
}

// TestMetadataProblemsComeInKeyOrder: the same body gets the same answer,
// its metadata problems in the order of their keys, not a map's.
func TestMetadataProblemsComeInKeyOrder(t *testing.T) {
	long := `"` + strings.Repeat("x", stele.MaxMetadataValue+1) + `"`
	body := `{"action":"user.login","metadata":{"e":` + long + `,"b":1e400,"d":{"x":1},"a":` + long + `,"c":` + long + `}}`
	want := []string{"metadata.a", "metadata.b", "metadata.c", "metadata.d", "metadata.e"}
	for range 20 {
		inputs, err := Decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		_, d := Validate(&inputs[0], 0, time.Now())
		var got []string
		for _, fe := range d {
			got = append(got, fe.Field)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("fields %v, want %v", got, want)
		}
	}
}

package recovery

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCallTurnsAPanicIntoAnErrorWithoutItsValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func() error
		kind string
	}{
		{"runtime error", func() error { var m map[string]int; m["secret"] = 1; return nil }, "assignment to entry in nil map"},
		{"string", func() error { panic("secret event text") }, "string"},
		{"error", func() error { panic(fmt.Errorf("wrapped: %w", errors.New("secret"))) }, "*fmt.wrapError"},
		{"struct", func() error { panic(struct{ Secret string }{"secret"}) }, "struct { Secret string }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Call(tc.fn)
			var p *Panic
			if !errors.As(err, &p) || p.Kind != tc.kind {
				t.Fatalf("Call = %v, want a panic of kind %q", err, tc.kind)
			}
			if len(p.Stack) == 0 || !strings.Contains(p.Stack[0], "recovery_test.go") || !strings.Contains(p.Stack[0], "TestCall") {
				t.Fatalf("stack starts %q, want the function that panicked", p.Stack)
			}
			var logs bytes.Buffer
			Log(slog.New(slog.NewTextHandler(&logs, nil)), slog.LevelError, "job round failed", err, "job", "test")
			if strings.Contains(logs.String(), "secret") || !strings.Contains(logs.String(), "job=test") {
				t.Fatalf("log: %s", logs.String())
			}
		})
	}
	if err := Call(func() error { return errors.New("plain") }); err == nil || err.Error() != "plain" {
		t.Fatalf("an error passes through: %v", err)
	}
}

func TestLogKeepsAnErrorThatIsNoPanic(t *testing.T) {
	var logs bytes.Buffer
	Log(slog.New(slog.NewTextHandler(&logs, nil)), slog.LevelWarn, "sign checkpoints", errors.New("store closed"))
	if !strings.Contains(logs.String(), `level=WARN msg="sign checkpoints" err="store closed"`) {
		t.Fatalf("log: %s", logs.String())
	}
	Log(nil, slog.LevelError, "nothing", errors.New("x")) // no logger: nothing, no panic
}

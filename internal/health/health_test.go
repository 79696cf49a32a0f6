package health

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReadyReportsTheFirstFailureByItsReasonAndKeepsCurrent: a failing
// check makes Ready fail with that check's reason (not its error); the
// result is reused within MaxAge and checked again after it, so a node
// turns ready again once the fault is gone.
func TestReadyReportsTheFirstFailureByItsReasonAndKeepsCurrent(t *testing.T) {
	fault := errors.New("secret detail: host db.internal")
	var runs int
	var broken bool
	c := &Checker{MaxAge: time.Hour, Checks: []Check{
		{Name: "store", Reason: "the store does not answer", Run: func(context.Context) error { runs++; return nil }},
		{Name: "key", Reason: "the master key does not unwrap the account keys", Run: func(context.Context) error {
			if broken {
				return fault
			}
			return nil
		}},
	}}
	if err := c.Ready(t.Context()); err != nil || runs != 1 {
		t.Fatalf("ready: %v after %d runs", err, runs)
	}
	broken = true
	if err := c.Ready(t.Context()); err != nil || runs != 1 {
		t.Fatalf("within MaxAge: %v after %d runs", err, runs)
	}
	c.MaxAge = time.Nanosecond
	err := c.Ready(t.Context())
	if err == nil || err.Error() != "the master key does not unwrap the account keys" {
		t.Fatalf("broken: %v", err)
	}
	broken = false
	if err := c.Ready(t.Context()); err != nil {
		t.Fatalf("mended: %v", err)
	}
}

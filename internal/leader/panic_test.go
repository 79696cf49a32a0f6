package leader

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestAPanickingJobIsRetriedNotFatal: a job that panics stops like one that
// failed, logged without the panic's value, and is led again after Retry.
func TestAPanickingJobIsRetriedNotFatal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		var calls []time.Duration
		Local{Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Lead(ctx, "retention", func(ctx context.Context) error {
			calls = append(calls, time.Since(start))
			if len(calls) == 2 {
				cancel()
				return nil
			}
			panic("secret account data")
		})
		if len(calls) != 2 || calls[1] != Retry {
			t.Fatalf("calls at %v, want at 0 and %v", calls, Retry)
		}
		if out := logs.String(); !strings.Contains(out, "job=retention") || !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
			t.Fatalf("log: %s", out)
		}
	})
}

// TestEveryCarriesOnAfterAPanickingTick: one round that panics is logged,
// and the next round runs at its time.
func TestEveryCarriesOnAfterAPanickingTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		job := Every(time.Hour, slog.New(slog.NewTextHandler(&logs, nil)), "partitions", func(context.Context) error {
			n++
			switch n {
			case 1:
				var m map[string]int
				m["secret"]++
			case 3:
				cancel()
			}
			return nil
		})
		if err := job(ctx); err != nil || n != 3 {
			t.Fatalf("job = %v after %d ticks", err, n)
		}
		if out := logs.String(); !strings.Contains(out, "assignment to entry in nil map") || strings.Contains(out, "secret") {
			t.Fatalf("log: %s", out)
		}
	})
}

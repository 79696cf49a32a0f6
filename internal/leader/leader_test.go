package leader

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestLocalLeadsAtOnceAndRetriesAFailedJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		var calls []time.Duration
		Local{}.Lead(ctx, "job", func(ctx context.Context) error {
			calls = append(calls, time.Since(start))
			if len(calls) == 2 {
				cancel()
			}
			return errors.New("failed")
		})
		if len(calls) != 2 || calls[0] != 0 || calls[1] != Retry {
			t.Fatalf("calls at %v, want at 0 and %v", calls, Retry)
		}
	})
}

func TestEveryTicksUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		job := Every(time.Hour, nil, "job", func(context.Context) error {
			n++
			if n == 3 {
				cancel()
			}
			return nil
		})
		if err := job(ctx); err != nil || n != 3 {
			t.Fatalf("job = %v after %d ticks", err, n)
		}
	})
}

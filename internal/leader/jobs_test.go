package leader

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// oneLeader leads no job but the one it names.
type oneLeader struct{ job string }

func (l oneLeader) Lead(ctx context.Context, job string, fn func(ctx context.Context) error) {
	if job != l.job {
		<-ctx.Done()
		return
	}
	Local{}.Lead(ctx, job, fn)
}

// TestJobsRunWhereLedAndStopWhenAsked: a led job runs only where this
// node leads it, a node's own job runs in any case, a panicking job is
// logged and run again, and Stop ends them all and waits, whatever the
// context they were started with.
func TestJobsRunWhereLedAndStopWhenAsked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // the jobs outlive it
		jobs := Start(ctx, oneLeader{job: "led"}, slog.New(slog.NewTextHandler(&logs, nil)))
		var led, other, own, panics atomic.Int64
		loop := func(n *atomic.Int64) func(context.Context) {
			return func(ctx context.Context) {
				n.Add(1)
				<-ctx.Done()
			}
		}
		jobs.Lead("led", Until(loop(&led)))
		jobs.Lead("other", Until(loop(&other)))
		jobs.Go("own", Until(loop(&own)))
		jobs.Go("panicky", func(context.Context) error {
			if panics.Add(1) == 1 {
				panic("secret")
			}
			return nil
		})
		time.Sleep(Retry + time.Second) // synctest's clock: the panicky job is retried once
		synctest.Wait()
		jobs.Stop()
		if led.Load() != 1 || other.Load() != 0 || own.Load() != 1 || panics.Load() < 2 {
			t.Fatalf("led %d, other %d, own %d, panicky %d", led.Load(), other.Load(), own.Load(), panics.Load())
		}
		if out := logs.String(); !strings.Contains(out, "job=panicky") || strings.Contains(out, "secret") {
			t.Fatalf("log: %s", out)
		}
	})
}

package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/metrics"
)

// panickingRecorder panics the first time it is asked to record.
type panickingRecorder struct{ calls atomic.Int64 }

func (p *panickingRecorder) Record(context.Context, ...stele.Event) ([]stele.Receipt, error) {
	if p.calls.Add(1) == 1 {
		panic("secret")
	}
	return nil, nil
}

// TestLoopRecordsOnAfterAPanickingFlush: the minute whose recording panics
// is logged and lost; the next minute is recorded.
func TestLoopRecordsOnAfterAPanickingFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &panickingRecorder{}
		var logs bytes.Buffer
		c := metrics.New(metrics.Config{Recorder: rec, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Loop(ctx, time.Minute); close(done) }()
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if n := rec.calls.Load(); n != 2 {
			t.Fatalf("%d recordings after two minutes, want 2", n)
		}
		cancel()
		<-done
		if out := logs.String(); !strings.Contains(out, "panic=string") || strings.Contains(out, "secret") {
			t.Fatalf("log: %s", out)
		}
	})
}

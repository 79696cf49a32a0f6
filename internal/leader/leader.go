// Package leader runs background jobs through a stele.Leadership, and has
// the one for a store that a single process owns.
package leader

import (
	"context"
	"log/slog"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/recovery"
)

// Retry is how long a node waits before trying again to lead a job, after
// it failed to or after the job stopped with an error.
const Retry = 2 * time.Second

// Local is the Leadership of a store that one process owns (SQLite): that
// process always leads. If several processes open one SQLite file, only
// `serve` runs jobs.
type Local struct {
	Logger *slog.Logger
}

var _ stele.Leadership = Local{}

// Lead calls fn at once, and again Retry after it returns with an error
// or panics, until ctx is done.
func (l Local) Lead(ctx context.Context, job string, fn func(ctx context.Context) error) {
	for ctx.Err() == nil {
		err := recovery.Call(func() error { return fn(ctx) })
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			recovery.Log(l.Logger, slog.LevelError, "job stopped", err, "job", job)
		}
		Sleep(ctx, Retry)
	}
}

// Sleep waits d or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Every returns a job that calls tick every interval, first at once, until
// its context is done. A tick that fails or panics is logged and the job
// goes on.
func Every(interval time.Duration, logger *slog.Logger, job string, tick func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for {
			if err := recovery.Call(func() error { return tick(ctx) }); err != nil && ctx.Err() == nil {
				recovery.Log(logger, slog.LevelError, "job run failed", err, "job", job)
			}
			if !Sleep(ctx, interval) {
				return nil
			}
		}
	}
}

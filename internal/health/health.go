// Package health says whether a node can take traffic: its readiness, the
// checks of what it needs (the store answers, the master key unwraps the
// account keys), run again whenever the last result is older than a few
// seconds, however often load balancers ask.
package health

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Check is one thing a node needs. Reason is what a failure is reported as
// to whoever asks (GET /healthz needs no key): it never carries the error
// itself, which is logged.
type Check struct {
	Name   string
	Reason string
	Run    func(ctx context.Context) error
}

// DefaultMaxAge is how long a result is reused.
const DefaultMaxAge = 2 * time.Second

// Checker runs checks and keeps the last result.
type Checker struct {
	Checks []Check
	// MaxAge is how long a result is reused; DefaultMaxAge when zero.
	MaxAge time.Duration
	Logger *slog.Logger

	mu   sync.Mutex // held during a run: callers meanwhile wait and share it
	at   time.Time
	last error
}

// Ready returns nil when every check passed in the last MaxAge, or else
// runs them again (each with a deadline of a few seconds) and returns the
// first failure as its Reason.
func (c *Checker) Ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	if !c.at.IsZero() && time.Since(c.at) < maxAge {
		return c.last
	}
	// A run is not the asker's: one that gives up must not fail it for all.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c.last = nil
	for _, ch := range c.Checks {
		if err := ch.Run(ctx); err != nil {
			if c.Logger != nil {
				c.Logger.Warn("not ready", "check", ch.Name, "err", err)
			}
			c.last = errors.New(ch.Reason)
			break
		}
	}
	c.at = time.Now()
	return c.last
}

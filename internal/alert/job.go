package alert

import (
	"context"
	"errors"

	"github.com/stele-audit/stele/internal/recovery"
)

// Job is the leader job "alerts": the evaluator and the deliverer of one
// node, run together while it leads. If either stops with an error, both
// stop, and the leadership starts them again (from the store) a little
// later.
func Job(e *Evaluator, d *Deliverer) func(ctx context.Context) error {
	e.Delivered = d.Wake
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 2)
		go func() { errc <- recovery.Call(func() error { return e.Run(ctx) }) }()
		go func() { errc <- recovery.Call(func() error { return d.Run(ctx) }) }()
		first := <-errc
		cancel()
		return errors.Join(first, <-errc)
	}
}

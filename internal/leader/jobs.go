package leader

import (
	"context"
	"log/slog"
	"sync"

	"github.com/stele-audit/stele"
)

// Jobs are a process's background jobs. Those started with Lead run on one
// node at a time, as a stele.Leadership decides; those started with Go run
// on every node (each node's own metrics, say). Either kind is called again
// a while after it fails or panics. They run until Stop, not until the
// context they were started with ends: the process stops them once it has
// finished serving.
type Jobs struct {
	lead   stele.Leadership
	local  Local
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start returns an empty set of jobs, leading through lead, logging to
// logger, with ctx's values but not its cancellation.
func Start(ctx context.Context, lead stele.Leadership, logger *slog.Logger) *Jobs {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Jobs{lead: lead, local: Local{Logger: logger}, ctx: ctx, cancel: cancel}
}

// Lead runs job on whichever node leads it: run is called when this node
// becomes the leader, with a context that ends when the lead is lost or
// the jobs stop, and should run the job until then.
func (j *Jobs) Lead(job string, run func(ctx context.Context) error) {
	j.wg.Go(func() { j.lead.Lead(j.ctx, job, run) })
}

// Go runs job on this node, whatever the others do, until the jobs stop.
func (j *Jobs) Go(job string, run func(ctx context.Context) error) {
	j.wg.Go(func() { j.local.Lead(j.ctx, job, run) })
}

// Stop ends every job and waits for them to return.
func (j *Jobs) Stop() {
	j.cancel()
	j.wg.Wait()
}

// Until adapts a loop that runs until its context ends (a job's Loop) to
// Lead and Go.
func Until(loop func(ctx context.Context)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		loop(ctx)
		return nil
	}
}

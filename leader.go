package stele

import "context"

// Leadership decides which node runs each background job (checkpoint
// signing, retention, partition upkeep, …), so that of all the nodes
// sharing a store exactly one runs a job at a time.
type Leadership interface {
	// Lead calls fn each time this node becomes the leader of job, with a
	// context that is cancelled when the lead is lost or ctx is done; fn
	// should run the job until then. When fn returns or the lead is lost,
	// Lead tries again to lead, a few seconds later. Lead returns when ctx
	// is done.
	Lead(ctx context.Context, job string, fn func(ctx context.Context) error)
}

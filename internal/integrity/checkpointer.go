package integrity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/recovery"
)

// DefaultInterval is how often the background job signs checkpoints of the
// accounts whose trees grew.
const DefaultInterval = time.Minute

// Checkpointer signs and keeps checkpoints of accounts' trees.
type Checkpointer struct {
	Accounts     stele.AccountStore
	Events       stele.EventStore
	Store        stele.IntegrityStore
	Key          *ledger.SigningKey
	OriginPrefix string
	Logger       *slog.Logger
	Now          func() time.Time
}

func (c *Checkpointer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Origin returns the origin line of an account's checkpoints.
func (c *Checkpointer) Origin(account string) string { return ledger.Origin(c.OriginPrefix, account) }

// Sign returns a checkpoint of the account's current tree: the latest one
// when the tree has not grown since, else a new one, signed and stored.
func (c *Checkpointer) Sign(ctx context.Context, account *stele.Account) (*stele.Checkpoint, error) {
	head, err := c.Events.CurrentHead(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	latest, err := c.Store.LatestCheckpoint(ctx, account.ID)
	switch {
	case err == nil && latest.Size >= head.Size:
		return latest, nil
	case err != nil && stele.ErrorCode(err) != stele.ENOTFOUND:
		return nil, err
	}
	root, err := ledger.Root(head)
	if err != nil {
		return nil, err
	}
	msg, err := ledger.SignCheckpoint(c.Key.Signer, ledger.CheckpointBody{Origin: c.Origin(account.Name), Size: head.Size, Root: root})
	if err != nil {
		return nil, err
	}
	cp := &stele.Checkpoint{AccountID: account.ID, Size: head.Size, Root: root, Note: msg, CreatedAt: c.now().UTC()}
	if err := c.Store.AddCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	// Another signer may have stored this size first; serve what is kept.
	return c.Store.CheckpointAt(ctx, account.ID, head.Size)
}

// SignAll signs a checkpoint for every account whose tree grew since its
// latest checkpoint, and returns how many it signed.
func (c *Checkpointer) SignAll(ctx context.Context) (int, error) {
	accounts, err := c.Accounts.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range accounts {
		head, err := c.Events.CurrentHead(ctx, a.ID)
		if err != nil {
			return n, err
		}
		if head.Size == 0 {
			continue
		}
		latest, err := c.Store.LatestCheckpoint(ctx, a.ID)
		if err == nil && latest.Size >= head.Size {
			continue
		}
		if err != nil && stele.ErrorCode(err) != stele.ENOTFOUND {
			return n, err
		}
		if _, err := c.Sign(ctx, a); err != nil {
			return n, fmt.Errorf("sign checkpoint of %s: %w", a.Name, err)
		}
		n++
	}
	return n, nil
}

// Run signs checkpoints at every tick until ctx is done. serve passes a
// time.Ticker's channel; tests pass their own channel. A round that fails
// or panics is logged, and the next tick tries again.
func (c *Checkpointer) Run(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			var n int
			err := recovery.Call(func() (err error) {
				n, err = c.SignAll(ctx)
				return err
			})
			if err != nil && ctx.Err() == nil {
				recovery.Log(c.Logger, slog.LevelError, "sign checkpoints", err)
			} else if n > 0 {
				c.Logger.Debug("signed checkpoints", "accounts", n)
			}
		}
	}
}

// Loop signs checkpoints every interval (DefaultInterval when it is not
// positive) until ctx is done: serve's "checkpoints" job.
func (c *Checkpointer) Loop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	c.Run(ctx, t.C)
}

// SignAtShutdown signs once more, so that what was acknowledged before
// the process stops is covered by a checkpoint. A failure or a panic in it
// is logged: it must not turn a clean shutdown into a crash.
func (c *Checkpointer) SignAtShutdown(ctx context.Context) {
	if err := recovery.Call(func() error {
		_, err := c.SignAll(context.WithoutCancel(ctx))
		return err
	}); err != nil {
		recovery.Log(c.Logger, slog.LevelWarn, "sign checkpoints at shutdown", err)
	}
}

// SignPurge prepares the signed statement that the account's events below
// seq below are purged. Call it before deleting them: the frontier of the
// tree of size below is recomputed from stored nodes and, for its subtrees
// below ledger.StoredLevel, from those events' leaf hashes. Store the
// result with IntegrityStore.AddPurge once the rows are gone.
func (c *Checkpointer) SignPurge(ctx context.Context, account *stele.Account, below int64) (*stele.Purge, error) {
	head, err := c.Events.CurrentHead(ctx, account.ID)
	if err != nil {
		return nil, err
	}
	if below < 0 || below > head.Size {
		return nil, stele.Errorf(stele.EINVALID, "cannot purge below seq %d of a tree of %d events", below, head.Size)
	}
	frontier, err := ledger.FrontierAt(ctx, Hashes{Store: c.Events, AccountID: account.ID}, below)
	if err != nil {
		return nil, err
	}
	root, err := ledger.Root(stele.Head{AccountID: account.ID, Size: below, Frontier: frontier})
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	msg, err := ledger.SignPurge(c.Key.Signer, ledger.PurgeBody{Origin: c.Origin(account.Name), Below: below, Root: root, Time: now})
	if err != nil {
		return nil, err
	}
	return &stele.Purge{AccountID: account.ID, Below: below, Frontier: frontier, Note: msg, CreatedAt: now}, nil
}

// SignPurgeSet prepares the signed statement (stele.purge/v2) that the
// account's events of batch, in seq order and every one before cutoff, are
// purged. The store keeps it in the transaction that deletes them
// (RetentionStore.PurgeEvents), whose First is the batch's lowest seq.
func (c *Checkpointer) SignPurgeSet(ctx context.Context, account *stele.Account, cutoff time.Time, batch []stele.PurgedEvent) (*stele.PurgeStatement, error) {
	if len(batch) == 0 {
		return nil, stele.Errorf(stele.EINVALID, "a purge statement needs at least one event")
	}
	d := ledger.NewPurgeDigest()
	seqs := make([]int64, len(batch))
	for i, e := range batch {
		if i > 0 && e.Seq <= batch[i-1].Seq {
			return nil, stele.Errorf(stele.EINVALID, "purged events must be in ascending seq order")
		}
		d.Add(e.Seq, e.Time, e.LeafHash)
		seqs[i] = e.Seq
	}
	now := c.now().UTC()
	msg, err := ledger.SignPurgeSet(c.Key.Signer, ledger.PurgeSetBody{Origin: c.Origin(account.Name), Cutoff: cutoff, Time: now,
		Count: int64(len(batch)), Digest: d.Sum(), Ranges: ledger.Ranges(seqs)})
	if err != nil {
		return nil, err
	}
	return &stele.PurgeStatement{AccountID: account.ID, First: batch[0].Seq, Note: msg, CreatedAt: now}, nil
}

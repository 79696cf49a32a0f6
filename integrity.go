package stele

import (
	"context"
	"time"
)

// Checkpoint is a signed statement of an account's tree: its size and root
// hash, as a C2SP signed note (see docs/INTEGRITY.md). Every checkpoint
// Stele signs is kept.
type Checkpoint struct {
	AccountID int64
	Size      int64
	Root      [32]byte
	Note      []byte // the signed note, text
	CreatedAt time.Time
}

// Purge records a retention purge: the account's events below seq Below
// were deleted. Frontier is the compact Merkle frontier of the tree of size
// Below (one hash per set bit, largest subtree first), so that the tree can
// still be recomputed from the remaining leaves; Note is the signed "purged
// below seq N" statement, which commits to the root of that frontier.
type Purge struct {
	AccountID int64
	Below     int64
	Frontier  [][32]byte
	Note      []byte
	CreatedAt time.Time
}

// IntegrityStore keeps checkpoints and purge statements, and reads events
// in seq order for whole-store verification.
type IntegrityStore interface {
	// AddCheckpoint stores c; a checkpoint of the same account and size
	// already stored is kept and not an error (two signers raced).
	AddCheckpoint(ctx context.Context, c *Checkpoint) error
	// LatestCheckpoint returns the account's largest checkpoint; ENOTFOUND if none.
	LatestCheckpoint(ctx context.Context, accountID int64) (*Checkpoint, error)
	// CheckpointAt returns the account's checkpoint of the given size; ENOTFOUND if none.
	CheckpointAt(ctx context.Context, accountID, size int64) (*Checkpoint, error)
	// Checkpoints returns all the account's checkpoints, by size.
	Checkpoints(ctx context.Context, accountID int64) ([]*Checkpoint, error)
	// Purges returns the account's purge records, by Below.
	Purges(ctx context.Context, accountID int64) ([]*Purge, error)
	// AddPurge stores a purge record, after the retention job deleted the
	// events below p.Below (tree nodes and the head are kept). A record of
	// the same account and Below already stored is kept and not an error.
	AddPurge(ctx context.Context, p *Purge) error
	// PurgedEvents returns up to limit of the account's purged events with
	// seq >= from, by seq (RetentionStore.PurgeEvents keeps them).
	PurgedEvents(ctx context.Context, accountID, from int64, limit int) ([]PurgedEvent, error)
	// PurgeStatements returns the account's set purge statements, by First.
	PurgeStatements(ctx context.Context, accountID int64) ([]*PurgeStatement, error)
	// RowsBySeq returns up to limit of the account's rows with seq >= from, by seq.
	RowsBySeq(ctx context.Context, accountID, from int64, limit int) ([]EventRow, error)
	// MaxSeq returns the account's largest stored seq, -1 when it has no rows.
	MaxSeq(ctx context.Context, accountID int64) (int64, error)
}

package integrity

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
)

// Hashes reads one account's tree hashes from an event store: leaf hashes
// from the events rows, interior nodes from the stored tree nodes.
type Hashes struct {
	Store     stele.EventStore
	AccountID int64
}

var _ ledger.HashReader = Hashes{}

// LeafHashes returns the leaf hashes of seqs [from, to).
func (h Hashes) LeafHashes(ctx context.Context, from, to int64) ([]ledger.Hash, error) {
	return h.Store.LeafHashes(ctx, h.AccountID, from, to)
}

// Nodes returns the stored nodes of level with index in [from, to).
func (h Hashes) Nodes(ctx context.Context, level int, from, to int64) ([]ledger.Hash, error) {
	nodes, err := h.Store.TreeNodes(ctx, h.AccountID, level, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Hash, 0, len(nodes))
	for i, n := range nodes {
		if n.Index != from+int64(i) {
			return nil, fmt.Errorf("integrity: tree node level %d index %d is missing", level, from+int64(i))
		}
		out = append(out, n.Hash)
	}
	return out, nil
}

// InclusionProof is the proof that an account's event is in its tree of Size.
type InclusionProof struct {
	Seq      int64         `json:"seq"`
	Size     int64         `json:"size"`
	LeafHash ledger.Hash   `json:"leaf_hash"`
	Root     ledger.Hash   `json:"root"`
	Hashes   []ledger.Hash `json:"proof"`
}

// ProveInclusion returns the proof that the account's event seq is in its
// tree of the given size, which must not exceed the committed head.
func ProveInclusion(ctx context.Context, store stele.EventStore, accountID, seq, size int64) (*InclusionProof, error) {
	head, err := store.CurrentHead(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if size > head.Size {
		return nil, stele.Errorf(stele.ENOTFOUND, "the tree has %d events, not %d", head.Size, size)
	}
	if seq < 0 || seq >= size {
		return nil, stele.Errorf(stele.EINVALID, "seq %d is not in the tree of size %d", seq, size)
	}
	p := &InclusionProof{Seq: seq, Size: size}
	err = withHashes(ctx, store, accountID, func(r ledger.HashReader) error {
		leaves, err := r.LeafHashes(ctx, seq, seq+1)
		if err != nil {
			return err
		}
		if len(leaves) != 1 {
			return stele.Errorf(stele.ENOTFOUND, "event %d was purged", seq)
		}
		p.LeafHash = leaves[0]
		if p.Hashes, err = ledger.InclusionProof(ctx, r, seq, size); err != nil {
			return err
		}
		p.Root, err = ledger.TreeRoot(ctx, r, size)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ConsistencyProof is the proof that the tree of size From is a prefix of the tree of size To.
type ConsistencyProof struct {
	From     int64         `json:"from"`
	To       int64         `json:"to"`
	FromRoot ledger.Hash   `json:"from_root"`
	ToRoot   ledger.Hash   `json:"to_root"`
	Hashes   []ledger.Hash `json:"proof"`
}

// ProveConsistency returns the consistency proof of the account's tree from
// size from to size to, which must not exceed the committed head.
func ProveConsistency(ctx context.Context, store stele.EventStore, accountID, from, to int64) (*ConsistencyProof, error) {
	head, err := store.CurrentHead(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if to > head.Size {
		return nil, stele.Errorf(stele.ENOTFOUND, "the tree has %d events, not %d", head.Size, to)
	}
	if from < 0 || from > to {
		return nil, stele.Errorf(stele.EINVALID, "from must be from 0 to %d", to)
	}
	p := &ConsistencyProof{From: from, To: to}
	err = withHashes(ctx, store, accountID, func(r ledger.HashReader) error {
		var err error
		if p.Hashes, err = ledger.ConsistencyProof(ctx, r, from, to); err != nil {
			return err
		}
		if p.FromRoot, err = ledger.TreeRoot(ctx, r, from); err != nil {
			return err
		}
		p.ToRoot, err = ledger.TreeRoot(ctx, r, to)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

package integrity

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/ledger"
)

// proofHashStore is a store that reads the hashes a proof needs in one
// query (the SQLite store): stored nodes by (level, index), leaf hashes by
// seq ranges. Other stores are read one range at a time through Hashes.
type proofHashStore interface {
	ProofHashes(ctx context.Context, accountID int64, nodes []stele.TreeNode, leaves [][2]int64) (found, leafHashes []stele.TreeNode, err error)
}

// maxPrefetch bounds the nodes and leaves read in one go; a larger proof
// (there is none for trees under 2^63) reads range by range.
const maxPrefetch = 4096

// withHashes runs fn, which computes proofs from an account's hashes, with
// every hash it asks for read in one query when the store can: fn runs
// first against a recorder that answers zeros and notes what is asked
// (a proof's reads depend on its sizes only, never on hash values), then
// against those hashes read at once.
func withHashes(ctx context.Context, store stele.EventStore, accountID int64, fn func(r ledger.HashReader) error) error {
	direct := Hashes{Store: store, AccountID: accountID}
	batch, ok := store.(proofHashStore)
	if !ok {
		return fn(direct)
	}
	rec := &recorder{}
	if err := fn(rec); err != nil || rec.n > maxPrefetch {
		return fn(direct)
	}
	nodes, leaves, err := batch.ProofHashes(ctx, accountID, rec.nodes, rec.leaves)
	if err != nil {
		return err
	}
	m := memHashes{nodes: make(map[[2]int64]ledger.Hash, len(nodes)), leaves: make(map[int64]ledger.Hash, len(leaves))}
	for _, n := range nodes {
		m.nodes[[2]int64{int64(n.Level), n.Index}] = n.Hash
	}
	for _, l := range leaves {
		m.leaves[l.Index] = l.Hash
	}
	return fn(m)
}

// recorder is a HashReader that answers zero hashes and records the reads.
type recorder struct {
	nodes  []stele.TreeNode
	leaves [][2]int64
	n      int64
}

func (r *recorder) LeafHashes(_ context.Context, from, to int64) ([]ledger.Hash, error) {
	if to <= from {
		return nil, nil
	}
	r.n += to - from
	if r.n > maxPrefetch {
		return nil, fmt.Errorf("integrity: too many hashes to prefetch")
	}
	r.leaves = append(r.leaves, [2]int64{from, to})
	return make([]ledger.Hash, to-from), nil
}

func (r *recorder) Nodes(_ context.Context, level int, from, to int64) ([]ledger.Hash, error) {
	if to <= from {
		return nil, nil
	}
	r.n += to - from
	if r.n > maxPrefetch {
		return nil, fmt.Errorf("integrity: too many hashes to prefetch")
	}
	for i := from; i < to; i++ {
		r.nodes = append(r.nodes, stele.TreeNode{Level: level, Index: i})
	}
	return make([]ledger.Hash, to-from), nil
}

// memHashes answers reads from hashes read beforehand, as the store would:
// the leaves present, in order, and an error for a missing stored node.
type memHashes struct {
	nodes  map[[2]int64]ledger.Hash
	leaves map[int64]ledger.Hash
}

func (m memHashes) LeafHashes(_ context.Context, from, to int64) ([]ledger.Hash, error) {
	var out []ledger.Hash
	for i := from; i < to; i++ {
		if h, ok := m.leaves[i]; ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func (m memHashes) Nodes(_ context.Context, level int, from, to int64) ([]ledger.Hash, error) {
	// As Hashes.Nodes over the store's answer: the nodes present, which
	// must have no gap; missing ones at the end are the caller's to see.
	var out []ledger.Hash
	for i := from; i < to; i++ {
		h, ok := m.nodes[[2]int64{int64(level), i}]
		if !ok {
			continue
		}
		if i != from+int64(len(out)) {
			return nil, fmt.Errorf("integrity: tree node level %d index %d is missing", level, from+int64(len(out)))
		}
		out = append(out, h)
	}
	return out, nil
}

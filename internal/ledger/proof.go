package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
)

// HashReader reads the hashes of one account's tree: the leaf hashes of seqs
// [from, to), and the stored interior nodes of a level (≥ StoredLevel) with
// index in [from, to). A store backs it; nodes below StoredLevel are never
// asked for, they are recomputed from at most 2^StoredLevel leaves.
type HashReader interface {
	LeafHashes(ctx context.Context, from, to int64) ([]Hash, error)
	Nodes(ctx context.Context, level int, from, to int64) ([]Hash, error)
}

// ErrProof is returned when a proof does not verify.
var ErrProof = errors.New("ledger: proof does not verify")

// SubtreeHash returns the hash of the complete subtree of 2^level leaves
// starting at leaf index<<level: a stored node at StoredLevel or above,
// otherwise recomputed from its leaves.
func SubtreeHash(ctx context.Context, r HashReader, level int, index int64) (Hash, error) {
	if level >= StoredLevel {
		hs, err := r.Nodes(ctx, level, index, index+1)
		if err != nil {
			return Hash{}, err
		}
		if len(hs) != 1 {
			return Hash{}, fmt.Errorf("ledger: tree node level %d index %d is missing", level, index)
		}
		return hs[0], nil
	}
	from, to := index<<level, (index+1)<<level
	leaves, err := r.LeafHashes(ctx, from, to)
	if err != nil {
		return Hash{}, err
	}
	if int64(len(leaves)) != to-from {
		return Hash{}, fmt.Errorf("ledger: leaves %d..%d: %d of %d are present", from, to-1, len(leaves), to-from)
	}
	return hashLeaves(leaves), nil
}

// hashLeaves returns the root of a complete tree over leaves (a power of two).
func hashLeaves(leaves []Hash) Hash {
	for len(leaves) > 1 {
		next := make([]Hash, len(leaves)/2)
		for i := range next {
			next[i] = NodeHash(leaves[2*i], leaves[2*i+1])
		}
		leaves = next
	}
	return leaves[0]
}

// RangeHash returns MTH(D[lo:hi]) of RFC 6962 for a range whose lo is aligned
// to the largest power of two not above hi-lo (as every range a proof asks
// for is): complete subtrees are read, incomplete right edges are combined
// from the complete subtrees they split into.
func RangeHash(ctx context.Context, r HashReader, lo, hi int64) (Hash, error) {
	n := hi - lo
	if n <= 0 {
		return Hash{}, fmt.Errorf("ledger: empty range %d..%d", lo, hi)
	}
	if n&(n-1) == 0 && lo%n == 0 {
		level := bits.TrailingZeros64(uint64(n))
		return SubtreeHash(ctx, r, level, lo>>level)
	}
	k := splitPoint(n)
	left, err := RangeHash(ctx, r, lo, lo+k)
	if err != nil {
		return Hash{}, err
	}
	right, err := RangeHash(ctx, r, lo+k, hi)
	if err != nil {
		return Hash{}, err
	}
	return NodeHash(left, right), nil
}

// TreeRoot returns the root hash of the account's tree of the given size.
func TreeRoot(ctx context.Context, r HashReader, size int64) (Hash, error) {
	if size == 0 {
		return EmptyRoot, nil
	}
	return RangeHash(ctx, r, 0, size)
}

// splitPoint returns the largest power of two smaller than n (n > 1).
func splitPoint(n int64) int64 {
	return 1 << (63 - bits.LeadingZeros64(uint64(n-1)))
}

// InclusionProof returns the RFC 6962 audit path of leaf seq in the tree of
// the given size, from the leaf's sibling up to the root's child.
func InclusionProof(ctx context.Context, r HashReader, seq, size int64) ([]Hash, error) {
	if seq < 0 || seq >= size {
		return nil, fmt.Errorf("ledger: seq %d is not in a tree of size %d", seq, size)
	}
	return path(ctx, r, seq, 0, size)
}

func path(ctx context.Context, r HashReader, m, lo, hi int64) ([]Hash, error) {
	n := hi - lo
	if n == 1 {
		return nil, nil
	}
	k := splitPoint(n)
	var (
		p       []Hash
		sibling Hash
		err     error
	)
	if m-lo < k {
		if p, err = path(ctx, r, m, lo, lo+k); err == nil {
			sibling, err = RangeHash(ctx, r, lo+k, hi)
		}
	} else {
		if p, err = path(ctx, r, m, lo+k, hi); err == nil {
			sibling, err = RangeHash(ctx, r, lo, lo+k)
		}
	}
	if err != nil {
		return nil, err
	}
	return append(p, sibling), nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size from is
// a prefix of the tree of size to. It is empty when from is 0 or equals to.
func ConsistencyProof(ctx context.Context, r HashReader, from, to int64) ([]Hash, error) {
	if from < 0 || from > to {
		return nil, fmt.Errorf("ledger: no consistency proof from size %d to %d", from, to)
	}
	if from == 0 || from == to {
		return nil, nil
	}
	return subproof(ctx, r, from, 0, to, true)
}

func subproof(ctx context.Context, r HashReader, m, lo, hi int64, whole bool) ([]Hash, error) {
	n := hi - lo
	if m == n {
		if whole {
			return nil, nil
		}
		h, err := RangeHash(ctx, r, lo, hi)
		if err != nil {
			return nil, err
		}
		return []Hash{h}, nil
	}
	k := splitPoint(n)
	var (
		p   []Hash
		h   Hash
		err error
	)
	if m <= k {
		if p, err = subproof(ctx, r, m, lo, lo+k, whole); err == nil {
			h, err = RangeHash(ctx, r, lo+k, hi)
		}
	} else {
		if p, err = subproof(ctx, r, m-k, lo+k, hi, false); err == nil {
			h, err = RangeHash(ctx, r, lo, lo+k)
		}
	}
	if err != nil {
		return nil, err
	}
	return append(p, h), nil
}

// VerifyInclusion checks that leaf is the leaf at seq of the tree of size
// with the given root (RFC 9162, section 2.1.3.2).
func VerifyInclusion(leaf Hash, seq, size int64, proof []Hash, root Hash) error {
	if seq < 0 || seq >= size {
		return fmt.Errorf("%w: seq %d is not in a tree of size %d", ErrProof, seq, size)
	}
	fn, sn := seq, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: inclusion proof too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: inclusion proof too short", ErrProof)
	}
	if r != root {
		return fmt.Errorf("%w: inclusion proof leads to another root", ErrProof)
	}
	return nil
}

// VerifyConsistency checks that the tree of size from with root fromRoot is
// a prefix of the tree of size to with root toRoot (RFC 9162, 2.1.4.2).
func VerifyConsistency(from, to int64, fromRoot, toRoot Hash, proof []Hash) error {
	switch {
	case from < 0 || from > to:
		return fmt.Errorf("%w: size %d cannot precede size %d", ErrProof, from, to)
	case from == to:
		if len(proof) != 0 || fromRoot != toRoot {
			return fmt.Errorf("%w: two different roots for size %d", ErrProof, from)
		}
		return nil
	case from == 0:
		if len(proof) != 0 {
			return fmt.Errorf("%w: a proof from the empty tree must be empty", ErrProof)
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: empty consistency proof", ErrProof)
	}
	if from&(from-1) == 0 {
		proof = append([]Hash{fromRoot}, proof...)
	}
	fn, sn := from-1, to-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: consistency proof too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: consistency proof too short", ErrProof)
	}
	if fr != fromRoot || sr != toRoot {
		return fmt.Errorf("%w: the trees of size %d and %d are not consistent", ErrProof, from, to)
	}
	return nil
}

// FrontierAt returns the compact frontier of the tree of the given size:
// the hashes of the complete subtrees [0, size) splits into, largest first.
func FrontierAt(ctx context.Context, r HashReader, size int64) ([]Hash, error) {
	var out []Hash
	var lo int64
	for level := 62; level >= 0; level-- {
		if size&(1<<level) == 0 {
			continue
		}
		h, err := SubtreeHash(ctx, r, level, lo>>level)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
		lo += 1 << level
	}
	return out, nil
}

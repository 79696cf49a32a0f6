package ledger

import (
	"crypto/sha256"
	"fmt"

	"github.com/stele-audit/stele"
)

// Hash is a node of a Merkle tree.
type Hash = [32]byte

// StoredLevel is the lowest level of interior hashes kept in the store. A
// hash below it is recomputed from at most 2^StoredLevel leaf hashes, which
// the events rows carry anyway; this keeps the tree's storage at about
// 32/2^(StoredLevel-1) bytes per event.
const StoredLevel = 4

// LeafHash returns the RFC 6962 hash of a leaf with the given data.
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash returns the RFC 6962 hash of an interior node.
func NodeHash(left, right Hash) Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:33], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot is the root hash of the empty tree.
var EmptyRoot = sha256.Sum256(nil)

// Append adds a leaf to the tree whose state is head, and returns head's new
// state. For every subtree the leaf completes at StoredLevel or above, it
// calls store with the subtree's hash.
func Append(head stele.Head, leaf Hash, store func(stele.TreeNode)) stele.Head {
	size := head.Size
	cur := leaf
	idx := size
	level := 0
	frontier := head.Frontier
	for (size>>level)&1 == 1 {
		cur = NodeHash(frontier[len(frontier)-1], cur)
		frontier = frontier[:len(frontier)-1]
		level++
		idx >>= 1
		if level >= StoredLevel && store != nil {
			store(stele.TreeNode{Level: level, Index: idx, Hash: cur})
		}
	}
	head.Frontier = append(frontier, cur)
	head.Size = size + 1
	return head
}

// Root returns the root hash of the tree whose state is head.
func Root(head stele.Head) (Hash, error) {
	if err := CheckHead(head); err != nil {
		return Hash{}, err
	}
	if head.Size == 0 {
		return EmptyRoot, nil
	}
	f := head.Frontier
	r := f[len(f)-1]
	for i := len(f) - 2; i >= 0; i-- {
		r = NodeHash(f[i], r)
	}
	return r, nil
}

// CheckHead reports whether head's frontier has one hash per set bit of its size.
func CheckHead(head stele.Head) error {
	n := 0
	for s := head.Size; s > 0; s &= s - 1 {
		n++
	}
	if head.Size < 0 || len(head.Frontier) != n {
		return fmt.Errorf("ledger: head of account %d: size %d needs %d frontier hashes, has %d", head.AccountID, head.Size, n, len(head.Frontier))
	}
	return nil
}

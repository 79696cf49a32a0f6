package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/stele-audit/stele"
)

// ErrNotVerified is wrapped by every failed check of VerifyReceipt,
// OpenCheckpoint and VerifyInclusion: what the server sent does not prove
// what it should.
var ErrNotVerified = errors.New("stele client: not verified")

// OpenCheckpoint checks the signature of a signed checkpoint note (C2SP
// signed note, as Checkpoint returns it in Note) against the verifier key
// that `stele checkpoint public-key` prints, and returns what it signs.
func OpenCheckpoint(signed, verifierKey string) (*Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the verifier key is not a note verifier key: " + err.Error(),
			Details: []stele.FieldError{{Field: "verifier_key", Rule: "format"}}}
	}
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("%w: the checkpoint's signature: %v", ErrNotVerified, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" || lines[0] == "" {
		return nil, fmt.Errorf("%w: the checkpoint is not origin, size and root lines", ErrNotVerified)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, fmt.Errorf("%w: the checkpoint's size %q", ErrNotVerified, truncate(lines[1], 40))
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	// Strict decoding still skips CR and LF: only the canonical text is a root.
	if err != nil || len(root) != sha256.Size || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return nil, fmt.Errorf("%w: the checkpoint's root %q", ErrNotVerified, truncate(lines[2], 60))
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: [32]byte(root), Note: signed}, nil
}

// VerifyInclusion checks that leaf is the leaf at seq of the Merkle tree
// of size leaves with the given root, by the proof (RFC 9162, 2.1.3.2).
func VerifyInclusion(leaf [32]byte, seq, size int64, proof [][32]byte, root [32]byte) error {
	if seq < 0 || seq >= size {
		return fmt.Errorf("%w: seq %d is not in a tree of size %d", ErrNotVerified, seq, size)
	}
	fn, sn := seq, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: the inclusion proof is too long", ErrNotVerified)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the inclusion proof is too short", ErrNotVerified)
	}
	if r != root {
		return fmt.Errorf("%w: the inclusion proof leads to another root", ErrNotVerified)
	}
	return nil
}

// nodeHash is the RFC 6962 hash of an interior node.
func nodeHash(left, right [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:33], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// VerifyReceipt proves that the event of a receipt (what Send returned,
// or WithReceiptHandler was given) is in its account's log: it fetches the
// event's inclusion proof and a checkpoint that covers it, checks the
// checkpoint's signature with verifierKey (what `stele checkpoint
// public-key` prints; pin it, never take it from the server you check),
// that the checkpoint is the receipt's account's, and that the proof leads
// from the receipt's leaf hash at its seq to the signed root. It needs a
// key with the events:read scope, and returns the checkpoint that the
// event was proven against: keep it to check later checkpoints extend it
// (ConsistencyProof).
func (c *Client) VerifyReceipt(ctx context.Context, r stele.Receipt, verifierKey string) (*Checkpoint, error) {
	leaf, err := hex.DecodeString(r.LeafHash) // receipts carry it in hex
	if err != nil || len(leaf) != sha256.Size {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the receipt's leaf hash is not a hex SHA-256 hash",
			Details: []stele.FieldError{{Field: "leaf_hash", Rule: "format"}}}
	}
	if _, err := note.NewVerifier(verifierKey); err != nil {
		return nil, &stele.Error{Code: stele.EINVALID, Message: "the verifier key is not a note verifier key: " + err.Error(),
			Details: []stele.FieldError{{Field: "verifier_key", Rule: "format"}}}
	}
	ep, err := c.EventWithProof(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	cp, err := OpenCheckpoint(ep.Checkpoint, verifierKey)
	if err != nil {
		return nil, err
	}
	if r.Account != "" && !strings.HasSuffix(cp.Origin, "/"+r.Account) {
		return nil, fmt.Errorf("%w: the checkpoint is of %q, not of account %q", ErrNotVerified, truncate(printable(cp.Origin), 80), r.Account)
	}
	if ep.Event.Seq != r.Seq || ep.Proof.Seq != r.Seq {
		return nil, fmt.Errorf("%w: the server's event %s is at seq %d, the receipt says %d", ErrNotVerified, r.ID, ep.Proof.Seq, r.Seq)
	}
	if err := VerifyInclusion([32]byte(leaf), r.Seq, cp.Size, ep.Proof.Hashes, cp.Root); err != nil {
		return nil, fmt.Errorf("event %s: %w", r.ID, err)
	}
	return cp, nil
}

package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
)

// Hashes are SHA-256 values of the account's Merkle tree (RFC 6962
// hashing); the API sends them in standard base64.

// Checkpoint is the latest signed checkpoint of the key's account, as the
// server states it. Only Note is signed: a verifier reads the origin, size
// and root it trusts from the note once its signature checks, and takes
// the other fields for what they are, the server's word.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   [32]byte
	Note   string
}

// InclusionProof leads from the leaf hash of event Seq to the root of the
// account's tree of Size events.
type InclusionProof struct {
	Seq      int64
	Size     int64
	LeafHash [32]byte
	Root     [32]byte
	Hashes   [][32]byte
}

// ConsistencyProof shows that the account's tree of From events is a
// prefix of its tree of To events.
type ConsistencyProof struct {
	From, To         int64
	FromRoot, ToRoot [32]byte
	Hashes           [][32]byte
}

// Checkpoint returns the latest signed checkpoint of the key's account (the
// server signs one if there is none yet).
func (c *Client) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	const path = "/v1/checkpoint?format=json"
	var answer struct {
		Origin string `json:"origin"`
		Size   int64  `json:"size"`
		Root   string `json:"root"`
		Note   string `json:"note"`
	}
	if err := c.getJSON(ctx, path, &answer); err != nil {
		return nil, err
	}
	root, err := hashOf(answer.Root)
	if err != nil {
		return nil, fmt.Errorf("GET %s: the checkpoint's root: %w", endpoint(path), err)
	}
	return &Checkpoint{Origin: answer.Origin, Size: answer.Size, Root: root, Note: answer.Note}, nil
}

// InclusionProof returns the proof that event seq is in the account's tree
// of size events; size 0 asks for the tree of the latest checkpoint.
func (c *Client) InclusionProof(ctx context.Context, seq, size int64) (*InclusionProof, error) {
	v := url.Values{"seq": {strconv.FormatInt(seq, 10)}}
	if size != 0 {
		v.Set("size", strconv.FormatInt(size, 10))
	}
	path := "/v1/proofs/inclusion?" + v.Encode()
	var answer inclusionJSON
	if err := c.getJSON(ctx, path, &answer); err != nil {
		return nil, err
	}
	p, err := answer.decode()
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", endpoint(path), err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the account's tree of from
// events is a prefix of its tree of to events; to 0 asks for the tree of
// the latest checkpoint.
func (c *Client) ConsistencyProof(ctx context.Context, from, to int64) (*ConsistencyProof, error) {
	v := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if to != 0 {
		v.Set("to", strconv.FormatInt(to, 10))
	}
	path := "/v1/proofs/consistency?" + v.Encode()
	var answer struct {
		From     int64    `json:"from"`
		To       int64    `json:"to"`
		FromRoot string   `json:"from_root"`
		ToRoot   string   `json:"to_root"`
		Proof    []string `json:"proof"`
	}
	if err := c.getJSON(ctx, path, &answer); err != nil {
		return nil, err
	}
	p := &ConsistencyProof{From: answer.From, To: answer.To}
	var err error
	if p.FromRoot, err = hashOf(answer.FromRoot); err == nil {
		if p.ToRoot, err = hashOf(answer.ToRoot); err == nil {
			p.Hashes, err = hashesOf(answer.Proof)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", endpoint(path), err)
	}
	return p, nil
}

// inclusionJSON is an inclusion proof as the API sends it.
type inclusionJSON struct {
	Seq      int64    `json:"seq"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

func (j *inclusionJSON) decode() (*InclusionProof, error) {
	p := &InclusionProof{Seq: j.Seq, Size: j.Size}
	var err error
	if p.LeafHash, err = hashOf(j.LeafHash); err != nil {
		return nil, fmt.Errorf("the proof's leaf hash: %w", err)
	}
	if p.Root, err = hashOf(j.Root); err != nil {
		return nil, fmt.Errorf("the proof's root: %w", err)
	}
	if p.Hashes, err = hashesOf(j.Proof); err != nil {
		return nil, err
	}
	return p, nil
}

func hashOf(s string) ([32]byte, error) {
	var h [32]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%q is not a base64 SHA-256 hash", truncate(printable(s), 60))
	}
	copy(h[:], b)
	return h, nil
}

func hashesOf(ss []string) ([][32]byte, error) {
	out := make([][32]byte, len(ss))
	for i, s := range ss {
		h, err := hashOf(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
		out[i] = h
	}
	return out, nil
}

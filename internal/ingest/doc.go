// Package ingest is the write path of Stele: decode a request body, validate
// and normalise its events, seal them with their account's keys, and append
// them through one group-commit writer that assigns seqs, extends each
// account's Merkle tree and acknowledges only after a durable commit.
package ingest

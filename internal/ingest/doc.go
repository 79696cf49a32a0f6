// Package ingest is the write path of Stele: decode a request body, validate
// and normalise its events, charge them to their accounts' ingest quotas,
// seal them with their account's keys, and append them through one
// group-commit writer that serves the accounts fairly, assigns seqs, extends
// each account's Merkle tree and acknowledges only after a durable commit.
package ingest

// Package ledger keeps each account's events in an append-only Merkle tree
// with RFC 6962 hashing: leaf index = seq, leaf hash = SHA-256(0x00 ||
// canonical event). It appends to a compact frontier inside the ingest
// transaction, stores the interior hashes needed to answer proofs in
// O(log n) reads, and signs checkpoints of the tree.
package ledger

// Package integrity puts the ledger to work on a store: it signs
// checkpoints of accounts' trees (on demand and as a background job),
// answers inclusion and consistency proofs from stored hashes, signs purge
// statements, and re-checks a whole store for tampering (stele verify
// --data). It checks a live server through its API too (RemoteVerifier,
// stele verify --url), and one event against its account's signed
// checkpoint (CheckEventIncluded: the remote verifier's spot checks and
// the console's EventStatus).
package integrity

// Package integrity puts the ledger to work on a store: it signs
// checkpoints of accounts' trees (on demand and as a background job),
// answers inclusion and consistency proofs from stored hashes, signs purge
// statements, re-checks a whole store for tampering (stele verify --data),
// and checks one event against its account's signed checkpoint
// (CheckEventIncluded; the console's EventStatus).
package integrity

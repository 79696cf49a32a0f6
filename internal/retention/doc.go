// Package retention deletes each account's events once they are older than
// its retention, in bounded batches that leave the single writer to ingest
// between them, and records every purge in the account's own log.
//
// A purge removes a prefix of an account's seqs: the longest run of its
// oldest events whose times all lie before the cutoff (now minus the
// account's retention). An event that arrived out of time order is kept
// until every earlier seq has expired too, so nothing younger than the
// retention is ever deleted, and "every event below seq N is gone" states a
// purge exactly: the Merkle tree's stored hashes and the head stay, and the
// integrity record needs only N.
package retention

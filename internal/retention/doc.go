// Package retention deletes each account's events once they are older than
// its retention, in bounded batches that leave the single writer to ingest
// between them, and records every purge in the account's own log.
//
// A purge removes every event whose time lies before the cutoff (now minus
// the account's retention), wherever its seq lies: an event sent late with
// an old time expires with its time. Of each it keeps the seq, the time and
// the leaf hash, so the Merkle tree's hashes and the head stay, and each
// batch's signed statement (stele.purge/v2) lists the seqs it took.
package retention

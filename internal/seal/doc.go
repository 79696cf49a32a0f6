// Package seal is Stele's envelope encryption. A master key (from the
// environment, a file, or generated into the data directory) wraps each
// account's random data and index keys; data keys seal event payloads with
// AES-256-GCM, index keys compute the blind-index tokens (HMAC-SHA-256) that
// let the store filter on identities it cannot read (blind.go decides which
// fields are tokenised and how their values are normalised first).
//
// Payloads are sealed under a subkey derived from the data key and the
// event's seq block (2^20 seqs), so that no AES key ever sees enough random
// 96-bit nonces for a collision to be a practical risk, however long an
// account lives.
package seal

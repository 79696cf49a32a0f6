// Package record encodes events as bytes: the sealed payload (the fields kept
// secret at rest), the canonical encoding a Merkle leaf commits to, and the
// additional data that binds a ciphertext to its row's clear columns.
//
// The formats are compact and deterministic: a version byte, then fields in a
// fixed order, each a uvarint length and its bytes. docs/INTEGRITY.md
// describes the canonical encoding byte by byte.
package record

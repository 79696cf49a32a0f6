package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
)

// Search cursors carry a MAC so that a server only continues a page it
// issued, for the account and query it issued it for. The MAC key is
// derived from each index key version, not drawn at random per process:
// every node of a cluster shares it, a restart keeps it, and deleting the
// account's keys ends it with them.

// cursorKey derives the cursor MAC key of an index key.
func cursorKey(indexKey []byte) []byte {
	k, err := hkdf.Key(sha256.New, indexKey, nil, "stele search cursor v1", 32)
	if err != nil {
		panic(err) // only fails for lengths out of range
	}
	return k
}

// CursorMAC returns HMAC-SHA-256 of a cursor's content msg under the
// cursor key of the account's index key version, and false if the
// account has no such version. Cursors are made under IndexVersion and
// checked under the version they name: rotation keeps older versions, so
// a cursor issued before it still checks.
func (k *AccountKeys) CursorMAC(version int, msg []byte) ([]byte, bool) {
	for _, ik := range k.index {
		if ik.version == version {
			m := hmac.New(sha256.New, ik.cursor)
			m.Write(msg)
			return m.Sum(nil), true
		}
	}
	return nil, false
}

package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/stele-audit/stele"
)

// Key purposes.
const (
	PurposeData  = "data"
	PurposeIndex = "index"
)

// sealBlockBits sets how many seqs share one payload subkey.
const sealBlockBits = 20

// ErrDecrypt is returned when a payload does not open: the wrong key, or a
// ciphertext or its additional data was changed.
var ErrDecrypt = errors.New("seal: payload does not decrypt (altered, moved, or the wrong key)")

// AccountKeys are one account's unwrapped keys: every data and index key
// version it has, the newest used for new writes.
type AccountKeys struct {
	AccountID   int64
	dataVersion int
	data        map[int][]byte
	index       []*indexKey // ascending by version; the last is current

	mu     sync.Mutex
	blocks map[blockID]cipher.AEAD
	// refresh reloads the account's keys from the store, for a payload
	// sealed under a version another process added after this one loaded.
	refresh func() (*AccountKeys, error)
}

// holds reports whether k has exactly the key versions of wrapped.
func (k *AccountKeys) holds(wrapped []stele.WrappedKey) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	data, index := 0, 0
	for _, w := range wrapped {
		switch w.Purpose {
		case PurposeData:
			if _, ok := k.data[w.Version]; !ok {
				return false
			}
			data++
		case PurposeIndex:
			found := false
			for _, ik := range k.index {
				found = found || ik.version == w.Version
			}
			if !found {
				return false
			}
			index++
		}
	}
	return data == len(k.data) && index == len(k.index)
}

// IndexVersion is the index key version new tokens are computed with.
func (k *AccountKeys) IndexVersion() int { return k.index[len(k.index)-1].version }

type blockID struct {
	version int
	block   int64
}

type indexKey struct {
	version int
	pool    sync.Pool // of hash.Hash (HMAC-SHA-256 under the key)
	cursor  []byte    // the key of search cursors' MACs (cursor.go)
}

func newIndexKey(version int, key []byte) *indexKey {
	k := &indexKey{version: version, cursor: cursorKey(key)}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	return k
}

// DataVersion is the data key version new payloads are sealed with.
func (k *AccountKeys) DataVersion() int { return k.dataVersion }

// Seal encrypts plain for the event with the given seq and appends
// nonce‖ciphertext‖tag to dst. ad must bind the ciphertext to its account and
// seq (see record.AppendAD).
func (k *AccountKeys) Seal(dst []byte, seq int64, plain, ad []byte) (version int, out []byte) {
	aead, err := k.aead(k.dataVersion, seq)
	if err != nil { // the current key is always present and 32 bytes
		panic(err)
	}
	return k.dataVersion, aead.Seal(dst, nil, plain, ad)
}

// Open decrypts a payload sealed by Seal with key version for seq.
func (k *AccountKeys) Open(version int, seq int64, sealed, ad []byte) ([]byte, error) {
	aead, err := k.aead(version, seq)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nil, sealed, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

func (k *AccountKeys) aead(version int, seq int64) (cipher.AEAD, error) {
	id := blockID{version, seq >> sealBlockBits}
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.blocks[id]; ok {
		return a, nil
	}
	key, ok := k.data[version]
	if !ok && k.refresh != nil {
		// Rotated elsewhere since these keys were loaded: adopt the
		// version from the store. The lock is released meanwhile, as
		// reloading may look at these keys too.
		k.mu.Unlock()
		fresh, err := k.refresh()
		k.mu.Lock()
		if err == nil && fresh != k {
			fresh.mu.Lock()
			raw, found := fresh.data[version]
			fresh.mu.Unlock()
			if found {
				k.data[version] = raw
				key, ok = raw, true
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("seal: account %d has no data key version %d", k.AccountID, version)
	}
	var info [8 + len("stele seal block v1")]byte
	n := copy(info[:], "stele seal block v1")
	binary.BigEndian.PutUint64(info[n:], uint64(id.block))
	sub, err := hkdf.Key(sha256.New, key, nil, string(info[:]), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	if len(k.blocks) >= 64 {
		clear(k.blocks)
	}
	k.blocks[id] = a
	return a, nil
}

// Overhead is how many bytes Seal adds to a payload.
const Overhead = 12 + 16

// Token returns the blind-index token of value in field under the current
// index key: the first 8 bytes of HMAC-SHA-256(key, field ‖ 0 ‖ value),
// never 0 (which the store reads as "absent").
func (k *AccountKeys) Token(field stele.Field, value string) int64 {
	return k.index[len(k.index)-1].token(field, value)
}

// Tokens returns the tokens of value under every index key version, for
// queries that must find rows written before a rotation.
func (k *AccountKeys) Tokens(field stele.Field, value string) []int64 {
	out := make([]int64, len(k.index))
	for i, ik := range k.index {
		out[i] = ik.token(field, value)
	}
	return out
}

func (ik *indexKey) token(field stele.Field, value string) int64 {
	h := ik.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(field))
	h.Write([]byte{0})
	h.Write([]byte(value))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	ik.pool.Put(h)
	t := int64(binary.BigEndian.Uint64(sum[:8]))
	if t == 0 {
		t = 1
	}
	return t
}

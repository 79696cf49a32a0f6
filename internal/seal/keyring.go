package seal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// Keyring hands out accounts' unwrapped keys, creating them on an account's
// first use, and caches them for the life of the process.
type Keyring struct {
	master *MasterKey
	wrap   cipher.AEAD
	store  stele.KeyStore
	now    func() time.Time

	mu       sync.Mutex
	accounts map[int64]*AccountKeys
}

// NewKeyring returns a keyring that keeps wrapped keys in store.
func NewKeyring(master *MasterKey, store stele.KeyStore) *Keyring {
	sub, err := hkdf.Key(sha256.New, master.key[:], nil, "stele master wrap v1", 32)
	if err != nil {
		panic(err) // only fails for lengths out of range
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		panic(err)
	}
	wrap, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		panic(err)
	}
	return &Keyring{master: master, wrap: wrap, store: store, now: time.Now, accounts: map[int64]*AccountKeys{}}
}

// Account returns the keys of an account, generating and storing them the
// first time the account needs any.
func (r *Keyring) Account(ctx context.Context, accountID int64) (*AccountKeys, error) {
	r.mu.Lock()
	k, ok := r.accounts[accountID]
	r.mu.Unlock()
	if ok {
		return k, nil
	}
	wrapped, err := r.store.WrappedKeys(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("load account keys: %w", err)
	}
	if len(wrapped) == 0 {
		if wrapped, err = r.create(ctx, accountID); err != nil {
			return nil, err
		}
	}
	k, err = r.unwrapAll(accountID, wrapped)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.accounts[accountID]; ok {
		return prev, nil
	}
	r.accounts[accountID] = k
	return k, nil
}

// Forget drops an account's keys from the cache, so the next use reloads
// them from the store.
func (r *Keyring) Forget(accountID int64) {
	r.mu.Lock()
	delete(r.accounts, accountID)
	r.mu.Unlock()
}

func (r *Keyring) create(ctx context.Context, accountID int64) ([]stele.WrappedKey, error) {
	now := r.now().UTC().Truncate(stele.TimeUnit)
	var keys []stele.WrappedKey
	for _, purpose := range []string{PurposeData, PurposeIndex} {
		raw := make([]byte, 32)
		rand.Read(raw)
		w := stele.WrappedKey{AccountID: accountID, Purpose: purpose, Version: 1, MasterVersion: r.master.Version, CreatedAt: now}
		w.Wrapped = r.wrap.Seal(nil, nil, raw, wrapAD(w))
		clear(raw)
		keys = append(keys, w)
	}
	err := r.store.AddWrappedKeys(ctx, keys)
	if stele.ErrorCode(err) == stele.ECONFLICT {
		// Another writer created them first: use theirs.
		return r.store.WrappedKeys(ctx, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("store account keys: %w", err)
	}
	return keys, nil
}

func (r *Keyring) unwrapAll(accountID int64, wrapped []stele.WrappedKey) (*AccountKeys, error) {
	k := &AccountKeys{AccountID: accountID, data: map[int][]byte{}, blocks: map[blockID]cipher.AEAD{}}
	slices.SortFunc(wrapped, func(a, b stele.WrappedKey) int { return a.Version - b.Version })
	for _, w := range wrapped {
		if w.MasterVersion != r.master.Version {
			return nil, fmt.Errorf("seal: account %d key %s v%d is wrapped by master key version %d, which is not loaded", accountID, w.Purpose, w.Version, w.MasterVersion)
		}
		raw, err := r.wrap.Open(nil, nil, w.Wrapped, wrapAD(w))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("seal: account %d key %s v%d does not unwrap: wrong master key or altered key", accountID, w.Purpose, w.Version)
		}
		switch w.Purpose {
		case PurposeData:
			k.data[w.Version] = raw
			k.dataVersion = max(k.dataVersion, w.Version)
		case PurposeIndex:
			k.index = append(k.index, newIndexKey(w.Version, raw))
		}
	}
	if k.dataVersion == 0 || len(k.index) == 0 {
		return nil, fmt.Errorf("seal: account %d lacks a data or index key", accountID)
	}
	return k, nil
}

// wrapAD binds a wrapped key to its account, purpose and version, so that a
// wrapped key copied onto another account's row does not unwrap.
func wrapAD(w stele.WrappedKey) []byte {
	b := []byte("stele-key-v1")
	b = binary.BigEndian.AppendUint64(b, uint64(w.AccountID))
	b = append(b, w.Purpose...)
	b = binary.BigEndian.AppendUint32(b, uint32(w.Version))
	return b
}

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
// first use, and caches them. The wrapped keys live in a stele.KeyStore,
// apart from the events they open. Another process may rotate an account's keys
// (stele crypto rotate) while this one runs: a cached account is checked
// against the store again once it is older than RefreshEvery, and at once
// when a payload names a key version the cache lacks.
type Keyring struct {
	store stele.KeyStore
	now   func() time.Time

	// RefreshEvery is how long cached keys are trusted before the store is
	// asked for newer versions; default one minute.
	RefreshEvery time.Duration
	// ReloadMaster, when set, is called once when a wrapped key names a
	// master key version not loaded (another process rotated the master
	// key); the key it returns replaces this keyring's.
	ReloadMaster func() (*MasterKey, error)

	mu       sync.Mutex
	master   *MasterKey
	wrap     map[int]cipher.AEAD // by master key version
	accounts map[int64]*cachedKeys
}

type cachedKeys struct {
	keys     *AccountKeys
	loadedAt time.Time
}

// NewKeyring returns a keyring that keeps wrapped keys in store.
func NewKeyring(master *MasterKey, store stele.KeyStore) *Keyring {
	r := &Keyring{store: store, now: time.Now, RefreshEvery: time.Minute, accounts: map[int64]*cachedKeys{}}
	r.setMaster(master)
	return r
}

func (r *Keyring) setMaster(master *MasterKey) {
	wrap := map[int]cipher.AEAD{}
	for _, m := range master.Versions() {
		wrap[m.Version] = wrapAEAD(m)
	}
	r.master, r.wrap = master, wrap
}

func wrapAEAD(m *MasterKey) cipher.AEAD {
	sub, err := hkdf.Key(sha256.New, m.key[:], nil, "stele master wrap v1", 32)
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
	return wrap
}

// SetClock replaces the keyring's clock, for tests.
func (r *Keyring) SetClock(now func() time.Time) { r.now = now }

// MasterVersion returns the current master key version.
func (r *Keyring) MasterVersion() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.master.Version
}

// Account returns the keys of an account, generating and storing them the
// first time the account needs any.
func (r *Keyring) Account(ctx context.Context, accountID int64) (*AccountKeys, error) {
	r.mu.Lock()
	c, ok := r.accounts[accountID]
	r.mu.Unlock()
	if ok && r.now().Sub(c.loadedAt) < r.RefreshEvery {
		return c.keys, nil
	}
	return r.load(ctx, accountID, c)
}

// load reads the account's wrapped keys from the store. When the cached
// keys (if any) already hold every version stored, they are kept, so the
// sealing blocks they cache stay warm.
func (r *Keyring) load(ctx context.Context, accountID int64, c *cachedKeys) (*AccountKeys, error) {
	wrapped, err := r.store.WrappedKeys(ctx, accountID)
	if stele.ErrorCode(err) == stele.EGONE {
		r.Forget(accountID) // deleted since they were cached (by another process, maybe)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("load account keys: %w", err)
	}
	if len(wrapped) == 0 {
		if c != nil {
			r.Forget(accountID)
			return nil, stele.Errorf(stele.ENOTFOUND, "account %d has no keys: it was deleted", accountID)
		}
		if wrapped, err = r.create(ctx, accountID); err != nil {
			return nil, err
		}
	}
	now := r.now()
	if c != nil && c.keys.holds(wrapped) {
		r.mu.Lock()
		r.accounts[accountID] = &cachedKeys{keys: c.keys, loadedAt: now}
		r.mu.Unlock()
		return c.keys, nil
	}
	k, err := r.unwrapAll(accountID, wrapped)
	if err != nil {
		return nil, err
	}
	k.refresh = func() (*AccountKeys, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Forget(accountID)
		return r.Account(ctx, accountID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.accounts[accountID]; ok && prev != c && prev.keys.holds(wrapped) {
		return prev.keys, nil // another goroutine loaded the same keys first
	}
	r.accounts[accountID] = &cachedKeys{keys: k, loadedAt: now}
	return k, nil
}

// DestroyKeys destroys the account's keys in the key store for good and
// drops them from the cache: from then on none of its events decrypts, from
// any copy of the event store, and every use of its keys fails with
// stele.KeysDestroyed. It returns how many keys there were.
func (r *Keyring) DestroyKeys(ctx context.Context, accountID int64) (int64, error) {
	n, err := r.store.DestroyKeys(ctx, accountID)
	r.Forget(accountID)
	if err != nil {
		return n, fmt.Errorf("destroy account keys: %w", err)
	}
	return n, nil
}

// Check reports whether the master key unwraps every key of the account as
// the store holds it now, read afresh rather than from the cache: what a
// node needs to serve the account (readiness checks it). An account
// without keys yet, or whose keys were destroyed, passes.
func (r *Keyring) Check(ctx context.Context, accountID int64) error {
	wrapped, err := r.store.WrappedKeys(ctx, accountID)
	if stele.ErrorCode(err) == stele.EGONE {
		return nil // destroyed on purpose (accounts delete): nothing to unwrap
	}
	if err != nil {
		return fmt.Errorf("load account keys: %w", err)
	}
	for _, w := range wrapped {
		raw, err := r.unwrap(w)
		if err != nil {
			return err
		}
		clear(raw)
	}
	return nil
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
		keys = append(keys, r.wrapNew(accountID, purpose, 1, raw, now))
		clear(raw)
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
		raw, err := r.unwrap(w)
		if err != nil {
			return nil, err
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

// wrapNew wraps raw as a new key under the current master key.
func (r *Keyring) wrapNew(accountID int64, purpose string, version int, raw []byte, now time.Time) stele.WrappedKey {
	r.mu.Lock()
	master, wrap := r.master.Version, r.wrap[r.master.Version]
	r.mu.Unlock()
	w := stele.WrappedKey{AccountID: accountID, Purpose: purpose, Version: version, MasterVersion: master, CreatedAt: now}
	w.Wrapped = wrap.Seal(nil, nil, raw, wrapAD(w))
	return w
}

// unwrap opens a wrapped key with the master key version that wrapped it,
// reloading the master key once if that version is not loaded.
func (r *Keyring) unwrap(w stele.WrappedKey) ([]byte, error) {
	r.mu.Lock()
	wrap, ok := r.wrap[w.MasterVersion]
	r.mu.Unlock()
	if !ok && r.ReloadMaster != nil {
		if m, err := r.ReloadMaster(); err == nil {
			r.mu.Lock()
			if m.Version >= r.master.Version {
				r.setMaster(m)
			}
			wrap, ok = r.wrap[w.MasterVersion]
			r.mu.Unlock()
		}
	}
	if !ok {
		return nil, fmt.Errorf("seal: account %d key %s v%d is wrapped by master key version %d, which is not loaded", w.AccountID, w.Purpose, w.Version, w.MasterVersion)
	}
	raw, err := wrap.Open(nil, nil, w.Wrapped, wrapAD(w))
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("seal: account %d key %s v%d does not unwrap: wrong master key or altered key", w.AccountID, w.Purpose, w.Version)
	}
	return raw, nil
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

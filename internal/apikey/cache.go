package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/coalesce"
)

// maxCached bounds the keys a Cache holds; past it the cache starts afresh.
const maxCached = 10_000

// genTimeout bounds one read of the store's generation, which requests share.
const genTimeout = 5 * time.Second

// Cache authenticates keys like Authenticate, but remembers the keys it has
// read. An entry is trusted only while the store's generation is what it was
// before the entry was read, and every request reads the generation afresh
// (writes of events confirm it in their commit instead: AuthenticateForWrite),
// so a key created or revoked by any process or node counts from the next
// request on. Concurrent requests share one generation read (a
// coalesce.Fresh: each takes a read begun after it arrived), which
// is what makes the cache cheaper than a lookup: a single-event request
// otherwise spends a fifth of its CPU reading its key.
//
// Only the SHA-256 of each secret is held, as in the store, and it is
// compared in constant time on every request.
type Cache struct {
	store stele.APIKeyStore

	mu   sync.Mutex
	keys map[string]cached
	gen  *coalesce.Fresh[int64] // nil when the store has no generation
}

type cached struct {
	key *stele.APIKey
	gen int64
}

// NewCache returns a cache over store. When store has no generation, the
// cache is a plain lookup on every request.
func NewCache(store stele.APIKeyStore) *Cache {
	c := &Cache{store: store, keys: map[string]cached{}}
	if gs, ok := store.(stele.APIKeyGenerationStore); ok {
		c.gen = coalesce.New(gs.APIKeyGeneration, genTimeout)
	}
	return c
}

// Authenticate returns the principal of a key's full text. Unknown,
// malformed and revoked keys all get the same answer, so the answer tells an
// attacker nothing about which keys exist.
func (c *Cache) Authenticate(ctx context.Context, key string) (*stele.Principal, error) {
	return c.authenticate(ctx, key, false)
}

// AuthenticateForWrite is Authenticate for a request that writes events:
// a cached key is trusted without reading the generation, and the
// principal carries the generation its entry was read at, for the
// transaction that stores the events to confirm (ingest.Writer, which
// answers ingest.ErrKeyChanged when it cannot; read the key again with
// Authenticate then). That read, once per commit rather than once per
// request, keeps "a revoked key writes nothing more" while sparing each
// single-event request a round to the store.
func (c *Cache) AuthenticateForWrite(ctx context.Context, key string) (*stele.Principal, error) {
	return c.authenticate(ctx, key, true)
}

func (c *Cache) authenticate(ctx context.Context, key string, cachedOK bool) (*stele.Principal, error) {
	idPart, secretPart, ok := parse(key)
	if !ok {
		return nil, errInvalidKey
	}
	k, gen, err := c.lookup(ctx, idPart, cachedOK)
	if err != nil {
		return nil, err
	}
	p, err := check(k, secretPart)
	if err != nil {
		return nil, err
	}
	if c.gen != nil {
		p.Generation, p.HasGeneration = gen, true
	}
	return p, nil
}

// lookup returns key id and the generation it was read at. With cachedOK a
// cached entry is returned as it is; otherwise only if the generation, read
// now, is still the entry's.
func (c *Cache) lookup(ctx context.Context, id string, cachedOK bool) (*stele.APIKey, int64, error) {
	if c.gen == nil {
		k, err := find(ctx, c.store, id)
		return k, 0, err
	}
	if cachedOK {
		c.mu.Lock()
		e, ok := c.keys[id]
		c.mu.Unlock()
		if ok {
			return e.key, e.gen, nil
		}
	}
	// The generation is read first: an entry stored under it was read no
	// earlier, so it is at least as new as the generation says.
	gen, err := c.gen.Get(ctx)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	e, ok := c.keys[id]
	c.mu.Unlock()
	if ok && e.gen == gen {
		return e.key, gen, nil
	}
	k, err := find(ctx, c.store, id)
	if err != nil {
		return nil, 0, err
	}
	c.mu.Lock()
	if len(c.keys) >= maxCached {
		clear(c.keys)
	}
	if old, ok := c.keys[k.ID]; !ok || old.gen <= gen {
		c.keys[k.ID] = cached{key: k, gen: gen}
	}
	c.mu.Unlock()
	return k, gen, nil
}

// find reads key id, mapping an unknown key to the common answer.
func find(ctx context.Context, store stele.APIKeyStore, id string) (*stele.APIKey, error) {
	k, err := store.APIKey(ctx, id)
	if stele.ErrorCode(err) == stele.ENOTFOUND {
		return nil, errInvalidKey
	}
	return k, err
}

// check compares the secret with the key's hash in constant time.
func check(k *stele.APIKey, secret string) (*stele.Principal, error) {
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 || k.RevokedAt != nil {
		return nil, errInvalidKey
	}
	return &stele.Principal{AccountID: k.AccountID, Account: k.Account, KeyID: k.ID, Scopes: k.Scopes, Operator: k.Operator}, nil
}

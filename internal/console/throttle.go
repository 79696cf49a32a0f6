package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/stele-audit/stele"
)

// Sign-in throttling: after emailLimit failures for one email within
// window, or ipLimit failures from one address, sign-ins for it are refused
// for lockout. With Server.Throttle set the counts live in the store, so
// every node sharing it sees them and a restart keeps them; without it they
// live in this process.
const (
	window     = 15 * time.Minute
	lockout    = 15 * time.Minute
	emailLimit = 5
	ipLimit    = 20
	maxTracked = 100_000
)

// limiter is where the throttle keeps its counts.
type limiter interface {
	// locked returns how long key stays locked, or 0.
	locked(ctx context.Context, key string, now time.Time) (time.Duration, error)
	// fail counts a failure for key and reports whether it locked key just now.
	fail(ctx context.Context, key string, limit int, now time.Time) (bool, error)
	reset(ctx context.Context, key string) error
}

func policy(limit int) stele.LoginPolicy {
	return stele.LoginPolicy{Limit: limit, Window: window, Lockout: lockout}
}

// throttleKey is the key of an email or an address: its kind and a keyed
// pseudonym of the value (HMAC under a subkey of the master key, which every
// node shares), so that the store never holds an email or an address, and
// one holding the store cannot test guesses against it. Without a
// pseudonymiser it falls back to SHA-256 under a fixed domain prefix, which
// hides the value from reading but not from a guess.
func (s *Server) throttleKey(kind, value string) string {
	if kind == "email" {
		value = strings.ToLower(value)
	}
	if p, ok := s.Secrets.(pseudonymiser); ok {
		return kind + ":" + p.Pseudonym("login-throttle/"+kind, value)
	}
	h := sha256.Sum256([]byte("stele/login-throttle/v1\x00" + kind + "\x00" + value))
	return kind + ":" + hex.EncodeToString(h[:])
}

// pseudonymiser computes keyed pseudonyms (seal.Keyring).
type pseudonymiser interface {
	Pseudonym(purpose, value string) string
}

// storeThrottle keeps the counts in a stele.LoginThrottleStore.
type storeThrottle struct{ st stele.LoginThrottleStore }

func (t storeThrottle) locked(ctx context.Context, key string, now time.Time) (time.Duration, error) {
	until, err := t.st.LoginLockedUntil(ctx, key)
	if err != nil || !now.Before(until) {
		return 0, err
	}
	return until.Sub(now), nil
}

func (t storeThrottle) fail(ctx context.Context, key string, limit int, now time.Time) (bool, error) {
	return t.st.RecordLoginFailure(ctx, key, now, policy(limit))
}

func (t storeThrottle) reset(ctx context.Context, key string) error {
	return t.st.ClearLoginFailures(ctx, key)
}

// throttle keeps the counts in this process: the fallback for a store
// without stele.LoginThrottleStore.
type throttle struct {
	mu   sync.Mutex
	keys map[string]*stele.LoginStrikes
}

func newThrottle() *throttle { return &throttle{keys: map[string]*stele.LoginStrikes{}} }

func (t *throttle) locked(_ context.Context, key string, now time.Time) (time.Duration, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.keys[key]; ok && now.Before(s.LockedUntil) {
		return s.LockedUntil.Sub(now), nil
	}
	return 0, nil
}

func (t *throttle) fail(_ context.Context, key string, limit int, now time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.keys) >= maxTracked {
		t.prune(now)
	}
	s, ok := t.keys[key]
	if !ok {
		s = &stele.LoginStrikes{}
		t.keys[key] = s
	}
	return s.Fail(now, policy(limit)), nil
}

func (t *throttle) reset(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
	return nil
}

func (t *throttle) prune(now time.Time) {
	for k, s := range t.keys {
		if now.After(s.Expires(window)) {
			delete(t.keys, k)
		}
	}
}

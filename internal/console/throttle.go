package console

import (
	"sync"
	"time"
)

// Sign-in throttling: after emailLimit failures for one email within
// window, or ipLimit failures from one address, sign-ins for it are refused
// for lockout. The counts live in this process: several nodes each count
// their own, which still bounds guessing to a few per minute per node.
const (
	window     = 15 * time.Minute
	lockout    = 15 * time.Minute
	emailLimit = 5
	ipLimit    = 20
	maxTracked = 100_000
)

type strike struct {
	first       time.Time
	count       int
	lockedUntil time.Time
}

type throttle struct {
	mu   sync.Mutex
	keys map[string]*strike
}

func newThrottle() *throttle { return &throttle{keys: map[string]*strike{}} }

// locked returns how long key stays locked, or 0.
func (t *throttle) locked(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.keys[key]; ok && now.Before(s.lockedUntil) {
		return s.lockedUntil.Sub(now)
	}
	return 0
}

// fail counts a failure for key and reports whether it locked key just now.
func (t *throttle) fail(key string, limit int, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.keys) >= maxTracked {
		t.prune(now)
	}
	s, ok := t.keys[key]
	if !ok || now.Sub(s.first) > window {
		s = &strike{first: now}
		t.keys[key] = s
	}
	s.count++
	if s.count >= limit && !now.Before(s.lockedUntil) {
		s.lockedUntil = now.Add(lockout)
		s.count, s.first = 0, now
		return true
	}
	return false
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
}

func (t *throttle) prune(now time.Time) {
	for k, s := range t.keys {
		if now.Sub(s.first) > window && !now.Before(s.lockedUntil) {
			delete(t.keys, k)
		}
	}
}

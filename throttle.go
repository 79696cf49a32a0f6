package stele

import (
	"context"
	"time"
)

// LoginPolicy is the sign-in throttle's rule for one kind of key: Limit
// failures within Window lock the key for Lockout.
type LoginPolicy struct {
	Limit   int
	Window  time.Duration
	Lockout time.Duration
}

// LoginStrikes is the throttle's state of one key: the failures counted
// since First, and the end of its lockout (zero if never locked).
type LoginStrikes struct {
	First       time.Time
	Count       int
	LockedUntil time.Time
}

// Fail counts one failure at now under p and reports whether it locked the
// key just now. A count older than p.Window starts again; reaching p.Limit
// while not locked locks the key until now+p.Lockout and starts the count
// again. Both stores and the console's in-memory fallback apply this one
// rule, so the behaviour is the same wherever the state lives.
func (s *LoginStrikes) Fail(now time.Time, p LoginPolicy) bool {
	if s.First.IsZero() || now.Sub(s.First) > p.Window {
		s.First, s.Count = now, 0
	}
	s.Count++
	if s.Count >= p.Limit && !now.Before(s.LockedUntil) {
		s.LockedUntil = now.Add(p.Lockout)
		s.Count, s.First = 0, now
		return true
	}
	return false
}

// Expires is when the state can be forgotten: its count has left the
// window and its lockout has ended.
func (s *LoginStrikes) Expires(window time.Duration) time.Time {
	end := s.First.Add(window)
	if s.LockedUntil.After(end) {
		end = s.LockedUntil
	}
	return end
}

// LoginThrottleStore keeps the sign-in throttle's state where every node
// sharing the store sees it, and across restarts. Keys are opaque strings
// the console builds from hashes; a store never sees an email or an
// address in clear.
type LoginThrottleStore interface {
	// LoginLockedUntil returns when key's lockout ends: the zero time, or a
	// time in the past, when it is not locked.
	LoginLockedUntil(ctx context.Context, key string) (time.Time, error)
	// RecordLoginFailure applies LoginStrikes.Fail to key's state at at,
	// atomically with respect to every other node, and reports whether it
	// locked key just now. It also deletes a bounded number of states that
	// expired before at.
	RecordLoginFailure(ctx context.Context, key string, at time.Time, p LoginPolicy) (locked bool, err error)
	// ClearLoginFailures forgets key's state (after a successful sign-in).
	ClearLoginFailures(ctx context.Context, key string) error
}

// LoginThrottlePruneBatch bounds the expired states one RecordLoginFailure
// deletes.
const LoginThrottlePruneBatch = 100

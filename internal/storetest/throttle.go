package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

var loginPolicy = stele.LoginPolicy{Limit: 5, Window: 15 * time.Minute, Lockout: 15 * time.Minute}

func runLoginThrottle(t *testing.T, open func(t *testing.T) stele.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s stele.LoginThrottleStore)
	}{
		{"LoginFailuresLockOnceAtTheLimit", testLoginLock},
		{"LoginFailuresOutsideTheWindowStartAgain", testLoginWindow},
		{"LoginFailuresClearAndKeysAreApart", testLoginClear},
		{"LoginThrottlePrunesExpiredRows", testLoginPrune},
		{"ConcurrentLoginFailuresLockOnce", testLoginConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var loginT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fail(t *testing.T, s stele.LoginThrottleStore, key string, at time.Time) bool {
	t.Helper()
	locked, err := s.RecordLoginFailure(ctx(t), key, at, loginPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return locked
}

func lockedUntil(t *testing.T, s stele.LoginThrottleStore, key string) time.Time {
	t.Helper()
	until, err := s.LoginLockedUntil(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return until
}

func testLoginLock(t *testing.T, s stele.LoginThrottleStore) {
	if u := lockedUntil(t, s, "email:k"); !u.IsZero() {
		t.Fatalf("unknown key locked until %v", u)
	}
	for i := range 4 {
		if fail(t, s, "email:k", loginT0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("failure %d locked", i+1)
		}
	}
	if u := lockedUntil(t, s, "email:k"); !u.IsZero() {
		t.Fatalf("locked until %v after 4 failures", u)
	}
	at := loginT0.Add(10 * time.Second)
	if !fail(t, s, "email:k", at) {
		t.Fatal("5th failure did not lock")
	}
	if u := lockedUntil(t, s, "email:k"); !u.Equal(at.Add(loginPolicy.Lockout)) {
		t.Fatalf("locked until %v, want %v", u, at.Add(loginPolicy.Lockout))
	}
	// Failures while locked are counted but do not lock again.
	for i := range 6 {
		if fail(t, s, "email:k", at.Add(time.Duration(i+1)*time.Minute)) {
			t.Fatalf("failure %d while locked locked again", i+1)
		}
	}
	if u := lockedUntil(t, s, "email:k"); !u.Equal(at.Add(loginPolicy.Lockout)) {
		t.Fatalf("lockout moved to %v", u)
	}
}

func testLoginWindow(t *testing.T, s stele.LoginThrottleStore) {
	for i := range 4 {
		fail(t, s, "ip:k", loginT0.Add(time.Duration(i)*time.Minute))
	}
	// 16 minutes after the first failure the count starts again.
	later := loginT0.Add(16 * time.Minute)
	for i := range 4 {
		if fail(t, s, "ip:k", later.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("failure %d of a new window locked", i+1)
		}
	}
	if !fail(t, s, "ip:k", later.Add(time.Minute)) {
		t.Fatal("5th failure of the new window did not lock")
	}
}

func testLoginClear(t *testing.T, s stele.LoginThrottleStore) {
	for i := range 4 {
		fail(t, s, "email:a", loginT0.Add(time.Duration(i)*time.Second))
		fail(t, s, "email:b", loginT0.Add(time.Duration(i)*time.Second))
	}
	if err := s.ClearLoginFailures(ctx(t), "email:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearLoginFailures(ctx(t), "email:never"); err != nil {
		t.Fatalf("clear an unknown key: %v", err)
	}
	if fail(t, s, "email:a", loginT0.Add(time.Minute)) {
		t.Fatal("failure after a clear locked")
	}
	if !fail(t, s, "email:b", loginT0.Add(time.Minute)) {
		t.Fatal("another key's clear reset b")
	}
	if !lockedUntil(t, s, "email:a").IsZero() {
		t.Fatal("a locked by b")
	}
}

func testLoginPrune(t *testing.T, s stele.LoginThrottleStore) {
	for i := range 5 {
		fail(t, s, "email:old", loginT0.Add(time.Duration(i)*time.Second))
	}
	if lockedUntil(t, s, "email:old").IsZero() {
		t.Fatal("not locked")
	}
	// A write after the lockout and the window have ended deletes the row:
	// its lockout end is no longer there to read.
	fail(t, s, "email:new", loginT0.Add(31*time.Minute))
	if u := lockedUntil(t, s, "email:old"); !u.IsZero() {
		t.Fatalf("expired row kept (locked until %v)", u)
	}
	// A live row is kept.
	fail(t, s, "email:other", loginT0.Add(32*time.Minute))
	if fail(t, s, "email:new", loginT0.Add(33*time.Minute)) {
		t.Fatal("2 failures locked")
	}
	for i := range 3 {
		fail(t, s, "email:new", loginT0.Add(34*time.Minute+time.Duration(i)*time.Second))
	}
	if lockedUntil(t, s, "email:new").IsZero() {
		t.Fatal("live row was pruned: 5 failures in the window did not lock")
	}
}

func testLoginConcurrent(t *testing.T, s stele.LoginThrottleStore) {
	var (
		wg    sync.WaitGroup
		locks atomic.Int32
	)
	for i := range 20 {
		wg.Go(func() {
			locked, err := s.RecordLoginFailure(ctx(t), "ip:busy", loginT0.Add(time.Duration(i)*time.Millisecond), loginPolicy)
			if err != nil {
				t.Error(err)
			}
			if locked {
				locks.Add(1)
			}
		})
	}
	wg.Wait()
	if n := locks.Load(); n != 1 {
		t.Fatalf("%d of 20 concurrent failures locked, want exactly 1", n)
	}
	if lockedUntil(t, s, "ip:busy").IsZero() {
		t.Fatal("not locked")
	}
}

package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// RunKeyStore runs the key store's part of the contract; open returns a
// new, empty key store for each subtest and arranges its closing.
func RunKeyStore(t *testing.T, open func(t *testing.T) stele.KeyStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, k stele.KeyStore)
	}{
		{"WrappedKeysAddListConflict", testWrappedKeys},
		{"RewrapKeys", testRewrapKeys},
		{"DestroyKeysForGood", testDestroyKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testWrappedKeys(t *testing.T, s stele.KeyStore) {
	const a, b = 7, 9
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	if got, err := s.WrappedKeys(ctx(t), a); err != nil || len(got) != 0 {
		t.Fatalf("keys of an account without any = %v, %v; want none and no error", got, err)
	}
	keys := []stele.WrappedKey{
		{AccountID: a, Purpose: "index", Version: 1, MasterVersion: 1, Wrapped: []byte("wrapped-index-1"), CreatedAt: now},
		{AccountID: a, Purpose: "data", Version: 1, MasterVersion: 1, Wrapped: []byte("wrapped-data-1"), CreatedAt: now},
		{AccountID: a, Purpose: "data", Version: 2, MasterVersion: 3, Wrapped: []byte("wrapped-data-2"), CreatedAt: now.Add(time.Minute)},
	}
	if err := s.AddWrappedKeys(ctx(t), keys); err != nil {
		t.Fatal(err)
	}
	if err := s.AddWrappedKeys(ctx(t), []stele.WrappedKey{{AccountID: b, Purpose: "data", Version: 1, MasterVersion: 1, Wrapped: []byte("b"), CreatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.WrappedKeys(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("WrappedKeys = %d keys, want 3", len(got))
	}
	for _, w := range keys {
		i := slices.IndexFunc(got, func(g stele.WrappedKey) bool { return g.Purpose == w.Purpose && g.Version == w.Version })
		if i < 0 {
			t.Fatalf("key %s v%d missing", w.Purpose, w.Version)
		}
		g := got[i]
		if g.AccountID != w.AccountID || g.MasterVersion != w.MasterVersion || string(g.Wrapped) != string(w.Wrapped) || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("key = %+v, want %+v", g, w)
		}
	}
	// A batch with one existing key stores nothing.
	err = s.AddWrappedKeys(ctx(t), []stele.WrappedKey{
		{AccountID: a, Purpose: "index", Version: 2, MasterVersion: 1, Wrapped: []byte("new"), CreatedAt: now},
		{AccountID: a, Purpose: "data", Version: 2, MasterVersion: 1, Wrapped: []byte("dup"), CreatedAt: now},
	})
	wantCode(t, err, stele.ECONFLICT)
	got, err = s.WrappedKeys(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("after a conflicting batch: %d keys, want the 3 before it", len(got))
	}
	ids, err := s.KeyAccounts(ctx(t))
	if err != nil || !slices.Equal(ids, []int64{a, b}) {
		t.Fatalf("KeyAccounts = %v, %v; want [%d %d]", ids, err, a, b)
	}
}

func testRewrapKeys(t *testing.T, s stele.KeyStore) {
	const a = 3
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	if err := s.AddWrappedKeys(ctx(t), []stele.WrappedKey{
		{AccountID: a, Purpose: "data", Version: 1, MasterVersion: 1, Wrapped: []byte("d1"), CreatedAt: now},
		{AccountID: a, Purpose: "data", Version: 2, MasterVersion: 1, Wrapped: []byte("d2"), CreatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.RewrapKeys(ctx(t), []stele.WrappedKey{{AccountID: a, Purpose: "data", Version: 1, MasterVersion: 2, Wrapped: []byte("d1-under-m2")}}); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.WrappedKeys(ctx(t), a)
	if len(keys) != 2 || keys[0].MasterVersion != 2 || string(keys[0].Wrapped) != "d1-under-m2" || keys[1].MasterVersion != 1 || !keys[0].CreatedAt.Equal(now) {
		t.Fatalf("keys after rewrap %+v", keys)
	}
	wantCode(t, s.RewrapKeys(ctx(t), []stele.WrappedKey{{AccountID: a, Purpose: "data", Version: 9, MasterVersion: 2, Wrapped: []byte("x")}}), stele.ENOTFOUND)
}

// testDestroyKeys: destroyed keys are gone, every later use of the account
// says so (EGONE), and no key is ever added to it again; the other
// accounts keep theirs.
func testDestroyKeys(t *testing.T, s stele.KeyStore) {
	const a, b = 4, 5
	now := time.Now().UTC().Truncate(stele.TimeUnit)
	for _, id := range []int64{a, b} {
		if err := s.AddWrappedKeys(ctx(t), []stele.WrappedKey{
			{AccountID: id, Purpose: "data", Version: 1, MasterVersion: 1, Wrapped: []byte("k"), CreatedAt: now},
			{AccountID: id, Purpose: "index", Version: 1, MasterVersion: 1, Wrapped: []byte("i"), CreatedAt: now},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DestroyKeys(ctx(t), a); err != nil || n != 2 {
		t.Fatalf("DestroyKeys = %d, %v; want 2", n, err)
	}
	_, err := s.WrappedKeys(ctx(t), a)
	wantCode(t, err, stele.EGONE)
	wantCode(t, s.AddWrappedKeys(ctx(t), []stele.WrappedKey{{AccountID: a, Purpose: "data", Version: 1, MasterVersion: 1, Wrapped: []byte("new"), CreatedAt: now}}), stele.EGONE)
	wantCode(t, s.RewrapKeys(ctx(t), []stele.WrappedKey{{AccountID: a, Purpose: "data", Version: 1, MasterVersion: 2, Wrapped: []byte("x")}}), stele.EGONE)
	if n, err := s.DestroyKeys(ctx(t), a); err != nil || n != 0 {
		t.Fatalf("DestroyKeys again = %d, %v; want 0, no error", n, err)
	}
	if keys, err := s.WrappedKeys(ctx(t), b); err != nil || len(keys) != 2 {
		t.Fatalf("the other account's keys = %v, %v", keys, err)
	}
	if ids, err := s.KeyAccounts(ctx(t)); err != nil || !slices.Equal(ids, []int64{b}) {
		t.Fatalf("KeyAccounts = %v, %v; want [%d]", ids, err, b)
	}
	// An account that never had keys can be destroyed too (its deletion
	// cut short before), and stays so.
	if n, err := s.DestroyKeys(ctx(t), 99); err != nil || n != 0 {
		t.Fatalf("DestroyKeys of an account without keys = %d, %v", n, err)
	}
	_, err = s.WrappedKeys(ctx(t), 99)
	wantCode(t, err, stele.EGONE)
}

// testLegacyKeysDropped: a new event store keeps no key (the key store
// does); dropping the legacy keys is idempotent.
func testLegacyKeysDropped(t *testing.T, s stele.Store) {
	keys, err := s.LegacyWrappedKeys(ctx(t))
	if err != nil || len(keys) != 0 {
		t.Fatalf("LegacyWrappedKeys of a new store = %v, %v; want none", keys, err)
	}
	for range 2 {
		if err := s.DropLegacyKeys(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if keys, err := s.LegacyWrappedKeys(ctx(t)); err != nil || len(keys) != 0 {
		t.Fatalf("LegacyWrappedKeys once dropped = %v, %v; want none", keys, err)
	}
	// The store works without the table: an account is deleted whole.
	a := mustAccount(t, s, "acme")
	if err := s.DeleteAccount(ctx(t), a.ID); err != nil {
		t.Fatal(err)
	}
}

// testAccountIDsNeverReused: the key store remembers deleted accounts by
// id, so a new account never gets the id of a deleted one.
func testAccountIDsNeverReused(t *testing.T, s stele.Store) {
	a := mustAccount(t, s, "acme")
	b := mustAccount(t, s, "beta")
	if err := s.DeleteAccount(ctx(t), b.ID); err != nil {
		t.Fatal(err)
	}
	c := mustAccount(t, s, "gamma")
	if c.ID == a.ID || c.ID == b.ID || c.ID < b.ID {
		t.Fatalf("new account id %d after deleting %d (kept %d): ids must never be given twice", c.ID, b.ID, a.ID)
	}
}

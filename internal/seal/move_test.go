package seal_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// legacyStore is an event store as a release before the key store left
// it: the wrapped keys in its own account_keys table.
func legacyStore(t *testing.T, keys []stele.WrappedKey) *sqlite.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stele.db")
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open(sqlite.DriverName, "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, w := range keys {
		if _, err := raw.Exec(`INSERT INTO accounts (id, name, type, created_at) VALUES (?, ?, 'team', 0) ON CONFLICT DO NOTHING`,
			w.AccountID, strings.Repeat("a", int(w.AccountID))); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			w.AccountID, w.Purpose, w.Version, w.MasterVersion, w.Wrapped, w.CreatedAt.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// wrappedFor makes an account's keys under m in a scratch key store, as
// the old release's keyring did, and returns them.
func wrappedFor(t *testing.T, m *seal.MasterKey, accountID int64) []stele.WrappedKey {
	t.Helper()
	scratch := openDB(t).KeyDB
	if _, err := seal.NewKeyring(m, scratch).Account(context.Background(), accountID); err != nil {
		t.Fatal(err)
	}
	keys, err := scratch.WrappedKeys(context.Background(), accountID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("%v %v", keys, err)
	}
	return keys
}

func TestMoveLegacyKeysChecksBeforeItRemoves(t *testing.T) {
	ctx := t.Context()
	m := master(t, 1, 1)
	a, b, c := wrappedFor(t, m, 2), wrappedFor(t, m, 3), wrappedFor(t, m, 4)

	t.Run("a key that does not unwrap: nothing moved, nothing removed", func(t *testing.T) {
		bad := append([]stele.WrappedKey{}, a...)
		bad[0].Wrapped = append([]byte{}, bad[0].Wrapped...)
		bad[0].Wrapped[5] ^= 1
		events := legacyStore(t, append(bad, b...))
		keys := openDB(t).KeyDB
		if _, err := seal.NewKeyring(m, keys).MoveLegacyKeys(ctx, events); err == nil || !strings.Contains(err.Error(), "nothing moved") {
			t.Fatalf("MoveLegacyKeys = %v; want a refusal", err)
		}
		if ids, _ := keys.KeyAccounts(ctx); len(ids) != 0 {
			t.Fatalf("keys moved: %v", ids)
		}
		if left, _ := events.LegacyWrappedKeys(ctx); len(left) != 4 {
			t.Fatalf("%d legacy keys left, want all 4", len(left))
		}
	})

	t.Run("cut short before, destroyed since, moved once", func(t *testing.T) {
		events := legacyStore(t, append(append(append([]stele.WrappedKey{}, a...), b...), c...))
		keys := openDB(t).KeyDB
		// A run cut short moved one of a's keys; b was deleted since
		// (its keys destroyed); c is untouched.
		if err := keys.AddWrappedKeys(ctx, a[:1]); err != nil {
			t.Fatal(err)
		}
		if _, err := keys.DestroyKeys(ctx, 3); err != nil {
			t.Fatal(err)
		}
		r := seal.NewKeyring(m, keys)
		n, err := r.MoveLegacyKeys(ctx, events)
		if err != nil || n != 3 {
			t.Fatalf("MoveLegacyKeys = %d, %v; want 3 (a's second key, c's two)", n, err)
		}
		if _, err := keys.WrappedKeys(ctx, 3); stele.ErrorCode(err) != stele.EGONE {
			t.Fatalf("b's destroyed keys came back: %v", err)
		}
		for _, id := range []int64{2, 4} {
			if _, err := r.Account(ctx, id); err != nil {
				t.Fatalf("account %d: %v", id, err)
			}
		}
		if left, err := events.LegacyWrappedKeys(ctx); err != nil || len(left) != 0 {
			t.Fatalf("legacy keys left: %d, %v", len(left), err)
		}
		if n, err := r.MoveLegacyKeys(ctx, events); err != nil || n != 0 {
			t.Fatalf("a second move = %d, %v", n, err)
		}
	})

	t.Run("a different key already in the key store: nothing removed", func(t *testing.T) {
		events := legacyStore(t, a)
		keys := openDB(t).KeyDB
		other := wrappedFor(t, m, 2) // account 2's keys made afresh elsewhere
		if err := keys.AddWrappedKeys(ctx, other); err != nil {
			t.Fatal(err)
		}
		if _, err := seal.NewKeyring(m, keys).MoveLegacyKeys(ctx, events); stele.ErrorCode(err) != stele.ECONFLICT {
			t.Fatalf("MoveLegacyKeys = %v; want ECONFLICT", err)
		}
		if left, _ := events.LegacyWrappedKeys(ctx); len(left) != 2 {
			t.Fatalf("%d legacy keys left, want both", len(left))
		}
	})
}

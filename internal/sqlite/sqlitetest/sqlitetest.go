// Package sqlitetest gives tests a key store of their own: a real SQLite
// key file (sqlite.KeyDB) in the test's temporary directory.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele/internal/sqlite"
)

// Keys opens a new, empty key store for the test and closes it when the
// test ends.
func Keys(t testing.TB) *sqlite.KeyDB {
	t.Helper()
	k, err := sqlite.OpenKeys(context.Background(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatalf("open key store: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// KeysAt opens the key store at path for the test (creating it when new)
// and closes it when the test ends: for tests that reopen one store and
// must find its keys again.
func KeysAt(t testing.TB, path string) *sqlite.KeyDB {
	t.Helper()
	k, err := sqlite.OpenKeys(context.Background(), path)
	if err != nil {
		t.Fatalf("open key store: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

package seal_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

// masterVersions returns the master key version of every wrapped key.
func masterVersions(t *testing.T, db *testStore, accts ...*stele.Account) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, a := range accts {
		keys, err := db.WrappedKeys(t.Context(), a.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			out[k.MasterVersion]++
		}
	}
	return out
}

// keyFile loads the master key from a data directory as serve does,
// generating the file on first use.
func keyFile(t *testing.T, dir string) *seal.MasterKey {
	t.Helper()
	m, err := seal.LoadMasterKey(dir, func(string) string { return "" }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRotateMasterRewrapsEveryKeyThenRetiresOlderVersions(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, seal.MasterKeyFile)
	db := openDB(t)
	acme, beta := account(t, db, "acme"), account(t, db, "beta")
	r := seal.NewKeyring(keyFile(t, dir), db)
	ka, _ := r.Account(ctx, acme.ID)
	v, sealed := ka.Seal(nil, 7, []byte("payload"), nil)
	r.Account(ctx, beta.ID)

	rot, err := r.RotateMaster(ctx, db, path, false)
	if err != nil || rot.Version != 2 || rot.Rewrapped != 4 || rot.Retired {
		t.Fatalf("rotation: %+v %v", rot, err)
	}
	if got := masterVersions(t, db, acme, beta); got[2] != 4 || len(got) != 1 {
		t.Fatalf("keys by master version after the rotation: %v", got)
	}
	if m := keyFile(t, dir); m.Version != 2 || len(m.Versions()) != 2 {
		t.Fatalf("key file after the rotation: v%d with %d versions", m.Version, len(m.Versions()))
	}
	// An account made after it gets its keys under the new version.
	gamma := account(t, db, "gamma")
	if _, err := r.Account(ctx, gamma.ID); err != nil {
		t.Fatal(err)
	}

	rot, err = r.RotateMaster(ctx, db, path, true)
	if err != nil || rot.Version != 3 || rot.Rewrapped != 6 || !rot.Retired {
		t.Fatalf("rotation with retirement: %+v %v", rot, err)
	}
	m := keyFile(t, dir)
	if m.Version != 3 || len(m.Versions()) != 1 {
		t.Fatalf("key file after retirement: v%d with %d versions", m.Version, len(m.Versions()))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	// The retired file alone opens what was sealed before any rotation.
	k, err := seal.NewKeyring(m, db).Account(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(v, 7, sealed, nil); err != nil || string(got) != "payload" {
		t.Fatalf("open after retirement: %q %v", got, err)
	}
}

func TestRotateMasterFromTheEnvironmentRewrapsUnderTheNewestVersion(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	acme := account(t, db, "acme")
	if _, err := seal.NewKeyring(master(t, 1, 1), db).Account(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	both, err := master(t, 2, 2).WithOlder(master(t, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := seal.NewKeyring(both, db).RotateMaster(ctx, db, "", true)
	if err != nil || rot.Version != 2 || rot.Rewrapped != 2 || rot.Retired {
		t.Fatalf("%+v %v", rot, err)
	}
	if got := masterVersions(t, db, acme); got[2] != 2 || len(got) != 1 {
		t.Fatalf("keys by master version: %v", got)
	}
}

// staleServer stands for a server started before the rotation, still
// wrapping under version 1: it makes an account between the rotation's
// first pass and the check before retiring.
type staleServer struct {
	*sqlite.KeyDB
	db     *testStore
	t      *testing.T
	calls  int
	before *seal.Keyring
}

func (s *staleServer) KeyAccounts(ctx context.Context) ([]int64, error) {
	if s.calls++; s.calls == 2 {
		late := account(s.t, s.db, "late")
		if _, err := s.before.Account(ctx, late.ID); err != nil {
			return nil, err
		}
	}
	return s.KeyDB.KeyAccounts(ctx)
}

func TestRotateMasterKeepsOlderVersionsWhileAServerStillUsesThem(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, seal.MasterKeyFile)
	db := openDB(t)
	acme := account(t, db, "acme")
	m1 := keyFile(t, dir)
	r := seal.NewKeyring(m1, db)
	if _, err := r.Account(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	store := &staleServer{KeyDB: db.KeyDB, db: db, t: t, before: seal.NewKeyring(m1, db)}
	rot, err := r.RotateMaster(ctx, store, path, true)
	if stele.ErrorCode(err) != stele.ECONFLICT || !strings.Contains(err.Error(), "a server still uses it") || rot.Retired || rot.Version != 2 {
		t.Fatalf("%+v %v", rot, err)
	}
	// Nothing was lost: the file keeps version 1 beside 2, and every key,
	// the late account's too, is under 2 now.
	if m := keyFile(t, dir); m.Version != 2 || len(m.Versions()) != 2 {
		t.Fatalf("key file: v%d with %d versions", m.Version, len(m.Versions()))
	}
	if got := masterVersions(t, db, acme); got[2] != 2 || len(got) != 1 {
		t.Fatalf("keys by master version: %v", got)
	}
}

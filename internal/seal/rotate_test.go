package seal_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
)

func master(t *testing.T, version int, b byte) *seal.MasterKey {
	t.Helper()
	m, err := seal.NewMasterKey(version, bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testStore is an event store with its key store beside it, as the
// binary opens them.
type testStore struct {
	*sqlite.DB
	*sqlite.KeyDB
}

func openDB(t *testing.T) *testStore {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := sqlite.OpenKeys(t.Context(), filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { keys.Close() })
	return &testStore{DB: db, KeyDB: keys}
}

func account(t *testing.T, db *testStore, name string) *stele.Account {
	t.Helper()
	a := &stele.Account{Name: name, Type: "team"}
	if err := db.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMasterKeyFileHoldsVersionsAndStaysCompatible(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, seal.MasterKeyFile)
	raw := bytes.Repeat([]byte{5}, 32)
	// The single-key file of earlier releases is version 1.
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m1, err := seal.LoadMasterKey(dir, env, logger)
	if err != nil || m1.Version != 1 || len(m1.Versions()) != 1 {
		t.Fatalf("old file: %v %v", m1, err)
	}
	m2, err := seal.AddMasterKeyVersion(path)
	if err != nil || m2.Version != 2 || len(m2.Versions()) != 2 {
		t.Fatalf("add version: %v %v", m2, err)
	}
	text, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(text), "v1:"+base64.StdEncoding.EncodeToString(raw)+"\nv2:") {
		t.Fatalf("file after rotation:\n%s", text)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode())
	}
	back, err := seal.LoadMasterKey(dir, env, logger)
	if err != nil || back.Version != 2 || seal.FormatMasterKeys(back) != string(text) {
		t.Fatalf("reload: %v %v", back, err)
	}
	// The environment takes the same entries, separated by commas.
	fromEnv, err := seal.LoadMasterKey(dir, func(k string) string {
		if k == "STELE_MASTER_KEY" {
			return strings.ReplaceAll(strings.TrimSpace(string(text)), "\n", ",")
		}
		return ""
	}, logger)
	if err != nil || fromEnv.Version != 2 || seal.FormatMasterKeys(fromEnv) != string(text) {
		t.Fatalf("env: %v %v", fromEnv, err)
	}
	for _, bad := range []string{"v0:" + base64.StdEncoding.EncodeToString(raw), "vx:abc", base64.StdEncoding.EncodeToString(raw) + "," + base64.StdEncoding.EncodeToString(raw)} {
		if _, err := seal.LoadMasterKey(dir, func(k string) string {
			if k == "STELE_MASTER_KEY" {
				return bad
			}
			return ""
		}, logger); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestRotateAddsVersionsOldStillOpensAndQueriesSeeAll(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	a := account(t, db, "acme")
	r := seal.NewKeyring(master(t, 1, 1), db)
	k1, err := r.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	v1, ct := k1.Seal(nil, 3, []byte("before"), []byte("ad"))
	tok1 := k1.Token(stele.FieldActor, "u_1")
	idem1 := seal.IdempotencyToken(k1, "key-1")
	rot, err := r.Rotate(ctx, a.ID)
	if err != nil || rot.DataVersion != 2 || rot.IndexVersion != 2 {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	k2, err := r.Account(ctx, a.ID)
	if err != nil || k2.DataVersion() != 2 || k2.IndexVersion() != 2 {
		t.Fatalf("after rotation: %v", err)
	}
	if got, err := k2.Open(v1, 3, ct, []byte("ad")); err != nil || string(got) != "before" {
		t.Fatalf("old payload after rotation: %q %v", got, err)
	}
	if v, _ := k2.Seal(nil, 4, []byte("after"), nil); v != 2 {
		t.Fatalf("new payload sealed with version %d", v)
	}
	toks := seal.QueryTokens(k2, stele.FieldActor, "u_1")
	if len(toks) != 2 || toks[0] != tok1 || toks[1] != k2.Token(stele.FieldActor, "u_1") || toks[0] == toks[1] {
		t.Fatalf("query tokens %v; old %d", toks, tok1)
	}
	if seal.IdempotencyToken(k2, "key-1") != idem1 {
		t.Fatal("an idempotency key's token changed with the rotation: replays would be stored again")
	}
}

func TestRotationInAnotherProcessIsSeen(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	a := account(t, db, "acme")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	server := seal.NewKeyring(master(t, 1, 1), db)
	server.SetClock(func() time.Time { return now })
	ks, err := server.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	cli := seal.NewKeyring(master(t, 1, 1), db) // stele crypto rotate, another process
	if _, err := cli.Rotate(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	// New writes move to the new version once the cache is refreshed.
	if k, _ := server.Account(ctx, a.ID); k.DataVersion() != 1 {
		t.Fatal("refreshed before RefreshEvery")
	}
	now = now.Add(server.RefreshEvery)
	if k, _ := server.Account(ctx, a.ID); k.DataVersion() != 2 {
		t.Fatalf("server still seals with version %d after RefreshEvery", k.DataVersion())
	}
	// A payload under a version newer than the server's keys opens at once:
	// the unknown version makes the server look again.
	if _, err := cli.Rotate(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	kc, _ := cli.Account(ctx, a.ID)
	v, ct := kc.Seal(nil, 9, []byte("sealed elsewhere"), nil)
	if got, err := ks.Open(v, 9, ct, nil); v != 3 || err != nil || string(got) != "sealed elsewhere" {
		t.Fatalf("open version %d: %q %v", v, got, err)
	}
}

func TestRewrapMovesEveryKeyToTheNewMasterVersion(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	a, b := account(t, db, "acme"), account(t, db, "beta")
	old := seal.NewKeyring(master(t, 1, 1), db)
	ka, _ := old.Account(ctx, a.ID)
	v, ct := ka.Seal(nil, 1, []byte("payload"), nil)
	old.Account(ctx, b.ID)
	old.Rotate(ctx, b.ID)

	m2, err := master(t, 2, 2).WithOlder(master(t, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := seal.NewKeyring(m2, db)
	n, err := r.Rewrap(ctx, db, []int64{a.ID, b.ID})
	if err != nil || n != 6 {
		t.Fatalf("rewrapped %d keys, %v; want 6", n, err)
	}
	for _, id := range []int64{a.ID, b.ID} {
		keys, _ := db.WrappedKeys(ctx, id)
		for _, k := range keys {
			if k.MasterVersion != 2 {
				t.Fatalf("key %+v still under master 1", k)
			}
		}
	}
	// Only the new master version is needed now.
	only2 := seal.NewKeyring(master(t, 2, 2), db)
	k, err := only2.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(v, 1, ct, nil); err != nil || string(got) != "payload" {
		t.Fatalf("open after rewrap: %q %v", got, err)
	}
	if _, err := seal.NewKeyring(master(t, 1, 1), db).Account(ctx, a.ID); err == nil {
		t.Fatal("the retired master key still unwraps")
	}
	// A process started before the rotation, with only master 1, reloads.
	stale := seal.NewKeyring(master(t, 1, 1), db)
	stale.ReloadMaster = func() (*seal.MasterKey, error) { return m2, nil }
	if _, err := stale.Account(ctx, a.ID); err != nil {
		t.Fatalf("reload master: %v", err)
	}
}

func TestReencryptMovesRowsToCurrentVersionKeepingLeaves(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	a := account(t, db, "acme")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := datapath.Start(db.DB, db.KeyDB, master(t, 1, 1), logger, ingest.WriterConfig{})
	t.Cleanup(c.Stop)
	r, svc := c.Keyring, c.Ingest
	send := func(n int) {
		for i := range n {
			if _, err := svc.Record(ctx, stele.Event{Account: "acme", Action: "user.login", Actor: &stele.Ref{ID: "u_7", Email: "ada@acme.io"},
				Description: strings.Repeat("x", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(5)
	if _, err := r.Rotate(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	send(3)
	before, _ := db.Rows(ctx, stele.RowQuery{AccountID: a.ID, Limit: 100})
	res, err := r.Reencrypt(ctx, db, a.ID, 2, 0)
	if err != nil || res.Rows != 5 || res.Version != 2 {
		t.Fatalf("reencrypt %+v %v", res, err)
	}
	after, _ := db.Rows(ctx, stele.RowQuery{AccountID: a.ID, Limit: 100})
	k, _ := r.Account(ctx, a.ID)
	for i, row := range after {
		if row.KeyVersion != 2 || row.LeafHash != before[i].LeafHash || row.Seq != before[i].Seq {
			t.Fatalf("row %d: version %d, leaf changed %v", row.Seq, row.KeyVersion, row.LeafHash != before[i].LeafHash)
		}
		plain, err := k.Open(row.KeyVersion, row.Seq, row.Payload, record.AppendAD(nil, &row))
		old, err2 := k.Open(before[i].KeyVersion, row.Seq, before[i].Payload, record.AppendAD(nil, &before[i]))
		if err != nil || err2 != nil || !bytes.Equal(plain, old) {
			t.Fatalf("row %d: re-encrypted payload differs: %v %v", row.Seq, err, err2)
		}
	}
	// Queries by actor still find rows written under both index versions.
	toks := seal.QueryTokens(k, stele.FieldActor, "ada@acme.io")
	found, err := db.Rows(ctx, stele.RowQuery{AccountID: a.ID, Limit: 100, Filters: []stele.RowFilter{{Field: stele.FieldActor, Tokens: toks}}})
	if err != nil || len(found) != 8 {
		t.Fatalf("actor query found %d of 8 rows: %v", len(found), err)
	}
	if res, err := r.Reencrypt(ctx, db, a.ID, 2, 0); err != nil || res.Rows != 0 {
		t.Fatalf("second reencrypt %+v %v", res, err)
	}
}

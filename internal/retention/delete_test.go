package retention_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
}

// TestDeletedAccountDoesNotDecryptEvenFromAnEarlierCopy: the keys live in
// the key store, apart from the events; deleting the account destroys
// them there, so a copy of the event store from before the deletion,
// with the key store and master key as they are now, decrypts nothing of
// the account, and says why.
func TestDeletedAccountDoesNotDecryptEvenFromAnEarlierCopy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.ingestAt(t, t0, t0, t0)
	acme, _ := e.db.AccountByName(ctx, "acme")
	wrapped, err := e.keys.WrappedKeys(ctx, acme.ID)
	if err != nil || len(wrapped) != 2 {
		t.Fatalf("keys %v %v", wrapped, err)
	}
	// The event store holds no key at all.
	for _, sfx := range []string{"", "-wal"} {
		b, _ := os.ReadFile(e.dbPath + sfx)
		for _, w := range wrapped {
			if bytes.Contains(b, w.Wrapped) {
				t.Fatalf("wrapped %s key in the event store's %s", w.Purpose, filepath.Base(e.dbPath+sfx))
			}
		}
	}
	// Copies taken before the deletion: the event store, and the key store.
	backup := filepath.Join(t.TempDir(), "backup.db")
	keysBackup := filepath.Join(t.TempDir(), "keys-backup.db")
	for _, sfx := range []string{"", "-wal"} {
		copyFile(t, e.dbPath+sfx, backup+sfx)
		copyFile(t, e.keysAt+sfx, keysBackup+sfx)
	}

	d, err := retention.DeleteAccount(ctx, e.db, e.db, e.keyring, &audit.Recorder{Sink: e.svc}, "acme", audit.CLI(), 2)
	if err != nil || d.Keys != 2 || d.Events != 3 {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if _, err := e.db.AccountByName(ctx, "acme"); stele.ErrorCode(err) != stele.ENOTFOUND {
		t.Fatalf("account still there: %v", err)
	}
	if n, _ := e.db.CountRows(ctx, acme.ID); n != 0 {
		t.Fatalf("%d events left", n)
	}
	// No byte of the wrapped keys is left in the key store's live files.
	for _, sfx := range []string{"", "-wal"} {
		b, _ := os.ReadFile(e.keysAt + sfx)
		for _, w := range wrapped {
			if bytes.Contains(b, w.Wrapped) {
				t.Fatalf("wrapped %s key still in %s", w.Purpose, filepath.Base(e.keysAt+sfx))
			}
		}
	}

	// The earlier copy's rows, with the key store as it is now: no key is
	// handed out for the account, not even a new one, and the error says why.
	old, err := sqlite.Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	rows, err := old.Rows(ctx, stele.RowQuery{AccountID: acme.ID, Limit: 100})
	if err != nil || len(rows) < 3 {
		t.Fatalf("backup rows %d %v", len(rows), err)
	}
	ring := seal.NewKeyring(e.master, e.keys)
	_, err = ring.Account(ctx, acme.ID)
	if stele.ErrorCode(err) != stele.EGONE || !strings.Contains(err.Error(), "account keys destroyed") {
		t.Fatalf("keys of the deleted account from a fresh keyring: %v; want EGONE, account keys destroyed", err)
	}
	if _, err := e.keyring.Account(ctx, acme.ID); stele.ErrorCode(err) != stele.EGONE {
		t.Fatalf("keys of the deleted account from the running keyring: %v", err)
	}
	// Neither does a key made up for it open its rows.
	k, err := seal.NewKeyring(e.master, sqlitetest.Keys(t)).Account(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := k.Open(r.KeyVersion, r.Seq, r.Payload, record.AppendAD(nil, &r)); !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("row %d of the earlier copy opened without the destroyed keys: %v", r.Seq, err)
		}
	}

	// And the honest limit: a copy of the key store from before the
	// deletion, with the master key, still decrypts. Shredding is complete
	// once such copies have aged out (docs/SECURITY.md).
	oldKeys := sqlitetest.KeysAt(t, keysBackup)
	k, err = seal.NewKeyring(e.master, oldKeys).Account(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(rows[0].KeyVersion, rows[0].Seq, rows[0].Payload, record.AppendAD(nil, &rows[0])); err != nil {
		t.Fatalf("a key store backup from before the deletion should still open (documented limit): %v", err)
	}
}

func TestSystemAccountCannotBeDeleted(t *testing.T) {
	e := newEnv(t)
	if _, err := retention.DeleteAccount(t.Context(), e.db, e.db, e.keyring, &audit.Recorder{Sink: e.svc}, stele.SystemAccount, audit.CLI(), 0); stele.ErrorCode(err) != stele.EINVALID {
		t.Fatalf("delete _system: %v", err)
	}
}

package retention_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/retention"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
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

func TestDeletedAccountDoesNotDecryptEvenFromAnEarlierCopy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.ingestAt(t, t0, t0, t0)
	acme, _ := e.db.AccountByName(ctx, "acme")
	wrapped, err := e.db.WrappedKeys(ctx, acme.ID)
	if err != nil || len(wrapped) != 2 {
		t.Fatalf("keys %v %v", wrapped, err)
	}
	// A copy of the database taken before the deletion (file and WAL).
	backup := filepath.Join(t.TempDir(), "backup.db")
	withKeys := filepath.Join(t.TempDir(), "with-keys.db")
	for _, sfx := range []string{"", "-wal"} {
		copyFile(t, e.dbPath+sfx, backup+sfx)
		copyFile(t, e.dbPath+sfx, withKeys+sfx)
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
	// No byte of the wrapped keys is left in the live files.
	for _, sfx := range []string{"", "-wal"} {
		b, _ := os.ReadFile(e.dbPath + sfx)
		for _, w := range wrapped {
			if bytes.Contains(b, w.Wrapped) {
				t.Fatalf("wrapped %s key still in %s", w.Purpose, filepath.Base(e.dbPath+sfx))
			}
		}
	}

	// The earlier copy's rows, with the keys table as it is now: nothing opens.
	old, err := sqlite.Open(ctx, backup)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	rows, err := old.Rows(ctx, stele.RowQuery{AccountID: acme.ID, Limit: 100})
	if err != nil || len(rows) < 3 {
		t.Fatalf("backup rows %d %v", len(rows), err)
	}
	if _, err := old.DeleteWrappedKeys(ctx, acme.ID); err != nil { // the live keys table has none of acme's
		t.Fatal(err)
	}
	ring := seal.NewKeyring(e.master, old)
	k, err := ring.Account(ctx, acme.ID) // finds no keys, so makes new ones
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := k.Open(r.KeyVersion, r.Seq, r.Payload, record.AppendAD(nil, &r)); !errors.Is(err, seal.ErrDecrypt) {
			t.Fatalf("row %d of the earlier copy opened without the destroyed keys: %v", r.Seq, err)
		}
	}

	// And the honest limit: a backup that still holds the wrapped keys,
	// with the master key, does decrypt. Shredding completes when such
	// backups age out or that master key is retired.
	full, err := sqlite.Open(ctx, withKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	k, err = seal.NewKeyring(e.master, full).Account(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(rows[0].KeyVersion, rows[0].Seq, rows[0].Payload, record.AppendAD(nil, &rows[0])); err != nil {
		t.Fatalf("a backup with its keys should still open (documented limit): %v", err)
	}
}

func TestSystemAccountCannotBeDeleted(t *testing.T) {
	e := newEnv(t)
	if _, err := retention.DeleteAccount(t.Context(), e.db, e.db, e.keyring, &audit.Recorder{Sink: e.svc}, stele.SystemAccount, audit.CLI(), 0); stele.ErrorCode(err) != stele.EINVALID {
		t.Fatalf("delete _system: %v", err)
	}
}

package stores

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/seal"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestOpenPutsTheKeysApartOnSQLite: the key store is keys.db beside the
// events, and once the events are written the place holds a store.
func TestOpenPutsTheKeysApartOnSQLite(t *testing.T) {
	ctx := t.Context()
	p := Place{Data: t.TempDir()}
	master, _ := seal.GenerateMasterKey()
	db, keys, lead, err := Open(ctx, p, master, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "team"}); err != nil {
		t.Fatal(err)
	}
	if lead == nil || keys.Ping(ctx) != nil {
		t.Fatalf("leadership %v, key store ping %v", lead, keys.Ping(ctx))
	}
	keys.Close()
	db.Close()
	if _, err := os.Stat(filepath.Join(p.Data, "keys.db")); err != nil {
		t.Fatalf("the key store beside the events: %v", err)
	}
	if ok, err := Exists(ctx, p); !ok || err != nil {
		t.Fatalf("Exists after Open = %v, %v", ok, err)
	}
}

// TestOpenMakesTheKeyDatabaseBesideAPostgreSQLStore: an empty database is
// no store; opened, its key store is the _keys database made beside it.
func TestOpenMakesTheKeyDatabaseBesideAPostgreSQLStore(t *testing.T) {
	ctx := t.Context()
	p := Place{DB: pgtest.NewDatabase(t)}
	if ok, err := Exists(ctx, p); ok || err != nil {
		t.Fatalf("an empty database: Exists = %v, %v", ok, err)
	}
	master, _ := seal.GenerateMasterKey()
	db, keys, _, err := Open(ctx, p, master, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer keys.Close()
	if err := keys.Ping(ctx); err != nil {
		t.Fatalf("key store: %v", err)
	}
	if ok, err := Exists(ctx, p); !ok || err != nil {
		t.Fatalf("after Open: Exists = %v, %v", ok, err)
	}
	ku, made, err := p.Keys(p.Events())
	if err != nil || !made || ku == p.DB {
		t.Fatalf("Keys = %q, %v, %v", RedactURL(ku), made, err)
	}
}

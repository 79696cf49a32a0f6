package demo_test

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/apikey"
	"github.com/stele-audit/stele/internal/audit"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/demo"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"github.com/stele-audit/stele/internal/users"
)

func openStore(t *testing.T) (*sqlite.DB, *datapath.Path) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	master, _ := seal.NewMasterKey(1, bytes.Repeat([]byte{4}, 32))
	path := datapath.Start(db, sqlitetest.Keys(t), master, slog.New(slog.NewTextHandler(io.Discard, nil)), ingest.WriterConfig{})
	t.Cleanup(func() { path.Stop(); db.Close() })
	if err := db.CreateAccount(t.Context(), &stele.Account{Name: stele.SystemAccount, Type: "enterprise"}); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// TestSeedFillsAnEmptyStoreAndGivesAcmeAKeyAndUsers: an empty store gets
// every demo account and its activity, acme without an ingest quota; the
// key acme gets writes, reads and exports; its three console users are
// made once, recorded, and sign in with the passwords returned.
func TestSeedFillsAnEmptyStoreAndGivesAcmeAKeyAndUsers(t *testing.T) {
	ctx := t.Context()
	db, path := openStore(t)
	if empty, err := demo.Empty(ctx, db); !empty || err != nil {
		t.Fatalf("a store with only _system: empty %v (%v)", empty, err)
	}
	end := time.Now()
	gen := demo.New(1, end.Add(-24*time.Hour), end)
	var done []string
	total, err := demo.Seed(ctx, db, path.Ingest, gen, func(s demo.Seeded) {
		acct, err := db.AccountByName(ctx, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountRows(ctx, acct.ID); n != int64(s.Events) || n == 0 {
			t.Errorf("%s: %d events stored, %d reported", s.Name, n, s.Events)
		}
		if unlimited := acct.IngestQuota(stele.DefaultAccountTypes).EventsPerSecond == 0; unlimited != (s.Name == demo.KeyAccount) {
			t.Errorf("%s: quota %+v", s.Name, acct.IngestQuota(stele.DefaultAccountTypes))
		}
		done = append(done, s.Name)
	})
	if err != nil || total == 0 {
		t.Fatalf("seed: %d events, %v", total, err)
	}
	var want []string
	for _, s := range gen.Accounts() {
		want = append(want, s.Name)
	}
	if !slices.Equal(done, want) || !slices.Contains(done, demo.KeyAccount) {
		t.Fatalf("seeded %v, want %v", done, want)
	}
	if empty, _ := demo.Empty(ctx, db); empty {
		t.Fatal("the seeded store is still empty")
	}

	key, err := demo.Key(ctx, db, db, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := apikey.NewCache(db).Authenticate(ctx, key)
	if err != nil || p.Account != demo.KeyAccount || len(p.Scopes) != 3 {
		t.Fatalf("the demo key: %+v (%v)", p, err)
	}

	svc := &users.Service{Store: db, Audit: &audit.Recorder{Sink: path.Ingest}}
	logins, err := demo.Users(ctx, db, svc, audit.CLI())
	if err != nil || len(logins) != 3 {
		t.Fatalf("users %v (%v)", logins, err)
	}
	for _, l := range logins {
		stored, err := db.UserByEmail(ctx, l.User.Email)
		if err != nil || stored.Account != demo.KeyAccount || !users.CheckPassword(stored.PasswordHash, l.Password) {
			t.Errorf("%s: %+v (%v)", l.User.Email, stored, err)
		}
	}
	if again, err := demo.Users(ctx, db, svc, audit.CLI()); len(again) != 0 || err != nil {
		t.Fatalf("again: %v (%v)", again, err)
	}
}

// TestKeyAndUsersNeedAcme: a store without the demo account gets neither.
func TestKeyAndUsersNeedAcme(t *testing.T) {
	ctx := t.Context()
	db, path := openStore(t)
	if key, err := demo.Key(ctx, db, db, time.Now()); key != "" || err != nil {
		t.Fatalf("key %q (%v)", key, err)
	}
	svc := &users.Service{Store: db, Audit: &audit.Recorder{Sink: path.Ingest}}
	if logins, err := demo.Users(ctx, db, svc, audit.CLI()); len(logins) != 0 || err != nil {
		t.Fatalf("users %v (%v)", logins, err)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/postgres"
	"github.com/stele-audit/stele/internal/postgres/pgtest"
	"github.com/stele-audit/stele/internal/record"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
	"golang.org/x/mod/sumdb/note"
)

// copyDir copies the files of dir from into a new directory and returns it.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// unsetKeys makes the test read its keys from the data directory.
func unsetKeys(t *testing.T) {
	for _, v := range []string{"STELE_MASTER_KEY", "STELE_MASTER_KEY_FILE", "STELE_SIGNING_KEY", "STELE_DATABASE_URL", "STELE_KEYS_DATABASE_URL", "STELE_URL", "STELE_KEY"} {
		t.Setenv(v, "")
	}
}

// eventsOf returns the descriptions of the account's events sent by its
// users (not Stele's own records), newest first, as the local read path
// decrypts them.
func eventsOf(t *testing.T, a *app, account string) []string {
	t.Helper()
	acct, err := a.db.AccountByName(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	page, err := a.search.Search(t.Context(), acct, stele.Query{}, "", 100)
	if err != nil {
		t.Fatalf("read %s: %v", account, err)
	}
	var out []string
	for _, e := range page.Events {
		if e.Actor != nil && e.Actor.Type == "user" {
			out = append(out, e.Description)
		}
	}
	return out
}

// TestUpgradeMovesKeysOutOfTheEventStore opens a data directory written by
// the release before the key store (testdata/before-key-store: two
// accounts, one with rotated keys, events under both versions): the first
// open moves every key into keys.db, checks it, and removes the keys from
// the event store; every event still decrypts, verify passes, and a second
// open finds nothing more to move.
func TestUpgradeMovesKeysOutOfTheEventStore(t *testing.T) {
	unsetKeys(t)
	data := copyDir(t, filepath.Join("testdata", "before-key-store"))
	eventsFile := filepath.Join(data, "stele.db")
	legacy := legacyKeys(t, eventsFile)
	if len(legacy) != 8 {
		t.Fatalf("the fixture holds %d wrapped keys, want 8", len(legacy))
	}

	a, err := openApp(t.Context(), storeFlags{data: data}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Ada signed out", "Ada connected AWS production", "Eve failed to sign in", "Ada made Bob an admin", "Ada signed in"}
	if got := eventsOf(t, a, "acme"); !slices.Equal(got, want) {
		t.Fatalf("acme's events after the upgrade: %q, want %q", got, want)
	}
	if got := eventsOf(t, a, "globex"); !slices.Equal(got, []string{"Hal signed in"}) {
		t.Fatalf("globex's events after the upgrade: %q", got)
	}
	// Every key is in the key store, as it was.
	for _, w := range legacy {
		keys, err := a.keys.WrappedKeys(t.Context(), w.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(keys, func(k stele.WrappedKey) bool { return k.Purpose == w.Purpose && k.Version == w.Version })
		if i < 0 || !bytes.Equal(keys[i].Wrapped, w.Wrapped) || keys[i].MasterVersion != w.MasterVersion || !keys[i].CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("account %d key %s v%d not in the key store as it was", w.AccountID, w.Purpose, w.Version)
		}
	}
	a.Close()

	// The event store holds no key: not the table, not a byte of a key.
	if keys := legacyKeys(t, eventsFile); len(keys) != 0 {
		t.Fatalf("%d keys left in the event store", len(keys))
	}
	for _, sfx := range []string{"", "-wal"} {
		b, _ := os.ReadFile(eventsFile + sfx)
		for _, w := range legacy {
			if bytes.Contains(b, w.Wrapped) {
				t.Fatalf("account %d key %s v%d still in stele.db%s", w.AccountID, w.Purpose, w.Version, sfx)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(data, "keys.db")); err != nil {
		t.Fatalf("no keys.db beside the events: %v", err)
	}
	if out := runIn(t, "verify", "--data", data); !strings.Contains(out, ": 0 failures") {
		t.Fatalf("verify after the upgrade:\n%s", out)
	}
	// Opened again: nothing to move, everything reads.
	a, err = openApp(t.Context(), storeFlags{data: data}, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := eventsOf(t, a, "acme"); !slices.Equal(got, want) {
		t.Fatalf("acme's events on the second open: %q", got)
	}
}

// legacyKeys reads the wrapped keys of an event store file as a release
// before the key store kept them (none once the table is gone).
func legacyKeys(t *testing.T, path string) []stele.WrappedKey {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'account_keys'`).Scan(&n)
	if n == 0 {
		return nil
	}
	rows, err := db.Query(`SELECT account_id, purpose, version, master_version, wrapped, created_at FROM account_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []stele.WrappedKey
	for rows.Next() {
		var (
			w       stele.WrappedKey
			created int64
		)
		if err := rows.Scan(&w.AccountID, &w.Purpose, &w.Version, &w.MasterVersion, &w.Wrapped, &created); err != nil {
			t.Fatal(err)
		}
		w.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, w)
	}
	return out
}

// pgEnv sets the keys a PostgreSQL store needs, shared as nodes share
// them, and returns the master key.
func pgEnv(t *testing.T) *seal.MasterKey {
	t.Helper()
	unsetKeys(t)
	raw := make([]byte, 32)
	rand.Read(raw)
	skey, _, err := note.GenerateKey(nil, ledger.DefaultOriginPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STELE_MASTER_KEY", base64.StdEncoding.EncodeToString(raw))
	t.Setenv("STELE_SIGNING_KEY", skey)
	m, err := seal.NewMasterKey(1, raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestUpgradeMovesKeysOutOfPostgres: a PostgreSQL event database as the
// release before the key store left it (the wrapped keys in its
// account_keys table, events sealed under two versions of them): the first
// open makes the key database beside it (NAME_keys), moves the keys there,
// and drops the table; the events still decrypt, and a second node opening
// the same database finds the keys in the same key database.
func TestUpgradeMovesKeysOutOfPostgres(t *testing.T) {
	master := pgEnv(t)
	u := pgtest.NewDatabase(t)
	ctx := t.Context()

	// The old layout: events sealed under keys kept in account_keys.
	db, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	scratch := sqlitetest.Keys(t) // the old release's keyring made them; copied below
	path := datapath.Start(db, scratch, master, newLogger("error"), ingest.WriterConfig{})
	acme := &stele.Account{Name: "acme", Type: "business"}
	if err := db.CreateAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := path.Ingest.Record(ctx, stele.Event{Account: "acme", Action: "user.login", Time: now.Add(-time.Hour), Description: "under v1", Actor: &stele.Ref{Type: "user", ID: "u_1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := path.Keyring.Rotate(ctx, acme.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := path.Ingest.Record(ctx, stele.Event{Account: "acme", Action: "user.logout", Time: now, Description: "under v2", Actor: &stele.Ref{Type: "user", ID: "u_1"}}); err != nil {
		t.Fatal(err)
	}
	path.Stop()
	wrapped, _ := scratch.WrappedKeys(ctx, acme.ID)
	if len(wrapped) != 4 {
		t.Fatalf("%d keys made, want data and index v1 and v2", len(wrapped))
	}
	for _, w := range wrapped {
		if _, err := db.Pool().Exec(ctx, `INSERT INTO account_keys (account_id, purpose, version, master_version, wrapped, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, w.AccountID, w.Purpose, w.Version, w.MasterVersion, w.Wrapped, w.CreatedAt.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	// Two nodes open it, one after the other, each with a data directory
	// of its own: the keys are in the key database they share.
	for node := range 2 {
		a, err := openApp(ctx, storeFlags{data: t.TempDir(), db: u}, newLogger("error"))
		if err != nil {
			t.Fatal(err)
		}
		if got := eventsOf(t, a, "acme"); !slices.Equal(got, []string{"under v2", "under v1"}) {
			a.Close()
			t.Fatalf("node %d: acme's events after the upgrade: %q", node, got)
		}
		keys, err := a.keys.WrappedKeys(ctx, acme.ID)
		a.Close()
		if err != nil || len(keys) != 4 {
			t.Fatalf("node %d: key store holds %d of acme's keys (%v), want 4", node, len(keys), err)
		}
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('account_keys') IS NOT NULL`).Scan(&left); err != nil || left {
		t.Fatalf("account_keys left in the event database: %v %v", left, err)
	}
	ku, _ := postgres.KeysDatabaseURL(u)
	kc, err := pgx.Connect(ctx, ku)
	if err != nil {
		t.Fatalf("the key database beside the events: %v", err)
	}
	kc.Close(ctx)
}

// TestKeyStoreIsNeverTheEventStore: --keys-db must name another place
// than the events, and nodes sharing PostgreSQL share a PostgreSQL key
// store.
func TestKeyStoreIsNeverTheEventStore(t *testing.T) {
	unsetKeys(t)
	data := t.TempDir()
	for _, args := range [][]string{
		{"accounts", "list", "--data", data, "--keys-db", "sqlite:" + filepath.Join(data, "stele.db")},
		{"accounts", "list", "--data", data, "--db", "sqlite:" + filepath.Join(data, "events.db"), "--keys-db", "sqlite:" + filepath.Join(data, "events.db")},
		{"accounts", "list", "--data", data, "--keys-db", "mysql://x"},
	} {
		err := run(t.Context(), args, io.Discard)
		if stele.ErrorCode(err) != stele.EINVALID || !strings.Contains(err.Error(), "keys") {
			t.Errorf("stele %s: %v; want a refusal naming --keys-db", strings.Join(args, " "), err)
		}
	}
	// The default beside a named file, and a key store given explicitly.
	runIn(t, "init", "--db", "sqlite:"+filepath.Join(data, "events.db"), "--data", data)
	runIn(t, "accounts", "create", "acme", "--type", "team", "--db", "sqlite:"+filepath.Join(data, "events.db"), "--data", data)
	if _, err := os.Stat(filepath.Join(data, "events.keys.db")); err != nil {
		t.Errorf("no events.keys.db beside events.db: %v", err)
	}
	elsewhere := filepath.Join(t.TempDir(), "k.db")
	t.Setenv("STELE_KEYS_DATABASE_URL", "sqlite:"+elsewhere)
	os.Remove(filepath.Join(data, "master.key")) // init makes the keys of data/stele.db anew
	os.Remove(filepath.Join(data, "signing.key"))
	runIn(t, "init", "--data", data)
	runIn(t, "accounts", "create", "beta", "--type", "team", "--data", data)
	if _, err := os.Stat(elsewhere); err != nil {
		t.Errorf("STELE_KEYS_DATABASE_URL not used: %v", err)
	}
}

// eventStoreCopy is a store under test whose event store can be copied
// aside and put back, as an operator restores a backup.
type eventStoreCopy struct {
	sf      storeFlags
	flags   []string // the same, as command line flags
	save    func(t *testing.T)
	putBack func(t *testing.T)
}

func sqliteCopy(t *testing.T) eventStoreCopy {
	data := t.TempDir()
	backup := t.TempDir()
	files := []string{"stele.db", "stele.db-wal"}
	return eventStoreCopy{sf: storeFlags{data: data}, flags: []string{"--data", data},
		save: func(t *testing.T) {
			for _, f := range files {
				if b, err := os.ReadFile(filepath.Join(data, f)); err == nil {
					os.WriteFile(filepath.Join(backup, f), b, 0o600)
				}
			}
		},
		putBack: func(t *testing.T) {
			for _, f := range append(files, "stele.db-shm") {
				os.Remove(filepath.Join(data, f))
			}
			for _, f := range files {
				if b, err := os.ReadFile(filepath.Join(backup, f)); err == nil {
					os.WriteFile(filepath.Join(data, f), b, 0o600)
				}
			}
		}}
}

func postgresCopy(t *testing.T) eventStoreCopy {
	u := pgtest.NewDatabase(t)
	parsed, _ := url.Parse(u)
	name := strings.TrimPrefix(parsed.Path, "/")
	server := pgtest.ServerURL(t)
	admin := func(t *testing.T, sql string) {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), server)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		// The last process's connections may take a moment to end.
		for try := 0; ; try++ {
			_, err := conn.Exec(t.Context(), sql)
			if err == nil {
				return
			}
			if try == 50 {
				t.Fatalf("%s: %v", sql, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		if conn, err := pgx.Connect(context.Background(), server); err == nil {
			conn.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+`_copy WITH (FORCE)`)
			conn.Close(context.Background())
		}
	})
	data := t.TempDir()
	return eventStoreCopy{sf: storeFlags{data: data, db: u}, flags: []string{"--data", data, "--db", u},
		save: func(t *testing.T) { admin(t, `CREATE DATABASE `+name+`_copy TEMPLATE `+name) },
		putBack: func(t *testing.T) {
			admin(t, `DROP DATABASE `+name+` WITH (FORCE)`)
			admin(t, `ALTER DATABASE `+name+`_copy RENAME TO `+name)
		}}
}

// TestDeletedAccountStaysUnreadableFromAnEventStoreCopy is crypto-shredding
// that survives backups, on both stores: a copy of the event store taken
// before `stele accounts delete`, put back afterwards, with the key store
// and the master key as they are now, decrypts nothing of the deleted
// account on any read path (the API's list, event, proof and export, the
// console's page, event and export, the CLI's export and verify, and the
// keyring itself); each says "account keys destroyed", nothing crashes,
// and the other account reads as before.
func TestDeletedAccountStaysUnreadableFromAnEventStoreCopy(t *testing.T) {
	for name, backend := range map[string]func(*testing.T) eventStoreCopy{"sqlite": sqliteCopy, "postgres": postgresCopy} {
		t.Run(name, func(t *testing.T) {
			master := pgEnv(t)
			s := backend(t)
			makeStore(t, s.sf)
			cli := func(args ...string) string { t.Helper(); return runIn(t, append(args, s.flags...)...) }
			cli("accounts", "create", "acme", "--type", "team")
			cli("accounts", "create", "globex", "--type", "team")
			var acmeKey, globexKey struct{ Key string }
			json.Unmarshal([]byte(cli("keys", "create", "--account", "acme", "--scopes", "events:read,events:export", "--json")), &acmeKey)
			json.Unmarshal([]byte(cli("keys", "create", "--account", "globex", "--scopes", "events:read", "--json")), &globexKey)
			const pw = "shredding survives backups"
			cli("users", "create", "--account", "acme", "--email", "owner@acme.example", "--role", "owner", "--password", pw)

			a, err := openApp(t.Context(), s.sf, newLogger("error"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC()
			var events []stele.Event
			for i, acct := range []string{"acme", "acme", "acme", "globex", "globex"} {
				events = append(events, stele.Event{Account: acct, Action: "user.login", Time: now.Add(time.Duration(i-10) * time.Minute),
					Actor: &stele.Ref{Type: "user", ID: "u_1"}, Description: acct + " secret " + string(rune('a'+i))})
			}
			receipts, err := a.ingest.Record(t.Context(), events...)
			if err != nil {
				t.Fatal(err)
			}
			acme, _ := a.db.AccountByName(t.Context(), "acme")
			if got := eventsOf(t, a, "acme"); len(got) != 3 {
				t.Fatalf("acme reads %q before the deletion", got)
			}
			a.Close()
			acmeEvent := stele.EventID(acme.ID, receipts[0].Seq)

			s.save(t)
			cli("accounts", "delete", "acme", "--yes")
			s.putBack(t)

			// The copy is back: acme, its users, keys and events are there.
			gone := func(what string, status int, body []byte) {
				t.Helper()
				if status != http.StatusGone || !bytes.Contains(body, []byte("account keys destroyed")) || bytes.Contains(body, []byte("secret")) {
					t.Errorf("%s: %d %.300s; want 410, account keys destroyed", what, status, body)
				}
			}
			base, stop := serveOn(t, s.flags)
			api := &probe{t: t, base: base, key: acmeKey.Key, c: http.DefaultClient}
			for _, path := range []string{"/v1/events", "/v1/events/" + acmeEvent, "/v1/events/" + acmeEvent + "?proof=true",
				"/v1/export?format=jsonl", "/v1/export?format=csv", "/v1/export?format=bundle"} {
				status, body := api.do("GET", path, "")
				gone("GET "+path, status, body)
			}
			other := &probe{t: t, base: base, key: globexKey.Key, c: http.DefaultClient}
			if status, body := other.do("GET", "/v1/events", ""); status != http.StatusOK || !bytes.Contains(body, []byte("globex secret d")) {
				t.Errorf("globex after acme's deletion: %d %.300s", status, body)
			}
			jar, _ := cookiejar.New(nil)
			owner := &probe{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
			if status, body := owner.form("/login", url.Values{"email": {"owner@acme.example"}, "password": {pw}}); status != http.StatusSeeOther {
				t.Fatalf("sign in to the restored account: %d %.300s", status, body)
			}
			for _, path := range []string{"/admin/audit-logs", "/admin/audit-logs/" + acmeEvent, "/admin/audit-logs/export?format=csv"} {
				status, body := owner.do("GET", path, "")
				gone("console "+path, status, body)
			}
			if status, _ := api.do("GET", "/healthz", ""); status != http.StatusOK {
				t.Errorf("the server after all that: healthz %d", status)
			}
			stop()

			// The CLI's export and verify.
			var out bytes.Buffer
			err = run(t.Context(), append([]string{"export", "--format", "jsonl", "--account", "acme"}, s.flags...), &out)
			if stele.ErrorCode(err) != stele.EGONE || bytes.Contains(out.Bytes(), []byte("secret")) {
				t.Errorf("stele export: %v, %q; want account keys destroyed", err, out.String())
			}
			out.Reset()
			err = run(t.Context(), append([]string{"verify"}, s.flags...), &out)
			if !errors.Is(err, errVerifyFailed) || !strings.Contains(out.String(), "FAIL account acme: account keys destroyed") || strings.Count(out.String(), "FAIL") != 1 {
				t.Errorf("stele verify: %v\n%s", err, out.String())
			}

			// The keyring, directly: no key for acme, not even a new one,
			// and no key made up for it opens a row.
			a, err = openApp(t.Context(), s.sf, newLogger("error"))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			for _, ring := range []*seal.Keyring{a.keyring, seal.NewKeyring(master, a.keys)} {
				if _, err := ring.Account(t.Context(), acme.ID); stele.ErrorCode(err) != stele.EGONE || !strings.Contains(err.Error(), "account keys destroyed") {
					t.Fatalf("keyring: %v; want EGONE, account keys destroyed", err)
				}
			}
			rows, err := a.db.Rows(t.Context(), stele.RowQuery{AccountID: acme.ID, Limit: 100})
			if err != nil || len(rows) < 3 {
				t.Fatalf("the copy's rows of acme: %d, %v", len(rows), err)
			}
			madeUp, err := seal.NewKeyring(master, sqlitetest.Keys(t)).Account(t.Context(), acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if _, err := madeUp.Open(r.KeyVersion, r.Seq, r.Payload, record.AppendAD(nil, &r)); !errors.Is(err, seal.ErrDecrypt) {
					t.Fatalf("row %d opened: %v", r.Seq, err)
				}
			}
			if _, err := a.ingest.Record(t.Context(), stele.Event{Account: "acme", Action: "user.login", Time: now}); stele.ErrorCode(err) != stele.EGONE {
				t.Errorf("ingest into the deleted account: %v; want EGONE", err)
			}
			if got := eventsOf(t, a, "globex"); len(got) != 2 {
				t.Errorf("globex reads %q", got)
			}
		})
	}
}

// serveOn starts `stele serve` on the store of flags, with the keys of
// the environment, and returns its base URL and what stops it.
func serveOn(t *testing.T, flags []string) (string, func()) {
	t.Helper()
	cmd := exec.Command(steleBin(t), append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "error"}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }) }
	t.Cleanup(stop)
	base, err := listeningURL(stdout)
	if err != nil {
		t.Fatal(err)
	}
	return base, stop
}

// TestReadyNeedsBothStores: serve's readiness (GET /healthz) asks the key
// store too; without it nothing can be read or written.
func TestReadyNeedsBothStores(t *testing.T) {
	unsetKeys(t)
	a, err := openAppIn(t.Context(), storeFlags{data: t.TempDir()}, storeIfMissing, nil, newLogger("error"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.pingStores(t.Context()); err != nil {
		t.Fatalf("both stores open: %v", err)
	}
	// The key store gone (closed here; unreachable in production).
	a.keys.Close()
	if err := a.pingStores(t.Context()); err == nil {
		t.Fatal("ready without a key store")
	}
}

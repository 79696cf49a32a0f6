package integrity_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/datapath"
	"github.com/stele-audit/stele/internal/ingest"
	"github.com/stele-audit/stele/internal/integrity"
	"github.com/stele-audit/stele/internal/ledger"
	"github.com/stele-audit/stele/internal/seal"
	"github.com/stele-audit/stele/internal/sqlite"
	"github.com/stele-audit/stele/internal/sqlite/sqlitetest"
)

var (
	testLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
	testMaster = func() *seal.MasterKey {
		m, err := seal.NewMasterKey(1, bytes.Repeat([]byte{9}, 32))
		if err != nil {
			panic(err)
		}
		return m
	}()
)

// stack is Stele wired on one SQLite file, as serve wires it.
type stack struct {
	db     *sqlite.DB
	keys   *seal.Keyring
	ingest *ingest.Service
	cp     *integrity.Checkpointer
	stop   func()
}

func openStack(t testing.TB, path string, key *ledger.SigningKey) *stack {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c := datapath.Start(db, sqlitetest.KeysAt(t, path+".keys"), testMaster, testLogger, ingest.WriterConfig{})
	s := &stack{db: db, keys: c.Keyring, ingest: c.Ingest,
		cp: &integrity.Checkpointer{Accounts: db, Events: db, Store: db, Key: key, Logger: testLogger}}
	s.stop = func() {
		c.Stop()
		db.Close()
	}
	return s
}

func (s *stack) record(t testing.TB, account string, n, from int) {
	t.Helper()
	events := make([]stele.Event, n)
	for i := range events {
		events[i] = stele.Event{Account: account, Action: "user.login", Outcome: stele.OutcomeSuccess,
			Actor:       &stele.Ref{Type: "user", ID: fmt.Sprintf("u_%d", from+i), Email: fmt.Sprintf("u%d@acme.io", from+i)},
			IP:          "203.0.113.7",
			Description: fmt.Sprintf("login %d", from+i), Metadata: map[string]any{"n": fmt.Sprint(from + i)}}
	}
	if _, err := s.ingest.Record(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

// integrityOnly hides the SQLite store's ScanRows, so that the verifier
// reads rows through the stele.IntegrityStore interface alone.
type integrityOnly struct{ stele.IntegrityStore }

// verify verifies the store with the default settings, and again with
// small chunks read by several workers, through the SQLite store's row
// scanner and through RowsBySeq: every way must report the same.
func (s *stack) verify(t testing.TB, key *ledger.SigningKey) *integrity.Report {
	t.Helper()
	var reports []*integrity.Report
	for _, v := range []*integrity.StoreVerifier{
		{Store: s.db},
		{Store: s.db, Chunk: 7, Workers: 3},
		{Store: integrityOnly{s.db}, Chunk: 7, Workers: 3},
		{Store: integrityOnly{s.db}, Chunk: 1, Workers: 1},
	} {
		v.Accounts, v.Events, v.Keys, v.Verifier = s.db, s.db, s.keys, key.Verifier
		rep, err := v.Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(reports) > 0 && !reflect.DeepEqual(rep, reports[0]) {
			t.Fatalf("verify with chunk %d, %d workers, %T reported\n%+v\nnot, as by default,\n%+v", v.Chunk, v.Workers, v.Store, rep, reports[0])
		}
		reports = append(reports, rep)
	}
	return reports[0]
}

// baseStore builds a stopped store: account acme with 60 events and
// checkpoints at sizes 40 and 60, and returns its directory.
func baseStore(t *testing.T, key *ledger.SigningKey) string {
	t.Helper()
	dir := t.TempDir()
	s := openStack(t, filepath.Join(dir, "stele.db"), key)
	ctx := context.Background()
	if err := s.db.CreateAccount(ctx, &stele.Account{Name: "acme", Type: "team"}); err != nil {
		t.Fatal(err)
	}
	s.record(t, "acme", 40, 0)
	if n, err := s.cp.SignAll(ctx); err != nil || n != 1 {
		t.Fatalf("sign all = %d, %v", n, err)
	}
	s.record(t, "acme", 20, 40)
	if _, err := s.cp.SignAll(ctx); err != nil {
		t.Fatal(err)
	}
	s.stop()
	return dir
}

// copyStore copies a stopped store's file, and its key store, into a new
// directory.
func copyStore(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	for _, name := range []string{"stele.db", "stele.db-wal", "stele.db.keys", "stele.db.keys-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tamper runs SQL on a stopped store's file with database/sql directly, as
// someone with write access to the database would.
func tamper(t *testing.T, dir string, fn func(db *sql.DB)) {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, "file:"+filepath.Join(dir, "stele.db"))
	if err != nil {
		t.Fatal(err)
	}
	fn(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	key, _, err := ledger.NewSigningKey("stele.local")
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := ledger.NewSigningKey("stele.local")
	base := baseStore(t, key)
	const acme = "(SELECT id FROM accounts WHERE name = 'acme')"
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		kind   string
		want   string // substring of the failure's text
	}{
		{"flip a ciphertext byte", func(t *testing.T, db *sql.DB) {
			p := payload(t, db, 17)
			p[20] ^= 1
			exec(t, db, `UPDATE events SET payload = ? WHERE seq = 17 AND account_id = `+acme, p)
		}, integrity.KindRowAltered, "seq 17: row altered"},
		{"change an action in clear", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE events SET action = 'user.logout' WHERE seq = 23 AND account_id = `+acme)
		}, integrity.KindRowAltered, "seq 23: row altered: the payload does not decrypt"},
		{"delete a row in the middle", func(t *testing.T, db *sql.DB) {
			exec(t, db, `DELETE FROM events WHERE seq = 17 AND account_id = `+acme)
		}, integrity.KindRowMissing, "row missing (deleted) at seq 17"},
		{"delete the newest rows and rewind the head (rollback)", func(t *testing.T, db *sql.DB) {
			rollback(t, db, 30)
		}, integrity.KindRollback, "rollback: the tree has 30 events, fewer than signed checkpoint 40"},
		{"delete the newest rows only", func(t *testing.T, db *sql.DB) {
			exec(t, db, `DELETE FROM events WHERE seq >= 55 AND account_id = `+acme)
		}, integrity.KindRowMissing, "rows missing (deleted) at seqs 55..59"},
		{"swap two rows' payloads", func(t *testing.T, db *sql.DB) {
			p5, p9 := payload(t, db, 5), payload(t, db, 9)
			exec(t, db, `UPDATE events SET payload = ? WHERE seq = 5 AND account_id = `+acme, p9)
			exec(t, db, `UPDATE events SET payload = ? WHERE seq = 9 AND account_id = `+acme, p5)
		}, integrity.KindRowsSwapped, "seq 5: rows swapped: the payload stored at seq 5 was sealed for seq 9"},
		{"insert a forged row", func(t *testing.T, db *sql.DB) {
			exec(t, db, `INSERT INTO events SELECT account_id, 60, time, received_at, 'user.password_reset', category, outcome, actor_tok, actor_email_tok,
				target_tok, source_tok, ip_tok, key_version, payload, leaf_hash FROM events WHERE seq = 59 AND account_id = `+acme)
		}, integrity.KindForgedRow, "seq 60: forged row"},
		{"replace a checkpoint with one signed by another key", func(t *testing.T, db *sql.DB) {
			var root []byte
			if err := db.QueryRow(`SELECT root FROM checkpoints WHERE size = 40`).Scan(&root); err != nil {
				t.Fatal(err)
			}
			msg, err := ledger.SignCheckpoint(other.Signer, ledger.CheckpointBody{Origin: "stele.local/acme", Size: 40, Root: ledger.Hash(root)})
			if err != nil {
				t.Fatal(err)
			}
			exec(t, db, `UPDATE checkpoints SET note = ? WHERE size = 40`, msg)
		}, integrity.KindCheckpointSig, "checkpoint 40: checkpoint signature invalid"},
		{"change a stored leaf hash", func(t *testing.T, db *sql.DB) {
			exec(t, db, `UPDATE events SET leaf_hash = zeroblob(32) WHERE seq = 33 AND account_id = `+acme)
		}, integrity.KindLeafMismatch, "seq 33: leaf hash mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyStore(t, base)
			tamper(t, dir, func(db *sql.DB) { tc.tamper(t, db) })
			s := openStack(t, filepath.Join(dir, "stele.db"), key)
			defer s.stop()
			rep := s.verify(t, key)
			var texts []string
			found := false
			for _, f := range rep.Failures {
				texts = append(texts, f.String())
				if f.Kind == tc.kind && strings.Contains(f.String(), tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want a %q failure containing %q; got:\n%s", tc.kind, tc.want, strings.Join(texts, "\n"))
			}
			t.Logf("report:\n%s", strings.Join(texts, "\n"))
		})
	}
	t.Run("untouched store passes", func(t *testing.T) {
		s := openStack(t, filepath.Join(copyStore(t, base), "stele.db"), key)
		defer s.stop()
		rep := s.verify(t, key)
		if !rep.OK() || rep.Events != 60 || rep.Checkpoints != 2 {
			t.Fatalf("report = %+v", rep)
		}
	})
}

// payload reads the payload of acme's event seq.
func payload(t *testing.T, db *sql.DB, seq int64) []byte {
	t.Helper()
	var p []byte
	if err := db.QueryRow(`SELECT payload FROM events WHERE seq = ? AND account_id = (SELECT id FROM accounts WHERE name = 'acme')`, seq).Scan(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

// rollback deletes acme's rows from seq size on and rewinds its head and
// tree nodes to a consistent tree of that size, as an attacker who knows
// the format would (the hashes need no secret).
func rollback(t *testing.T, db *sql.DB, size int64) {
	t.Helper()
	const acme = "(SELECT id FROM accounts WHERE name = 'acme')"
	exec(t, db, `DELETE FROM events WHERE seq >= ? AND account_id = `+acme, size)
	rows, err := db.Query(`SELECT leaf_hash FROM events WHERE account_id = ` + acme + ` ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	head := stele.Head{}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		head = ledger.Append(head, ledger.Hash(h), nil)
	}
	rows.Close()
	var frontier []byte
	for _, f := range head.Frontier {
		frontier = append(frontier, f[:]...)
	}
	exec(t, db, `UPDATE heads SET size = ?, frontier = ? WHERE account_id = `+acme, head.Size, frontier)
	exec(t, db, `DELETE FROM tree_nodes WHERE (idx + 1) << level > ? AND account_id = `+acme, size)
}

func TestVerifyAcceptsSignedPurgeAndRejectsUnsigned(t *testing.T) {
	key, _, _ := ledger.NewSigningKey("stele.local")
	base := baseStore(t, key)
	ctx := context.Background()

	dir := copyStore(t, base)
	s := openStack(t, filepath.Join(dir, "stele.db"), key)
	acct, err := s.db.AccountByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.cp.SignPurge(ctx, acct, 21)
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	tamper(t, dir, func(db *sql.DB) {
		exec(t, db, `DELETE FROM events WHERE seq < 21 AND account_id = ?`, acct.ID)
	})
	s = openStack(t, filepath.Join(dir, "stele.db"), key)
	defer s.stop()
	if rep := s.verify(t, key); rep.OK() {
		t.Fatal("a purge without a signed statement passed")
	} else if rep.Failures[0].Kind != integrity.KindRowMissing {
		t.Fatalf("unsigned purge reported as %v", rep.Failures)
	}
	if err := s.db.AddPurge(ctx, p); err != nil {
		t.Fatal(err)
	}
	if rep := s.verify(t, key); !rep.OK() || rep.Purged != 21 || rep.Events != 39 {
		t.Fatalf("a signed purge failed: %+v", rep)
	}
	// A deletion above the purge point is still caught.
	tamperOpen(t, s, dir, func(db *sql.DB) {
		exec(t, db, `DELETE FROM events WHERE seq = 30 AND account_id = ?`, acct.ID)
	})
}

// tamperOpen tampers with an open stack's file through another connection.
func tamperOpen(t *testing.T, s *stack, dir string, fn func(db *sql.DB)) {
	t.Helper()
	tamper(t, dir, fn)
	rep := s.verify(t, mustKey(t, s))
	if rep.OK() || rep.Failures[0].Kind != integrity.KindRowMissing || rep.Failures[0].Seq != 30 {
		t.Fatalf("deletion above the purge point: %+v", rep.Failures)
	}
}

func mustKey(t *testing.T, s *stack) *ledger.SigningKey { return s.cp.Key }

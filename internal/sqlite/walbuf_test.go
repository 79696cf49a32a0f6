//go:build linux && (amd64 || arm64) && cgo && !stele_nowalbuf

package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"testing"
)

// openWALBuf opens path through walBufVFS with synchronous=FULL and a page
// cache of cachePages, as the writer does (but for the cache size).
func openWALBuf(t *testing.T, path string, cachePages int) *sql.DB {
	t.Helper()
	if err := registerWALBuf(); err != nil {
		t.Fatal(err)
	}
	q := url.Values{}
	q.Set("vfs", walBufVFS)
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_cache_size", fmt.Sprint(cachePages))
	db, err := sql.Open(DriverName, (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// readAll reads table kv through the default VFS, as readers and other
// processes do, and checks the file's integrity.
func readAll(t *testing.T, path string) map[int64][]byte {
	t.Helper()
	db, err := sql.Open(DriverName, "file:"+path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %.200q, %v", check, err)
	}
	rows, err := db.Query(`SELECT k, v FROM kv`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64][]byte{}
	for rows.Next() {
		var k int64
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func sameKV(t *testing.T, got, want map[int64][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("row %d: %d bytes differ from the %d written", k, len(got[k]), len(v))
		}
	}
}

// TestWALBufGathersWrites: a commit of many pages reaches the WAL in far
// fewer writes than SQLite asks for, and another connection reads it whole.
func TestWALBufGathersWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gather.db")
	db := openWALBuf(t, path, -65536)
	if _, err := db.Exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[int64][]byte{}
	asked0, made0, _ := walBufCounts()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for k := range int64(300) {
		v := make([]byte, 3000)
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		want[k] = v
		if _, err := tx.Exec(`INSERT INTO kv VALUES (?, ?)`, k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	asked, made, _ := walBufCounts()
	asked, made = asked-asked0, made-made0
	// 300 rows of 3,000 bytes are ≥ 300 pages: ≥ 600 writes asked (a
	// header and a page per frame), ≈ 30 frames per write made.
	if asked < 600 || made*10 > asked {
		t.Errorf("SQLite asked for %d writes and %d were made; want ≥ 600 asked and under a tenth made", asked, made)
	}
	sameKV(t, readAll(t, path), want)
	// The first commit synced the new WAL through the default VFS (and its
	// directory); the next ones sync with fdatasync.
	_, _, synced0 := walBufCounts()
	for k := range int64(3) {
		if _, err := db.Exec(`UPDATE kv SET v = ? WHERE k = ?`, []byte("x"), k); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, synced := walBufCounts(); synced-synced0 < 3 {
		t.Errorf("%d fdatasyncs for 3 commits", synced-synced0)
	}
}

// TestWALBufKeepsEveryWrite runs a random mix of transactions through the
// VFS — pages rewritten within a transaction, rollbacks, transactions that
// spill a small page cache into the WAL and read the spilled pages back,
// checkpoints that reset the WAL, reopening — and checks after each step
// that a connection on the default VFS reads exactly what was committed.
func TestWALBufKeepsEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mix.db")
	db := openWALBuf(t, path, 20)
	if _, err := db.Exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	want := map[int64][]byte{}
	val := func() []byte {
		v := make([]byte, 1+rng.IntN(6000))
		for i := range v {
			v[i] = byte(rng.Uint32())
		}
		return v
	}
	for step := range 60 {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		changes := map[int64][]byte{} // nil value: deleted
		for range 1 + rng.IntN(150) {
			k := int64(rng.IntN(400))
			if rng.IntN(5) == 0 {
				if _, err := tx.Exec(`DELETE FROM kv WHERE k = ?`, k); err != nil {
					t.Fatal(err)
				}
				changes[k] = nil
				continue
			}
			v := val()
			if _, err := tx.Exec(`INSERT INTO kv VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v); err != nil {
				t.Fatal(err)
			}
			changes[k] = v
		}
		if rng.IntN(6) == 0 {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			for k, v := range changes {
				if v == nil {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
		}
		switch step % 15 {
		case 7:
			if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
				t.Fatal(err)
			}
		case 14:
			db.Close()
			db = openWALBuf(t, path, 20)
		}
		sameKV(t, readAll(t, path), want)
	}
}

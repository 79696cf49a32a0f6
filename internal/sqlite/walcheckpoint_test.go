package sqlite

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// openWithSmallWAL opens a store whose checkpointer starts the WAL afresh
// past 1,500 frames, with the account acme; it returns the store's path.
func openWithSmallWAL(t *testing.T) (*DB, string, *stele.Account) {
	t.Helper()
	n := walRestartFrames
	t.Cleanup(func() { walRestartFrames = n })
	walRestartFrames = 1500
	path := filepath.Join(t.TempDir(), "stele.db")
	db := openTest(t, path)
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return db, path, a
}

// TestCheckpointerCopiesAndRestartsTheWAL: with automatic checkpoints off in
// the writer, the checkpointer still copies committed pages into the main
// file, and when sustained writes keep the WAL from ever being wholly copied
// it has the WAL start again once it passes its limit; nothing is lost.
func TestCheckpointerCopiesAndRestartsTheWAL(t *testing.T) {
	ctx := context.Background()
	db, path, a := openWithSmallWAL(t)
	var autocheckpoint int
	if err := db.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autocheckpoint); err != nil || autocheckpoint != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want 0", autocheckpoint, err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rows := 0
	for deadline := time.Now().Add(30 * time.Second); db.ckpt.restarts.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the WAL was never wholly copied while writes went on")
		}
		fill(t, ctx, db, rng, a.ID, 50, 50, 450)
		rows += 50
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() <= before.Size() {
		t.Fatalf("main file %d bytes after checkpoints, %d before: nothing was copied", after.Size(), before.Size())
	}
	// The next write starts the WAL again from its beginning.
	fill(t, ctx, db, rng, a.ID, 50, 50, 450)
	rows += 50
	_, frames, err := db.ckpt.checkpoint(db.ckpt.db)
	// The WAL holds that write and perhaps the one the loop made as the
	// checkpoint finished: a write of 50 rows dirties at most 50 pages in
	// each of the table and its 7 indexes.
	if err != nil || frames > 2*8*50 {
		t.Fatalf("after the WAL was wholly copied and a write, the WAL holds %d frames (%v)", frames, err)
	}
	if n, err := db.CountRows(ctx, a.ID); err != nil || n != int64(rows) {
		t.Fatalf("CountRows = %d, %v; want %d", n, err, rows)
	}
}

// TestWALStartsAfreshUnderCommitsBackToBack: two writers keep the writer
// connection busy, one transaction handed straight to the next, as ingest
// under load does. The WAL must still be wholly copied and started afresh
// again and again, so that it stays near walRestartFrames. (A RESTART
// checkpoint waiting for SQLite's write lock almost never got it here, and
// the WAL grew without end: to 3 GB in 30 s of loadgen, and here to 240
// times the limit in 6 s.)
func TestWALStartsAfreshUnderCommitsBackToBack(t *testing.T) {
	ctx := context.Background()
	db, path, a := openWithSmallWAL(t)
	var (
		stop    = make(chan struct{})
		writers sync.WaitGroup
		failed  atomic.Value
	)
	for w := range uint64(2) {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(w, 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := appendRows(ctx, db, rng, a.ID, 50, 50, 450); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	const frame = 24 + 4096
	var largest int64
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && failed.Load() == nil; {
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	writers.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d fresh starts; the WAL reached %d frames", db.ckpt.restarts.Load(), largest/frame)
	if n := db.ckpt.restarts.Load(); n < 3 {
		t.Fatalf("the WAL was wholly copied %d times in 3 s of writes; it reached %d frames", n, largest/frame)
	}
	// What is written in the checkpointer's tick (100 ms) after the WAL
	// passes the limit comes on top: 10 times the limit here.
	if largest > 40*int64(walRestartFrames)*frame {
		t.Fatalf("the WAL reached %d frames, limit %d", largest/frame, walRestartFrames)
	}
}

// The WAL the checkpointer restarts must stay whole, so that commits
// overwrite it rather than regrow it (walSizeLimit).
func TestWALSizeLimitIsAboveTheRestartSize(t *testing.T) {
	const frame = 24 + 4096
	if max := 32 + walRestartFrames*frame; max > walSizeLimit {
		t.Fatalf("a WAL of %d frames is %d bytes, over journal_size_limit %d", walRestartFrames, max, walSizeLimit)
	}
}

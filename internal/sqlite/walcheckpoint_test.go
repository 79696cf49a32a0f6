package sqlite

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stele-audit/stele"
)

// TestCheckpointerCopiesAndRestartsTheWAL: with automatic checkpoints off in
// the writer, the checkpointer still copies committed pages into the main
// file, and when sustained writes keep the WAL from ever being wholly copied
// it has the WAL start again once it passes its limit; nothing is lost.
func TestCheckpointerCopiesAndRestartsTheWAL(t *testing.T) {
	defer func(n int) { walRestartFrames = n }(walRestartFrames)
	walRestartFrames = 1500
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stele.db")
	db := openTest(t, path)
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
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
			t.Fatal("no RESTART checkpoint while writes went on")
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
	busy, frames, err := db.ckpt.checkpoint("PASSIVE")
	// The WAL holds that write and perhaps the one the loop made as the
	// checkpoint finished: a write of 50 rows dirties at most 50 pages in
	// each of the table and its 7 indexes.
	if err != nil || busy || frames > 2*8*50 {
		t.Fatalf("after a RESTART checkpoint and a write the WAL holds %d frames (busy %v, %v)", frames, busy, err)
	}
	if n, err := db.CountRows(ctx, a.ID); err != nil || n != int64(rows) {
		t.Fatalf("CountRows = %d, %v; want %d", n, err, rows)
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

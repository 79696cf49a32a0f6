//go:build linux

package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/lazyfs"
)

// TestCommitsSurvivePowerLoss cuts the power under the store's writer
// (on walbuf.c where it is built) before its kth change to the file or
// the WAL, for the first few k, where the WAL is created and its directory
// synced, and for k drawn further on, then reopens the store: every commit
// that returned is there, and the file is whole.
func TestCommitsSurvivePowerLoss(t *testing.T) {
	fsys := lazyfs.MountTest(t)
	rng := rand.New(rand.NewPCG(5, 6))
	// Opening the store (its migrations) takes the first few dozen
	// changes, the account and the first commits the next ones.
	cuts := []int{1, 2, 3, 4, 5, 6, 8, 12}
	for range 10 {
		cuts = append(cuts, 13+rng.IntN(60))
	}
	for range 6 {
		cuts = append(cuts, 73+rng.IntN(400))
	}
	for round, k := range cuts {
		dir := filepath.Join(fsys.Dir(), fmt.Sprint(round))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		syncPath(t, fsys.Dir())
		path := filepath.Join(dir, "stele.db")
		name := "/" + fmt.Sprint(round) + "/stele.db"
		ops := 0
		cut := fsys.CutWhen(func(op lazyfs.Op) bool {
			if op.Path == name || op.Path == name+"-wal" || op.Kind == lazyfs.OpSyncDir {
				ops++
			}
			return ops == k
		})
		committed, attempted := writeUntilCut(t, path, rng, cut)
		if err := fsys.Restore(); err != nil {
			t.Fatal(err)
		}

		n := reopenAndCount(t, path, k, committed)
		if n < committed || n > attempted {
			t.Fatalf("cut before change %d: %d rows after the cut; %d were committed, %d attempted", k, n, committed, attempted)
		}
		t.Logf("cut before change %d: %d rows committed, %d stored", k, committed, n)
	}
}

// reopenAndCount opens the store after the cut, checks the file is whole,
// and returns the account's rows.
func reopenAndCount(t *testing.T, path string, k int, committed int64) int64 {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("cut before change %d: reopen: %v", k, err)
	}
	defer db.Close()
	var check string
	if err := db.reader.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("cut before change %d: integrity_check %.200q, %v", k, check, err)
	}
	a, err := db.AccountByName(t.Context(), "acme")
	if err != nil {
		if committed > 0 {
			t.Fatalf("cut before change %d: the account is gone with %d rows committed: %v", k, committed, err)
		}
		return 0
	}
	n, err := db.CountRows(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeUntilCut opens the store, appends batches until the cut makes one
// fail, and closes the store. It returns the rows whose commits returned,
// and those plus the batch that failed.
func writeUntilCut(t *testing.T, path string, rng *rand.Rand, cut <-chan struct{}) (committed, attempted int64) {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		requireCut(t, cut, err) // the cut came while it was made
		return 0, 0
	}
	defer db.Close() // errors: the power is off
	a := &stele.Account{Name: "acme", Type: "team"}
	if err := db.CreateAccount(ctx, a); err != nil {
		requireCut(t, cut, err)
		return 0, 0
	}
	for {
		n := 1 + rng.IntN(200)
		attempted = committed + int64(n)
		if err := appendRows(ctx, db, rng, a.ID, n, n, 300); err != nil {
			requireCut(t, cut, err)
			return committed, attempted
		}
		committed = attempted
	}
}

// requireCut fails the test unless err came from the cut.
func requireCut(t *testing.T, cut <-chan struct{}, err error) {
	t.Helper()
	select {
	case <-cut:
	default:
		t.Fatalf("failed without a cut: %v", err)
	}
}

func syncPath(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

//go:build linux

package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/lazyfs"
)

// The store's side of TestCommitsSurvivePowerLoss runs in a child process
// of the test binary. The file system is served by this process, in Go: a
// thread of the same process that unmaps SQLite's shared-memory file holds
// the address space's lock while the kernel waits for this server to write
// the file's dirty pages back, and the Go runtime, needing that lock to
// map or release memory, may never run the server again (seen once in a
// few CI runs: the test hung in munmap). A child has its own address space.
func TestMain(m *testing.M) {
	if mode := os.Getenv("STELE_POWERLOSS_CHILD"); mode != "" {
		out, err := powerLossChild(mode, os.Getenv("STELE_POWERLOSS_PATH"), os.Getenv("STELE_POWERLOSS_SEED"))
		fmt.Print(out)
		if err != nil {
			fmt.Print("error: ", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

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
		var committed, attempted int64
		out, err := runPowerLossChild(t, "write", path, round)
		if _, serr := fmt.Sscanf(out, "committed %d attempted %d", &committed, &attempted); serr != nil {
			t.Fatalf("cut before change %d: the writer said %q (%v)", k, out, err)
		}
		if err != nil {
			select {
			case <-cut: // the writer failed because the power went
			default:
				t.Fatalf("cut before change %d: failed without a cut: %s", k, out)
			}
		}
		if err := fsys.Restore(); err != nil {
			t.Fatal(err)
		}

		var n int64
		out, err = runPowerLossChild(t, "count", path, round)
		if _, serr := fmt.Sscanf(out, "rows %d", &n); err != nil || serr != nil {
			t.Fatalf("cut before change %d: reopen: %s (%v)", k, out, err)
		}
		if n < committed || n > attempted {
			t.Fatalf("cut before change %d: %d rows after the cut; %d were committed, %d attempted", k, n, committed, attempted)
		}
		if n == 0 && committed > 0 {
			t.Fatalf("cut before change %d: the account is gone with %d rows committed", k, committed)
		}
		t.Logf("cut before change %d: %d rows committed, %d stored", k, committed, n)
	}
}

// runPowerLossChild runs this test binary as the store's side of the
// test (TestMain) and returns what it printed; err when it failed.
func runPowerLossChild(t *testing.T, mode, path string, seed int) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STELE_POWERLOSS_CHILD="+mode, "STELE_POWERLOSS_PATH="+path, fmt.Sprint("STELE_POWERLOSS_SEED=", seed))
	out, err := cmd.Output()
	return string(out), err
}

// powerLossChild is the store's side: "write" opens the store, appends
// batches until one fails and prints the rows whose commits returned and
// those plus the failed batch; "count" reopens the store after the cut,
// checks the file is whole and prints the account's rows.
func powerLossChild(mode, path, seed string) (string, error) {
	ctx := context.Background()
	var s uint64
	fmt.Sscan(seed, &s)
	rng := rand.New(rand.NewPCG(s, 7))
	switch mode {
	case "write":
		var committed, attempted int64
		report := func() string { return fmt.Sprintf("committed %d attempted %d\n", committed, attempted) }
		db, err := Open(ctx, path)
		if err != nil {
			return report(), err // the cut came while it was made
		}
		defer db.Close() // errors: the power is off
		a := &stele.Account{Name: "acme", Type: "team"}
		if err := db.CreateAccount(ctx, a); err != nil {
			return report(), err
		}
		for {
			n := 1 + rng.IntN(200)
			attempted = committed + int64(n)
			if err := appendRows(ctx, db, rng, a.ID, n, n, 300); err != nil {
				return report(), err
			}
			committed = attempted
		}
	case "count":
		db, err := Open(ctx, path)
		if err != nil {
			return "", err
		}
		defer db.Close()
		var check string
		if err := db.reader.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			return "", fmt.Errorf("integrity_check %.200q, %v", check, err)
		}
		a, err := db.AccountByName(ctx, "acme")
		if err != nil {
			return "rows 0\n", nil
		}
		n, err := db.CountRows(ctx, a.ID)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("rows %d\n", n), nil
	}
	return "", fmt.Errorf("no such mode %q", mode)
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

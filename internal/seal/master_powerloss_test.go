//go:build linux

package seal

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stele-audit/stele/internal/lazyfs"
)

// A key file must outlive a power cut the moment it is written: the data
// sealed under it is durable from its first commit, and the store may live
// elsewhere (--db sqlite:PATH), so nothing else syncs the key's directory.
func TestMasterKeyFileSurvivesPowerLoss(t *testing.T) {
	fsys := lazyfs.MountTest(t)
	noEnv := func(string) string { return "" }
	logger := slog.New(slog.DiscardHandler)
	load := func() *MasterKey {
		t.Helper()
		if err := fsys.Drop(); err != nil {
			t.Fatal(err)
		}
		m, err := LoadMasterKey(fsys.Dir(), noEnv, logger)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	generated, err := LoadMasterKey(fsys.Dir(), noEnv, logger)
	if err != nil {
		t.Fatal(err)
	}
	if got := load(); got.Version != 1 || got.key != generated.key {
		t.Fatalf("after a power cut the generated master key is version %d, key equal %v: a new one replaced it", got.Version, got.key == generated.key)
	}

	rotated, err := AddMasterKeyVersion(filepath.Join(fsys.Dir(), MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := load(); got.Version != 2 || got.key != rotated.key {
		t.Fatalf("after a power cut the master key file holds version %d, not the version 2 it was rotated to", got.Version)
	}
}
